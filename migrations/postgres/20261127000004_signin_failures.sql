-- Failed sign-ins per throttling key (a hash of the account and e-mail, or of the client IP),
-- kept for an hour, so every instance on one database applies the same limits and a restart
-- does not reset them.
CREATE TABLE signin_failures (
    key TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX signin_failures_by_key ON signin_failures (key, at);
CREATE INDEX signin_failures_by_time ON signin_failures (at);
