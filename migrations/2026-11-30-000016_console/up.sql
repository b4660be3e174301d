-- The staff console: server-side sessions, sign-in lockout, TOTP for admins, and the
-- index the request queue pages through.
CREATE TABLE staff_sessions (
    id uuid PRIMARY KEY,
    staff_id uuid NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    -- Keyed hash of the cookie's token (the token itself is never stored).
    token_hash bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    -- The absolute end, whatever the activity.
    expires_at timestamptz NOT NULL,
    -- Whether the second factor was given (admins with TOTP).
    second_factor boolean NOT NULL DEFAULT false
);
CREATE INDEX staff_sessions_staff ON staff_sessions (staff_id);

ALTER TABLE staff
    ADD COLUMN failed_sign_ins integer NOT NULL DEFAULT 0,
    ADD COLUMN locked_until timestamptz,
    -- The TOTP secret, sealed under a purpose key (ChaCha20-Poly1305).
    ADD COLUMN totp_secret bytea,
    ADD COLUMN totp_enabled_at timestamptz,
    -- The last time step a code was accepted for (a code is accepted once).
    ADD COLUMN totp_last_step bigint;

-- The queue: open child reports first, then by due date; keyset pages stay an index scan.
CREATE INDEX requests_queue ON requests ((kind <> 'child_report'), due_at, id);
