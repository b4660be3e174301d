DROP TABLE child_reports;
ALTER TABLE requests DROP CONSTRAINT requests_status_check;
ALTER TABLE requests ADD CONSTRAINT requests_status_check CHECK (status IN (
    'pending_verification', 'verified', 'approved', 'processing',
    'completed', 'denied', 'cancelled', 'failed', 'expired', 'aborted', 'merged'));
DROP INDEX requests_one_open_per_kind;
CREATE UNIQUE INDEX requests_one_open_per_kind ON requests (kind, email_hash)
    WHERE status IN ('verified', 'approved', 'processing');
ALTER TABLE requests DROP COLUMN matter_hash;
