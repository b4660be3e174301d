-- Unsubscribe from marketing mail. The suppression list holds the keyed hash of each
-- opted-out address per category (never the address), when and how it was added; the
-- platform's mailer checks addresses against it (category `*`: every category). An
-- unsubscribe request names its categories (NULL: every category). Staff accounts may be `mailer`s: they may mint
-- unsubscribe links and check suppressions, nothing else.
CREATE TABLE suppressions (
    hash       bytea NOT NULL,
    category   text NOT NULL,
    source     text NOT NULL CHECK (source IN ('link', 'request', 'assertion')),
    request_id uuid REFERENCES requests (id),
    created_at timestamptz NOT NULL,
    PRIMARY KEY (hash, category)
);

ALTER TABLE requests ADD COLUMN categories text[];
ALTER TABLE requests DROP CONSTRAINT requests_verified_via_check;
ALTER TABLE requests ADD CONSTRAINT requests_verified_via_check
    CHECK (verified_via IN ('email_code', 'platform_assertion', 'unsubscribe_link'));

ALTER TABLE staff DROP CONSTRAINT staff_role_check;
ALTER TABLE staff ADD CONSTRAINT staff_role_check CHECK (role IN ('mailer', 'viewer', 'reviewer', 'admin'));
