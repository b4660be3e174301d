-- The identity strings a purge redacts (the account's email and username, the requester's
-- email), sealed with ChaCha20-Poly1305 under a purpose key once the subject is located,
-- so that a run restarted after the subject's row is gone still redacts them. Erased when
-- the purge completes or the request is aborted or scrubbed.
ALTER TABLE requests ADD COLUMN purge_identities bytea;
