-- Platform assertions are single-use: the keyed hash of each accepted assertion is kept
-- until it expires, and a second use is refused. The maintenance sweep drops expired ones.
CREATE TABLE used_assertions (
    hash       bytea PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX used_assertions_expiry ON used_assertions (expires_at);
