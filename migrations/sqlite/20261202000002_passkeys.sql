-- Passkeys (WebAuthn) as a second factor: several per person, each named. credential is the
-- webauthn-rs Passkey as JSON (public key, credential id, signature counter).
CREATE TABLE mfa_passkeys (
    id TEXT PRIMARY KEY,
    member_id TEXT NOT NULL REFERENCES members(id),
    account_id TEXT NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    credential TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER
);
CREATE INDEX mfa_passkeys_by_member ON mfa_passkeys (member_id);
