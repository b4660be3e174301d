-- Mail waiting to go out. A message is written in the transaction of the state change it
-- reports; the sender (in `serve` and `work`) delivers it with retries and deletes it.
-- Recipient, subject and body are sealed (ChaCha20-Poly1305 under a purpose key): the
-- table holds no readable address or code.
CREATE TABLE outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id      uuid,
    -- Which message (e.g. `verification_code`), for logs.
    what            text NOT NULL,
    sealed          bytea NOT NULL,
    created_at      timestamptz NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    -- The kind of the last failure (never a server's reply text).
    last_error      text
);
CREATE INDEX outbox_due ON outbox (next_attempt_at, id);
