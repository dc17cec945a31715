-- A session opened through the identity provider remembers the provider's subject and, when
-- the ID token carried one, its session id: a back-channel logout names one or the other.
ALTER TABLE sessions ADD COLUMN sso_sub TEXT;
ALTER TABLE sessions ADD COLUMN sso_sid TEXT;
CREATE INDEX sessions_live_by_sso_sid ON sessions (account_id, sso_sid) WHERE ended_at IS NULL AND sso_sid IS NOT NULL;
CREATE INDEX sessions_live_by_sso_sub ON sessions (account_id, sso_sub) WHERE ended_at IS NULL AND sso_sub IS NOT NULL;
