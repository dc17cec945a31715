-- Sign-in attempts are counted before the password is checked: each reservation inserts one
-- row per throttling key under an attempt id, and a right password removes that attempt's rows.
-- Failures recorded the older way have no attempt id.
ALTER TABLE signin_failures ADD COLUMN attempt_id TEXT;
CREATE INDEX signin_failures_by_attempt ON signin_failures (attempt_id) WHERE attempt_id IS NOT NULL;
