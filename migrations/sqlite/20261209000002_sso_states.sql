-- Sign-ins sent to the identity provider and not back yet. Only the SHA-256 of `state` and of
-- the browser's binding cookie are kept; the callback deletes its row in one conditional
-- DELETE (right state, same browser, not expired), so of two callbacks at once one wins. The
-- sweep deletes the expired ones.
CREATE TABLE sso_states (
    state_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    binding_hash TEXT NOT NULL,
    nonce TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    rd TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sso_states_by_expiry ON sso_states (expires_at);
