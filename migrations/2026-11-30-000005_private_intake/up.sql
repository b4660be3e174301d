-- Intake that discloses nothing. Each filing by email is its own request with its own
-- code: only requests whose identity is proved are unique per kind and person, and a
-- verified filing for a person who already has an open proved request of that kind is
-- `merged` into it (`merged_into`). Lookups by identity find a person's other requests
-- (a completed deletion erases Lethe's own copies of them). Staff tokens expire.
DROP INDEX requests_one_open_per_kind;
CREATE UNIQUE INDEX requests_one_open_per_kind ON requests (kind, email_hash)
    WHERE status IN ('verified', 'approved', 'processing');
CREATE INDEX requests_identity ON requests (email_hash);
CREATE INDEX requests_subject_key ON requests (subject_key) WHERE subject_key IS NOT NULL;

ALTER TABLE requests ADD COLUMN merged_into uuid REFERENCES requests (id);
ALTER TABLE requests DROP CONSTRAINT requests_status_check;
ALTER TABLE requests ADD CONSTRAINT requests_status_check CHECK (status IN (
    'pending_verification', 'verified', 'approved', 'processing',
    'completed', 'denied', 'cancelled', 'failed', 'expired', 'aborted', 'merged'));

ALTER TABLE staff_tokens ADD COLUMN expires_at timestamptz;
UPDATE staff_tokens SET expires_at = created_at + interval '12 hours';
ALTER TABLE staff_tokens ALTER COLUMN expires_at SET NOT NULL;
