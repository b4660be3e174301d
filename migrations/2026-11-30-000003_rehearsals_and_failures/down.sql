ALTER TABLE decisions DROP CONSTRAINT decisions_pkey;
DELETE FROM decisions WHERE round > 1;
ALTER TABLE decisions ADD PRIMARY KEY (request_id, staff_id);
ALTER TABLE decisions DROP COLUMN round;
ALTER TABLE requests
    DROP COLUMN review_round,
    DROP COLUMN purge_failures,
    DROP COLUMN failure_detail,
    DROP COLUMN rehearsal_id,
    ADD COLUMN dry_run jsonb;
UPDATE requests SET status = 'failed' WHERE status = 'aborted';
ALTER TABLE requests DROP CONSTRAINT requests_status_check;
ALTER TABLE requests ADD CONSTRAINT requests_status_check CHECK (status IN (
    'pending_verification', 'verified', 'approved', 'processing',
    'completed', 'denied', 'cancelled', 'failed', 'expired'));
DROP TABLE rehearsals;
