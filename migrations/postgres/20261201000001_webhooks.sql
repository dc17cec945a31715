-- Webhook endpoints and the delivery outbox. A delivery row is written in the same
-- transaction as the change it reports, so a crash between the change and the send loses
-- nothing; `seq` orders a person's events for one endpoint.
CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    url TEXT NOT NULL,
    -- JSON array of event types, or ["*"].
    events TEXT NOT NULL,
    secret TEXT NOT NULL,
    -- NULL while enabled; why it was turned off otherwise (e.g. "gone": the receiver said 410).
    disabled_reason TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_by_account ON webhook_endpoints (account_id, created_at);

CREATE TABLE webhook_deliveries (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    member_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until BIGINT NOT NULL DEFAULT 0,
    last_status_code BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_person ON webhook_deliveries (endpoint_id, member_id, seq) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, seq);
CREATE INDEX webhook_deliveries_by_time ON webhook_deliveries (created_at);
-- Retention deletes ended sessions by age.
CREATE INDEX sessions_ended_by_time ON sessions (ended_at) WHERE ended_at IS NOT NULL;
