-- Privacy signals a signed-in platform user's browser sent (Global Privacy Control,
-- `Sec-GPC: 1`): the keyed hash of the platform subject per signal, recorded once.
CREATE TABLE privacy_signals (
    subject_hash bytea NOT NULL,
    signal       text NOT NULL CHECK (signal IN ('gpc')),
    request_id   uuid NOT NULL REFERENCES requests (id),
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (subject_hash, signal)
);
