ALTER TABLE staff_tokens DROP COLUMN expires_at;
UPDATE requests SET status = 'expired' WHERE status = 'merged';
ALTER TABLE requests DROP CONSTRAINT requests_status_check;
ALTER TABLE requests ADD CONSTRAINT requests_status_check CHECK (status IN (
    'pending_verification', 'verified', 'approved', 'processing',
    'completed', 'denied', 'cancelled', 'failed', 'expired', 'aborted'));
ALTER TABLE requests DROP COLUMN merged_into;
DROP INDEX requests_subject_key;
DROP INDEX requests_identity;
DROP INDEX requests_one_open_per_kind;
-- Several filings may wait per person now; all but the newest expire.
UPDATE requests r SET status = 'expired' WHERE status = 'pending_verification'
    AND EXISTS (SELECT 1 FROM requests o WHERE o.kind = r.kind AND o.email_hash = r.email_hash
                AND o.status IN ('pending_verification', 'verified', 'approved', 'processing')
                AND (o.status <> 'pending_verification' OR o.created_at > r.created_at OR (o.created_at = r.created_at AND o.id > r.id)));
CREATE UNIQUE INDEX requests_one_open_per_kind ON requests (kind, email_hash)
    WHERE status IN ('pending_verification', 'verified', 'approved', 'processing');
