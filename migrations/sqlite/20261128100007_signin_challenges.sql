-- Server-side state of sign-ins in progress ("choose an account", a second step), under the
-- hash of the id the client holds; short-lived, pruned once expired.
CREATE TABLE signin_challenges (
    id_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    purpose TEXT NOT NULL,
    -- The people this sign-in may end as: a JSON array of member ids.
    member_ids TEXT NOT NULL,
    ip TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX signin_challenges_by_expiry ON signin_challenges (expires_at);
