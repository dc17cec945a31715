-- The Team filters `session=active` and `session=none` ask, per person, "is any session still
-- live?". The answer is kept on the person (as on PostgreSQL, where probing each person's
-- sessions cost 10,000 index probes per count): the latest activity of their live sessions,
-- NULL with none, in the list's own index. Triggers keep it, so no way of starting, touching
-- or ending a session can forget it.
ALTER TABLE members ADD COLUMN live_seen_at INTEGER;

UPDATE members SET live_seen_at = (
    SELECT MAX(s.last_seen_at) FROM sessions s WHERE s.member_id = members.id AND s.ended_at IS NULL
);

CREATE TRIGGER sessions_live_seen_start AFTER INSERT ON sessions WHEN NEW.ended_at IS NULL
BEGIN
    UPDATE members SET live_seen_at = NEW.last_seen_at
    WHERE id = NEW.member_id AND (live_seen_at IS NULL OR live_seen_at < NEW.last_seen_at);
END;

CREATE TRIGGER sessions_live_seen_touch AFTER UPDATE OF last_seen_at ON sessions
    WHEN NEW.ended_at IS NULL AND NEW.last_seen_at > OLD.last_seen_at
BEGIN
    UPDATE members SET live_seen_at = NEW.last_seen_at
    WHERE id = NEW.member_id AND (live_seen_at IS NULL OR live_seen_at < NEW.last_seen_at);
END;

CREATE TRIGGER sessions_live_seen_end AFTER UPDATE OF ended_at ON sessions
    WHEN OLD.ended_at IS NULL AND NEW.ended_at IS NOT NULL
BEGIN
    UPDATE members SET live_seen_at = (
        SELECT MAX(last_seen_at) FROM sessions WHERE member_id = NEW.member_id AND ended_at IS NULL
    ) WHERE id = NEW.member_id;
END;

CREATE TRIGGER sessions_live_seen_delete AFTER DELETE ON sessions WHEN OLD.ended_at IS NULL
BEGIN
    UPDATE members SET live_seen_at = (
        SELECT MAX(last_seen_at) FROM sessions WHERE member_id = OLD.member_id AND ended_at IS NULL
    ) WHERE id = OLD.member_id;
END;

DROP INDEX members_by_name;
CREATE INDEX members_by_name ON members (account_id, kind, name_norm, id, email_norm, status, live_seen_at);
