-- Sign-in alerts: who is told about a sign-in from a browser without their device pass (no
-- row: administrators only), and the "This wasn't me" links those messages carry. Only the
-- SHA-256 of a link's token is kept; using one is a conditional UPDATE of used_at, so of two
-- uses at once one wins. A link goes with its session when retention deletes it.
CREATE TABLE signin_alert_policy (
    account_id TEXT PRIMARY KEY REFERENCES accounts(id),
    agents BOOLEAN NOT NULL DEFAULT FALSE,
    admins BOOLEAN NOT NULL DEFAULT TRUE
);

CREATE TABLE signin_alerts (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    member_id TEXT NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX signin_alerts_by_session ON signin_alerts (session_id);
CREATE INDEX signin_alerts_by_member ON signin_alerts (member_id);
