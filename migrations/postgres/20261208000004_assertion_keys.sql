-- The keys that sign Remote-Assertion (forward auth's signed identity), shared by every
-- instance. One generation at a time signs; the next is written before its turn (signs_from)
-- and the database keeps one key per generation, so two instances rotating at once agree.
-- The private key is sealed under a server secret, as authenticator secrets are.
CREATE TABLE assertion_keys (
    kid TEXT PRIMARY KEY,
    generation BIGINT NOT NULL UNIQUE,
    signs_from BIGINT NOT NULL,
    public_key TEXT NOT NULL,
    private_key TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
