-- Each session's latest address and device beside the first ones (NULL: unchanged since
-- sign-in), when each last changed, and whether the office-network policy marks it as outside.
ALTER TABLE sessions ADD COLUMN last_ip TEXT;
ALTER TABLE sessions ADD COLUMN last_user_agent TEXT;
ALTER TABLE sessions ADD COLUMN ip_changed_at BIGINT;
ALTER TABLE sessions ADD COLUMN device_changed_at BIGINT;
ALTER TABLE sessions ADD COLUMN outside_office BOOLEAN NOT NULL DEFAULT FALSE;
