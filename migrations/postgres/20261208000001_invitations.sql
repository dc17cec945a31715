-- Invitations: a person added without a password is `invited` until they set one with the
-- link e-mailed to them; until then no password opens their account.
ALTER TABLE members ADD COLUMN invited BOOLEAN NOT NULL DEFAULT FALSE;

-- Invitation links: only the SHA-256 of the token is kept. Single use: accepting sets used_at
-- with a conditional UPDATE, so of two acceptances at once one wins; a new invitation spends
-- the person's earlier links.
CREATE TABLE invitations (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    member_id TEXT NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX invitations_by_member ON invitations (member_id);
CREATE INDEX invitations_by_expiry ON invitations (expires_at);
