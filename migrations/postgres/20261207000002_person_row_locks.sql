-- The person's row is locked FOR NO KEY UPDATE, not FOR UPDATE, wherever Deskward locks it to
-- order work on one person (the recounts here, the webhook outbox in store/sql/webhooks.rs).
-- Inserting a session (or an outbox row) share-locks the person's row through its foreign
-- key (FOR KEY SHARE), and FOR UPDATE waits for every such share lock: two sign-ins of one
-- person at once each held one and each asked FOR UPDATE, a deadlock PostgreSQL broke after
-- a second by failing one of them (issue 25.16). FOR NO KEY UPDATE does not conflict with
-- foreign-key share locks and still makes these transactions take their turns, one after
-- the other, which is all the ordering needs. Nothing here changes a key of `members`.

CREATE OR REPLACE FUNCTION members_live_seen_recount() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Locked first, counted after: see members_live_seen_changed.
    PERFORM 1 FROM members WHERE id = OLD.member_id FOR NO KEY UPDATE;
    UPDATE members SET live_seen_at = (
        SELECT MAX(last_seen_at) FROM sessions
        WHERE member_id = OLD.member_id AND ended_at IS NULL
    ) WHERE id = OLD.member_id;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION members_live_seen_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM members
    WHERE id IN (SELECT member_id FROM updated_sessions)
    ORDER BY id FOR NO KEY UPDATE;
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
