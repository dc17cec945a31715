-- The Team filters `session=active` and `session=none` ask, per person, "is any session still
-- live?". Answered by probing the sessions of each person, a count over 10,000 agents made
-- 10,000 index probes (about 30 ms on PostgreSQL, issue 18). The answer is kept on the person
-- instead: the latest activity of their live sessions (NULL with none), which the list's own
-- index carries, so the filter is a comparison and the count one index-only scan.
-- Triggers keep it, so no way of starting, touching or ending a session can forget it.
ALTER TABLE members ADD COLUMN live_seen_at BIGINT;

UPDATE members m SET live_seen_at = s.seen
FROM (SELECT member_id, MAX(last_seen_at) AS seen FROM sessions
      WHERE ended_at IS NULL GROUP BY member_id) s
WHERE s.member_id = m.id;

-- A session started: the person's latest activity can only move forward.
CREATE FUNCTION members_live_seen_raise() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE members SET live_seen_at = NEW.last_seen_at
    WHERE id = NEW.member_id AND (live_seen_at IS NULL OR live_seen_at < NEW.last_seen_at);
    RETURN NULL;
END $$;

-- A session removed: what is left decides (NULL when nothing is).
CREATE FUNCTION members_live_seen_recount() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Locked first, counted after: see members_live_seen_changed.
    PERFORM 1 FROM members WHERE id = OLD.member_id FOR UPDATE;
    UPDATE members SET live_seen_at = (
        SELECT MAX(last_seen_at) FROM sessions
        WHERE member_id = OLD.member_id AND ended_at IS NULL
    ) WHERE id = OLD.member_id;
    RETURN NULL;
END $$;

-- Sessions ended or active again, once per statement: a bulk ending of 1,000 agents is one
-- UPDATE of their rows, where a trigger per session cost about 150 ms more (the bulk target
-- is 250 ms in all). Every person with an updated session is recounted from what is left
-- live: the transition table has no index, so comparing old and new rows would be a join
-- of thousands by thousands (seconds for a bulk ending); a recount is right whatever the
-- statement changed.
-- The person rows are locked first (in id order, as the webhook outbox locks them) and the
-- recount is a later statement, so it reads with a snapshot taken after any other transaction
-- ending or starting this person's sessions has committed: two sessions of one person ending
-- at once in two transactions would otherwise each count the other's as still live.
CREATE FUNCTION members_live_seen_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM members
    WHERE id IN (SELECT member_id FROM updated_sessions)
    ORDER BY id FOR UPDATE;
    UPDATE members m SET live_seen_at = l.seen
    FROM (
        SELECT c.member_id, (
            SELECT MAX(s.last_seen_at) FROM sessions s
            WHERE s.member_id = c.member_id AND s.ended_at IS NULL
        ) AS seen
        FROM (SELECT DISTINCT member_id FROM updated_sessions) c
    ) l
    WHERE m.id = l.member_id AND m.live_seen_at IS DISTINCT FROM l.seen;
    RETURN NULL;
END $$;

CREATE TRIGGER sessions_live_seen_start AFTER INSERT ON sessions
    FOR EACH ROW WHEN (NEW.ended_at IS NULL) EXECUTE FUNCTION members_live_seen_raise();
-- A statement trigger with transition tables cannot name columns (UPDATE OF): it runs for
-- every UPDATE of sessions; a person whose latest activity stays the same is not written.
CREATE TRIGGER sessions_live_seen_update AFTER UPDATE ON sessions
    REFERENCING NEW TABLE AS updated_sessions
    FOR EACH STATEMENT EXECUTE FUNCTION members_live_seen_changed();
CREATE TRIGGER sessions_live_seen_delete AFTER DELETE ON sessions
    FOR EACH ROW WHEN (OLD.ended_at IS NULL) EXECUTE FUNCTION members_live_seen_recount();

DROP INDEX members_by_name;
CREATE INDEX members_by_name ON members (account_id, kind, name_norm COLLATE "C", id)
    INCLUDE (email_norm, status, live_seen_at);
