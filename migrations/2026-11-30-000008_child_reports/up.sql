-- Reports of a child under 13 on the platform. Anyone may file one (the contact address is
-- proved by a code); staff confirm or dismiss it. The report names the account as given
-- (a username, a profile URL or an email): kept only until the report is closed. A
-- request's `matter_hash` is a keyed hash of what it is about (for a report: the account),
-- so one reporter's reports about different accounts stay apart while a repeated report
-- about the same account joins the open one.
ALTER TABLE requests ADD COLUMN matter_hash bytea;
DROP INDEX requests_one_open_per_kind;
CREATE UNIQUE INDEX requests_one_open_per_kind
    ON requests (kind, email_hash, coalesce(matter_hash, '\x'::bytea))
    WHERE status IN ('verified', 'approved', 'processing');

ALTER TABLE requests DROP CONSTRAINT requests_status_check;
ALTER TABLE requests ADD CONSTRAINT requests_status_check CHECK (status IN (
    'pending_verification', 'verified', 'approved', 'processing',
    'completed', 'denied', 'cancelled', 'failed', 'expired', 'aborted', 'merged', 'dismissed'));

CREATE TABLE child_reports (
    request_id      uuid PRIMARY KEY REFERENCES requests (id),
    account         text,
    account_kind    text NOT NULL CHECK (account_kind IN ('username', 'profile_url', 'email')),
    relationship    text NOT NULL CHECK (relationship IN ('parent_guardian', 'other')),
    details         text,
    copy_requested  boolean NOT NULL,
    -- Staff's note confirming the reporter's parental standing (a parent's copy is made
    -- only then) and who confirmed it.
    copy_standing   text,
    copy_confirmed_by uuid REFERENCES staff (id),
    frozen_at       timestamptz,
    frozen_rows     bigint
);
