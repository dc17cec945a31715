-- E-mail: the outbox of messages and password-reset links. A message row is written in the
-- same transaction as the change that causes it (a reset requested), so a crash between the
-- change and the send loses nothing; the mail worker claims due rows with a lease.
CREATE TABLE mail_outbox (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    -- What the message is (password_reset, ...); the rate limit per address counts by it.
    kind TEXT NOT NULL,
    -- The normalised address (trimmed, lower-cased), and the name and address as written.
    recipient_norm TEXT NOT NULL,
    recipient TEXT NOT NULL,
    recipient_name TEXT NOT NULL,
    subject TEXT NOT NULL,
    -- Emptied once the message is sent or failed: it may hold a single-use link.
    text_body TEXT NOT NULL,
    html_body TEXT NOT NULL,
    -- pending, sent or failed.
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX mail_outbox_pending ON mail_outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX mail_outbox_by_recipient ON mail_outbox (account_id, kind, recipient_norm, created_at);
CREATE INDEX mail_outbox_by_time ON mail_outbox (created_at);

-- Password-reset links: only the SHA-256 of the token is kept. Single use: confirming sets
-- used_at with a conditional UPDATE, so of two confirmations at once one wins.
CREATE TABLE password_resets (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    member_id TEXT NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX password_resets_by_member ON password_resets (member_id);
CREATE INDEX password_resets_by_expiry ON password_resets (expires_at);
