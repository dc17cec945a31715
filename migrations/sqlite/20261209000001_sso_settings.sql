-- Single sign-on with the company's identity provider (OpenID Connect), per account: the
-- provider, the client registered there (its secret sealed under a server secret, as
-- authenticator secrets are; never shown again), each role's policy ('off', 'allowed',
-- 'required'), and who is created on a first sign-in. allowed_domains is one domain a line.
CREATE TABLE sso_settings (
    account_id TEXT PRIMARY KEY REFERENCES accounts(id),
    issuer TEXT NOT NULL,
    client_id TEXT NOT NULL,
    client_secret TEXT NOT NULL,
    button_label TEXT NOT NULL,
    agents TEXT NOT NULL DEFAULT 'off',
    admins TEXT NOT NULL DEFAULT 'off',
    allowed_domains TEXT NOT NULL DEFAULT '',
    create_agents BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at BIGINT NOT NULL
);
