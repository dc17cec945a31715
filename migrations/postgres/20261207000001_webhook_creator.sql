-- Who created each webhook endpoint: an endpoint carries only events about people its creator
-- may see (issue 25.4). Endpoints made before this are attributed from the audit log's
-- `webhook.created` entry ("webhook {id} to …"); where that entry is gone the creator stays
-- NULL and the endpoint keeps every event, as before.
ALTER TABLE webhook_endpoints ADD COLUMN created_by TEXT;
UPDATE webhook_endpoints SET created_by = (
    SELECT a.actor FROM audit_log a
    WHERE a.account_id = webhook_endpoints.account_id
      AND a.kind = 'webhook.created'
      AND a.detail LIKE 'webhook ' || webhook_endpoints.id || ' %'
    ORDER BY a.at LIMIT 1
);
