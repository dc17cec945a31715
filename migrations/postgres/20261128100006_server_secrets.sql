-- Secrets every instance on this database shares (made on first use), by name.
CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    secret BYTEA NOT NULL
);
