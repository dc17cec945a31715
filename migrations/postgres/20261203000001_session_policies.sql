-- Session policies of an account (Security section): a limit of sessions per person, office
-- networks and each role's policy for sessions from outside them. No row means the defaults.
CREATE TABLE session_policies (
    account_id TEXT PRIMARY KEY REFERENCES accounts(id),
    max_sessions_per_person BIGINT,
    office_networks TEXT NOT NULL DEFAULT '[]',
    agents_network_policy TEXT NOT NULL DEFAULT 'off',
    admins_network_policy TEXT NOT NULL DEFAULT 'off'
);
