-- The many-accounts data set of issue 18, seeded inside PostgreSQL (INSERT … SELECT
-- generate_series: no row crosses the network). Run by bench/run.sh --database postgres:
--
--   deskward account create --slug bench … --admin-email admin@bench.example   (schema + hash)
--   psql -v ON_ERROR_STOP=1 -f bench/seed-many.sql
--
-- It needs the freshly migrated database with that one account "bench": its primary
-- administrator's argon2 hash (of the bench password) is reused for every person, so the
-- bench can sign any of them in. Then:
--   1,000 accounts: "bench" (created first, so a server without --base-domain serves it) with
--     10,000 agents agent00000@bench.example … (every third Online) and its administrator,
--     and 999 others of 10 to 171 people each (a primary administrator, every tenth person a
--     sub-administrator, the rest agents): 100,000 people in all;
--   200,000 live sessions (20,000 in "bench", spread over its agents as seed-large does), all
--     active within the last hour;
--   5,000,000 ended sessions and 5,000,000 audit entries over the last 300 days (inside the
--     400- and 730-day retention), spread over every person.
-- Ids, token hashes and spreads are deterministic (hashint4), so two runs seed the same rows.
--
-- Speed (the issue asks for under 5 minutes): every reference is right by construction, so
-- the foreign-key triggers are off for this session (session_replication_role, superuser);
-- the secondary indexes of sessions and audit_log are dropped first and rebuilt at the end
-- from their own definitions (one sort each instead of 5 million random inserts).
\set ON_ERROR_STOP on
SET session_replication_role = replica;
SET synchronous_commit = off;
SET maintenance_work_mem = '256MB';
SET work_mem = '64MB';
\timing on

CREATE TEMP TABLE seed AS
SELECT a.id AS account_id, a.created_at AS t0, m.password_hash AS hash,
       (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now
FROM accounts a JOIN members m ON m.account_id = a.id AND m.is_primary
WHERE a.slug = 'bench';
DO $$ BEGIN
    IF (SELECT count(*) FROM seed) <> 1 OR (SELECT count(*) FROM accounts) <> 1 THEN
        RAISE EXCEPTION 'seed-many.sql needs a fresh database with the one account "bench"';
    END IF;
END $$;

CREATE TEMP TABLE names (ni int PRIMARY KEY, n text NOT NULL);
INSERT INTO names
SELECT o - 1, n FROM unnest(ARRAY[
    'Aaliyah Brooks', 'Ben Carter', 'Chloé Dubois', 'Dmitri Volkov', 'Elena García', 'Farah Haddad',
    'Gabriel Silva', 'Hannah Schmidt', 'Ibrahim Khan', 'Jade Nguyen', 'Kenji Tanaka', 'Lena Fischer',
    'Mateo Rossi', 'Nadia Petrova', 'Oscar Lindqvist', 'Priya Sharma', 'Quentin Moreau', 'Rosa Martínez',
    'Samuel Okafor', 'Tara Quinn', 'Uma Patel', 'Victor Hugo Lima', 'Wen Li', 'Ximena Cruz',
    'Yusuf Demir', 'Zoe Taylor', 'Amir Rahimi', 'Beatriz Costa', 'Caleb Johnson', 'Daria Nowak',
    'Emil Jensen', 'Fatima Zahra', 'George Evans', 'Hiro Sato', 'Isla MacLeod', 'Jonas Weber',
    'Kaya Yilmaz', 'Liam O''Brien', 'Maya Cohen', 'Noah Williams', 'Olga Ivanova', 'Pablo Ruiz',
    'Rin Kobayashi', 'Sofia Esposito', 'Tomás Herrera', 'Ursula Berg', 'Valentina Greco', 'William Chen'
]) WITH ORDINALITY AS t(n, o);

CREATE TEMP TABLE browsers (bi int PRIMARY KEY, ua text, ip text, device text);
INSERT INTO browsers VALUES
    (0, 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36', '203.0.113.24', 'Chrome 131 on Windows 10'),
    (1, 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15', '198.51.100.7', 'Safari 17 on macOS 10.15.7'),
    (2, 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0', '192.0.2.61', 'Firefox 133 on Linux'),
    (3, 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0', '203.0.113.80', 'Edge 131 on Windows 10'),
    (4, 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1', '100.64.12.9', 'Safari 17 on iPhone'),
    (5, 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36', '198.51.100.133', 'Chrome 131 on Android');

-- 999 other accounts, created after "bench"; size 10 to 171 people, 89,999 in all.
INSERT INTO accounts (id, slug, name, created_at)
SELECT 'ac_t' || lpad(i::text, 4, '0'), 'tenant' || lpad(i::text, 4, '0'), 'Tenant ' || i, s.t0 + i
FROM seed s, generate_series(1, 999) i;
CREATE TEMP TABLE sizes AS
SELECT i, 'ac_t' || lpad(i::text, 4, '0') AS account_id,
       10 + (i * 7919) % 161 + CASE WHEN i <= 67 THEN 1 ELSE 0 END AS size
FROM generate_series(1, 999) i;

-- "bench": 10,000 agents.
INSERT INTO members (id, account_id, kind, name, name_norm, email, email_norm, password_hash,
                     status, status_choice, created_at)
SELECT 'ag_bench_' || lpad(i::text, 5, '0'), s.account_id, 'agent',
       nm.n || ' ' || lpad(i::text, 5, '0'), lower(nm.n || ' ' || lpad(i::text, 5, '0')),
       'agent' || lpad(i::text, 5, '0') || '@bench.example',
       'agent' || lpad(i::text, 5, '0') || '@bench.example',
       s.hash, CASE WHEN i % 3 = 0 THEN 'online' ELSE 'offline' END, 'online', s.t0
FROM seed s, generate_series(0, 9999) i JOIN names nm ON nm.ni = i % 48;

-- The others: person 0 the primary administrator, every tenth a sub-administrator.
INSERT INTO members (id, account_id, kind, name, name_norm, email, email_norm, password_hash,
                     is_primary, permissions, status, status_choice, created_at)
SELECT CASE WHEN j % 10 = 0 THEN 'ad_' ELSE 'ag_' END || 't' || lpad(z.i::text, 4, '0') || '_' || lpad(j::text, 3, '0'),
       z.account_id,
       CASE WHEN j % 10 = 0 THEN 'admin' ELSE 'agent' END,
       nm.n || ' ' || j, lower(nm.n || ' ' || j),
       'p' || j || '@tenant' || lpad(z.i::text, 4, '0') || '.example',
       'p' || j || '@tenant' || lpad(z.i::text, 4, '0') || '.example',
       s.hash, j = 0,
       CASE WHEN j = 0 THEN 'team.agents,team.admins,security,audit'
            WHEN j % 10 = 0 THEN 'team.agents' ELSE '' END,
       CASE WHEN j % 10 <> 0 AND j % 3 = 0 THEN 'online' ELSE 'offline' END, 'online', s.t0 + z.i
FROM seed s, sizes z, generate_series(0, z.size - 1) j JOIN names nm ON nm.ni = (j * 7 + 3) % 48;

-- Everyone numbered, to spread sessions and audit entries over them.
CREATE TEMP TABLE people AS
SELECT (row_number() OVER (ORDER BY id) - 1)::int AS n, id, account_id, kind,
       account_id = (SELECT account_id FROM seed) AS bench
FROM members;
CREATE INDEX ON people (n);
CREATE TEMP TABLE bench_agents AS
SELECT (row_number() OVER (ORDER BY id) - 1)::int AS n, id, account_id, kind
FROM people WHERE bench AND kind = 'agent';
CREATE INDEX ON bench_agents (n);
CREATE TEMP TABLE others AS
SELECT (row_number() OVER (ORDER BY id) - 1)::int AS n, id, account_id, kind
FROM people WHERE NOT bench;
CREATE INDEX ON others (n);
ANALYZE people; ANALYZE bench_agents; ANALYZE others;
SELECT (SELECT count(*) FROM accounts) AS accounts, (SELECT count(*) FROM people) AS people,
       (SELECT count(*) FROM bench_agents) AS bench_agents;

CREATE TEMP TABLE saved_indexes AS
SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
WHERE t.relname IN ('sessions', 'audit_log') AND t.relnamespace = 'public'::regnamespace
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid);
DO $$ DECLARE r record; BEGIN
    FOR r IN SELECT name FROM saved_indexes LOOP EXECUTE 'DROP INDEX ' || r.name; END LOOP;
END $$;

-- 5,000,000 ended sessions (token hashes 0 …), started within 300 days, each ended by the
-- person (logout) or expired.
INSERT INTO sessions (id, account_id, member_id, member_kind, token_hash, csrf_token, started_at,
                      last_seen_at, ip, user_agent, device, ended_at, end_reason, ended_by)
SELECT 'se_e' || lpad(k::text, 7, '0'), p.account_id, p.id, p.kind,
       lpad(to_hex(k), 64, '0'), md5(k::text) || md5((-k)::text),
       st, st + 600000, b.ip, b.ua, b.device, st + 601000,
       CASE WHEN k % 4 = 0 THEN 'expired' ELSE 'logout' END, NULL
FROM (SELECT k, abs(hashint4(k + 2000000)) % (SELECT count(*) FROM people) AS pn,
             s.now - 86400000::bigint * 300 + (abs(hashint4(k)) % 25920000)::bigint * 1000 AS st
      FROM seed s, generate_series(0, 4999999) k) g
JOIN people p ON p.n = g.pn
JOIN browsers b ON b.bi = g.k % 6;

-- 200,000 live sessions (token hashes from 10,000,000): 20,000 over bench's agents, 180,000
-- over the other accounts' people; last seen within the hour.
INSERT INTO sessions (id, account_id, member_id, member_kind, token_hash, csrf_token, started_at,
                      last_seen_at, ip, user_agent, device)
SELECT 'se_a' || lpad(k::text, 7, '0'), p.account_id, p.id, p.kind,
       lpad(to_hex(10000000 + k), 64, '0'), md5((10000000 + k)::text) || md5((-10000000 - k)::text),
       st, st, b.ip, b.ua, b.device
FROM (SELECT k, abs(hashint4(k + 1000000)) % 10000 AS pn,
             s.now - (abs(hashint4(k)) % 3600000)::bigint AS st
      FROM seed s, generate_series(0, 19999) k) g
JOIN bench_agents p ON p.n = g.pn
JOIN browsers b ON b.bi = g.k % 6;
INSERT INTO sessions (id, account_id, member_id, member_kind, token_hash, csrf_token, started_at,
                      last_seen_at, ip, user_agent, device)
SELECT 'se_a' || lpad(k::text, 7, '0'), p.account_id, p.id, p.kind,
       lpad(to_hex(10000000 + k), 64, '0'), md5((10000000 + k)::text) || md5((-10000000 - k)::text),
       st, st, b.ip, b.ua, b.device
FROM (SELECT k, abs(hashint4(k + 1000000)) % (SELECT count(*) FROM others) AS pn,
             s.now - (abs(hashint4(k)) % 3600000)::bigint AS st
      FROM seed s, generate_series(20000, 199999) k) g
JOIN others p ON p.n = g.pn
JOIN browsers b ON b.bi = g.k % 6;

-- 5,000,000 audit entries within 300 days: sign-ins, sign-outs, expiries, people edited.
INSERT INTO audit_log (id, account_id, at, kind, actor, target, ip, detail)
SELECT 'au_' || lpad(to_hex(k), 12, '0'), p.account_id,
       s.now - 86400000::bigint * 300 + (abs(hashint4(k + 3000000)) % 25920000)::bigint * 1000,
       (ARRAY['signin', 'signout', 'session.expired', 'member.updated'])[k % 4 + 1],
       CASE WHEN k % 4 = 2 THEN NULL ELSE p.id END, p.id,
       CASE WHEN k % 4 = 2 THEN NULL ELSE b.ip END,
       CASE k % 4 WHEN 0 THEN 'signed in from ' || b.device
                  WHEN 1 THEN 'session se_e' || lpad(k::text, 7, '0') || ' ended (logout)'
                  WHEN 2 THEN 'session se_e' || lpad(k::text, 7, '0') || ' ended (expired)'
                  ELSE 'name changed' END
FROM seed s, generate_series(0, 4999999) k
JOIN people p ON p.n = abs(hashint4(k + 4000000)) % (SELECT count(*) FROM people)
JOIN browsers b ON b.bi = k % 6;

-- What the triggers keep on each person (they do not fire in replica mode): the latest
-- activity of their live sessions, read by the Team list's session filters.
UPDATE members m SET live_seen_at = l.seen
FROM (SELECT member_id, MAX(last_seen_at) AS seen FROM sessions
      WHERE ended_at IS NULL GROUP BY member_id) l
WHERE l.member_id = m.id;

DO $$ DECLARE r record; BEGIN
    FOR r IN SELECT def FROM saved_indexes LOOP EXECUTE r.def; END LOOP;
END $$;
SELECT count(*) AS indexes_rebuilt FROM saved_indexes;
VACUUM (ANALYZE);
SELECT (SELECT count(*) FROM accounts) AS accounts,
       (SELECT count(*) FROM members) AS people,
       (SELECT count(*) FROM sessions WHERE ended_at IS NULL) AS live_sessions,
       (SELECT count(*) FROM sessions WHERE ended_at IS NOT NULL) AS ended_sessions,
       (SELECT count(*) FROM audit_log) AS audit_entries;
