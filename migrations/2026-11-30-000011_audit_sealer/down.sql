DROP TABLE audit_checkpoints;
DROP TABLE audit_chain;
DROP TRIGGER audit_log_to_seal ON audit_log;
DROP FUNCTION audit_log_pending();
DROP TABLE audit_pending;
ALTER TABLE audit_log ALTER COLUMN seq DROP IDENTITY;
ALTER TABLE audit_log ADD COLUMN prev_hash bytea, ADD COLUMN hash bytea;
