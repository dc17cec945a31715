-- Two-factor sign-in: how each session was opened, the enrollment-only state of a session
-- whose person must set up a second factor first, authenticator apps, recovery codes and the
-- account's policy.
ALTER TABLE sessions ADD COLUMN auth_methods TEXT NOT NULL DEFAULT 'password';
ALTER TABLE sessions ADD COLUMN mfa_enrollment BOOLEAN NOT NULL DEFAULT FALSE;

-- One authenticator app per person; the secret is encrypted under a server secret. Pending
-- until confirmed with a code. last_step is the newest time step a code was accepted for, so a
-- code cannot be used twice.
CREATE TABLE mfa_totp (
    member_id TEXT PRIMARY KEY REFERENCES members(id),
    account_id TEXT NOT NULL REFERENCES accounts(id),
    secret TEXT NOT NULL,
    confirmed_at INTEGER,
    last_step INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

-- Single-use recovery codes, stored as SHA-256 hashes (they are random, 80 bits each).
CREATE TABLE mfa_recovery_codes (
    member_id TEXT NOT NULL REFERENCES members(id),
    code_hash TEXT NOT NULL,
    used_at INTEGER,
    PRIMARY KEY (member_id, code_hash)
);

-- Whether agents and administrators must have a second factor; no row means neither.
CREATE TABLE mfa_policy (
    account_id TEXT PRIMARY KEY REFERENCES accounts(id),
    agents BOOLEAN NOT NULL DEFAULT FALSE,
    admins BOOLEAN NOT NULL DEFAULT FALSE
);
