-- The `jti` of each back-channel logout token accepted, kept until the token would be refused
-- as too old anyway: a replayed token finds its row and is refused, on any instance.
CREATE TABLE sso_logout_jtis (
    account_id TEXT NOT NULL REFERENCES accounts(id),
    jti TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, jti)
);
CREATE INDEX sso_logout_jtis_by_expiry ON sso_logout_jtis (expires_at);
