-- Audit entries that count repeats (failed sign-ins for unknown e-mails, per address and
-- hour) instead of adding one row each; every other entry counts 1.
ALTER TABLE audit_log ADD COLUMN count BIGINT NOT NULL DEFAULT 1;
