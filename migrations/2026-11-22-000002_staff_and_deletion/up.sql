-- Staff who review requests, their API tokens (stored as keyed hashes, revocable), their
-- decisions (the two-person rule counts distinct approvers), and what a deletion needs
-- on the request: the located subject key (so a re-run after the subject row is gone
-- still knows whom to verify), the grace period, the dry run and the purge checkpoint.

CREATE TABLE staff (
    id            uuid PRIMARY KEY,
    email         text NOT NULL UNIQUE,
    role          text NOT NULL CHECK (role IN ('viewer', 'reviewer', 'admin')),
    -- Argon2id PHC string.
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL,
    disabled_at   timestamptz
);

CREATE TABLE staff_tokens (
    id           uuid PRIMARY KEY,
    staff_id     uuid NOT NULL REFERENCES staff (id),
    name         text NOT NULL,
    token_hash   bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX staff_tokens_staff ON staff_tokens (staff_id);

CREATE TABLE decisions (
    request_id uuid NOT NULL REFERENCES requests (id),
    staff_id   uuid NOT NULL REFERENCES staff (id),
    decision   text NOT NULL CHECK (decision IN ('approve', 'deny')),
    at         timestamptz NOT NULL,
    PRIMARY KEY (request_id, staff_id)
);

ALTER TABLE requests
    ADD COLUMN subject_key      text,
    ADD COLUMN grace_until      timestamptz,
    ADD COLUMN dry_run          jsonb,
    ADD COLUMN purge_checkpoint jsonb,
    ADD COLUMN decision_reason  text;
