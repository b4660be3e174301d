-- Fenced leases: each claim of a request for a run sets a fresh owner token; the run's
-- checkpoints, renewals, completion and failure are applied only while the request is
-- still that run's (another claim after a lapsed lease takes the token over).
ALTER TABLE requests ADD COLUMN lease_owner uuid;
