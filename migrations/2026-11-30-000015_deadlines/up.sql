-- Deadlines as first-class columns. Each request carries two clocks, both set at intake
-- from `[deadlines]`: the acknowledgement deadline (`ack_due_at`, NULL where the rule of
-- the request's regime and kind has none) and the response deadline (`due_at`, already
-- there). `acknowledged_at` is when the mail confirming receipt was queued. An extension
-- (once, by a staff member, with a reason the requester is mailed) moves `due_at` and
-- records when, why and by whom. The `*_flagged_at` columns record when the deadline
-- watch first found a clock overdue (one audit entry per request and clock).
-- Requests filed before this migration carry no acknowledgement clock.
ALTER TABLE requests
    ADD COLUMN ack_due_at             timestamptz,
    ADD COLUMN acknowledged_at        timestamptz,
    ADD COLUMN extended_at            timestamptz,
    ADD COLUMN extension_reason       text,
    ADD COLUMN extended_by            uuid REFERENCES staff (id),
    ADD COLUMN overdue_flagged_at     timestamptz,
    ADD COLUMN ack_overdue_flagged_at timestamptz,
    ADD CONSTRAINT requests_extension_whole CHECK (
        (extended_at IS NULL) = (extension_reason IS NULL)
        AND (extended_at IS NULL) = (extended_by IS NULL));

-- What the watch and the digest scan: requests on the clock, by each deadline.
CREATE INDEX requests_running_due ON requests (due_at)
    WHERE status IN ('pending_verification', 'verified', 'approved', 'processing', 'failed');
CREATE INDEX requests_running_ack_due ON requests (ack_due_at)
    WHERE acknowledged_at IS NULL AND ack_due_at IS NOT NULL
      AND status IN ('pending_verification', 'verified', 'approved', 'processing', 'failed');

-- One row per day a deadline digest went out (UTC date). The process whose INSERT … ON
-- CONFLICT DO NOTHING adds the day's row sends that day's digest, in the same transaction.
CREATE TABLE deadline_digests (
    day        date PRIMARY KEY,
    sent_at    timestamptz NOT NULL,
    recipients integer NOT NULL,
    due_soon   integer NOT NULL,
    overdue    integer NOT NULL
);
