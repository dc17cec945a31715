-- EXPLAIN (ANALYZE, BUFFERS) of the statements docs/postgres-at-scale.md shows, on the
-- many-accounts data set (bench/seed-many.sql): the Team list (count and first page, plain
-- and with the session filters), the authentication record read, and the sweep's statements
-- (administrators, then agents of every account, one statement each). Each is the statement
-- the store sends, with the parameters written in.
--   psql "$URL" -f bench/explain.sql
\set ON_ERROR_STOP on
SELECT id AS bench FROM accounts WHERE slug = 'bench' \gset
SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now \gset
SELECT token_hash AS token FROM sessions WHERE account_id = :'bench' AND ended_at IS NULL
ORDER BY id DESC LIMIT 1 \gset
\echo '== Team list: count, agents, no filter'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT COUNT(*) FROM members m WHERE m.account_id = :'bench' AND m.kind = 'agent';
\echo '== Team list: first page, agents, no filter'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT m.id, m.account_id, m.kind, m.name, m.email, m.is_primary, m.permissions, m.status,
       m.status_choice, m.disabled, m.created_at, l.id AS linked_id, l.name AS linked_name
FROM members m LEFT JOIN members l ON l.account_id = m.account_id
     AND l.kind = (CASE m.kind WHEN 'agent' THEN 'admin' ELSE 'agent' END)
     AND l.email_norm = m.email_norm
WHERE m.account_id = :'bench' AND m.kind = 'agent'
ORDER BY m.name_norm COLLATE "C", m.id LIMIT 50 OFFSET 0;
\echo '== Team list: count, agents with an active session'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT COUNT(*) FROM members m WHERE m.account_id = :'bench' AND m.kind = 'agent'
  AND m.live_seen_at >= :now - 259200000;
\echo '== Team list: first page, agents with no active session'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT m.id, m.name, l.id AS linked_id
FROM members m LEFT JOIN members l ON l.account_id = m.account_id
     AND l.kind = (CASE m.kind WHEN 'agent' THEN 'admin' ELSE 'agent' END)
     AND l.email_norm = m.email_norm
WHERE m.account_id = :'bench' AND m.kind = 'agent'
  AND (m.live_seen_at IS NULL OR m.live_seen_at < :now - 259200000)
ORDER BY m.name_norm COLLATE "C", m.id LIMIT 50 OFFSET 0;
\echo '== Team list: count, agents with a session outside the office networks'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT COUNT(*) FROM members m WHERE m.account_id = :'bench' AND m.kind = 'agent'
  AND EXISTS (SELECT 1 FROM sessions s WHERE s.member_id = m.id AND s.ended_at IS NULL
              AND s.outside_office = TRUE AND s.last_seen_at >= :now - 259200000 LIMIT 1);
\echo '== Team list: first page, search "rossi"'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT m.id, m.name, l.id AS linked_id
FROM members m LEFT JOIN members l ON l.account_id = m.account_id
     AND l.kind = (CASE m.kind WHEN 'agent' THEN 'admin' ELSE 'agent' END)
     AND l.email_norm = m.email_norm
WHERE m.account_id = :'bench' AND m.kind = 'agent'
  AND (m.name_norm LIKE '%rossi%' ESCAPE '\' OR m.email_norm LIKE '%rossi%' ESCAPE '\')
ORDER BY m.name_norm COLLATE "C", m.id LIMIT 50 OFFSET 0;
\echo '== Authentication record read (a request whose session is not in memory)'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT s.id, s.member_id, s.last_seen_at, s.csrf_token, m.name AS member_name,
       m.email AS member_email, m.is_primary, m.permissions, m.disabled,
       a.agent_idle_timeout_minutes, a.max_session_lifetime_minutes
FROM sessions s JOIN members m ON m.id = s.member_id JOIN accounts a ON a.id = s.account_id
WHERE s.token_hash = :'token' AND s.ended_at IS NULL;
\echo '== Sweep: administrators idle 72 hours, all accounts (rolled back)'
BEGIN;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
UPDATE sessions SET ended_at = :now, end_reason = 'expired'
WHERE ended_at IS NULL AND last_seen_at < :now - 259200000 AND member_kind = 'admin'
RETURNING id;
\echo '== Sweep: agents idle past their own account''s timeout, every account in one statement'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
UPDATE sessions SET ended_at = :now, end_reason = 'expired'
WHERE ended_at IS NULL AND last_seen_at < :now - 259200000 AND member_kind = 'agent'
  AND last_seen_at < :now - (SELECT a.agent_idle_timeout_minutes FROM accounts a
                             WHERE a.id = sessions.account_id) * 60000
RETURNING id;
ROLLBACK;
