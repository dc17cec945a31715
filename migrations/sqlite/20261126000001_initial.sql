-- Accounts, people, sessions and the audit log. Times are Unix milliseconds.
CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    agent_idle_timeout_minutes INTEGER NOT NULL DEFAULT 4320,
    max_session_lifetime_minutes INTEGER,
    created_at INTEGER NOT NULL
);

CREATE TABLE members (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    kind TEXT NOT NULL CHECK (kind IN ('agent', 'admin')),
    name TEXT NOT NULL,
    name_norm TEXT NOT NULL,
    email TEXT NOT NULL,
    email_norm TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    is_primary BOOLEAN NOT NULL DEFAULT FALSE,
    permissions TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'offline' CHECK (status IN ('online', 'offline')),
    status_choice TEXT NOT NULL DEFAULT 'online' CHECK (status_choice IN ('online', 'offline')),
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX members_email ON members (account_id, kind, email_norm);
CREATE UNIQUE INDEX members_one_primary ON members (account_id) WHERE is_primary = TRUE;
CREATE INDEX members_by_name ON members (account_id, kind, name_norm, id);
CREATE INDEX members_by_email_norm ON members (account_id, email_norm);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    member_id TEXT NOT NULL REFERENCES members(id),
    member_kind TEXT NOT NULL CHECK (member_kind IN ('agent', 'admin')),
    token_hash TEXT NOT NULL UNIQUE,
    csrf_token TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    ip TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    device TEXT NOT NULL,
    ended_at INTEGER,
    end_reason TEXT,
    ended_by TEXT
);
CREATE INDEX sessions_live_by_member ON sessions (member_id, last_seen_at) WHERE ended_at IS NULL;
CREATE INDEX sessions_live_by_seen ON sessions (last_seen_at) WHERE ended_at IS NULL;
CREATE INDEX sessions_by_member ON sessions (member_id, started_at);

CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT,
    target TEXT,
    ip TEXT,
    detail TEXT NOT NULL
);
CREATE INDEX audit_by_time ON audit_log (account_id, at);
