-- Lethe's own data: data-subject requests, their one-time codes and the audit log.
-- Lethe keeps as little personal data as it can: codes and tokens are stored only as
-- keyed hashes, the requester's email is kept beside its keyed hash only while the
-- request needs it to send mail, and the audit log carries counts, never contents.

CREATE TABLE requests (
    id               uuid PRIMARY KEY,
    kind             text NOT NULL CHECK (kind IN ('access', 'deletion', 'unsubscribe', 'child_report', 'likeness')),
    status           text NOT NULL CHECK (status IN (
                         'pending_verification', 'verified', 'approved', 'processing',
                         'completed', 'denied', 'cancelled', 'failed', 'expired')),
    -- Requester contact; NULLed by the retention sweep once the request no longer needs it.
    email            text,
    -- HMAC-SHA256(secret_key, normalized email): duplicate detection and receipts without the address.
    email_hash       bytea NOT NULL,
    -- The platform's own id of the subject when a signed assertion named it.
    subject_ref      text,
    verified_via     text CHECK (verified_via IN ('email_code', 'platform_assertion')),
    token_hash       bytea,
    regime           text NOT NULL,
    created_at       timestamptz NOT NULL,
    due_at           timestamptz NOT NULL,
    verified_at      timestamptz,
    approved_at      timestamptz,
    started_at       timestamptz,
    completed_at     timestamptz,
    -- A worker's claim on the request; another worker may take over once it has passed.
    lease_until      timestamptz,
    enqueued_at      timestamptz,
    run_attempts     integer NOT NULL DEFAULT 0,
    export_key       text,
    export_bytes     bigint,
    export_expires_at timestamptz,
    export_deleted_at timestamptz,
    -- Counts per table and bucket (never contents).
    result           jsonb,
    -- A stable error code, never an error message that could carry data.
    failure          text,
    pii_scrubbed_at  timestamptz
);

-- At most one open request of a kind per requester: filing again returns the open one.
CREATE UNIQUE INDEX requests_one_open_per_kind ON requests (kind, email_hash)
    WHERE status IN ('pending_verification', 'verified', 'approved', 'processing');
CREATE INDEX requests_due ON requests (due_at) WHERE status NOT IN ('completed', 'denied', 'cancelled', 'expired');
CREATE INDEX requests_work ON requests (status, lease_until) WHERE status IN ('approved', 'processing');
CREATE INDEX requests_export_expiry ON requests (export_expires_at) WHERE export_key IS NOT NULL AND export_deleted_at IS NULL;

CREATE TABLE verification_codes (
    request_id    uuid PRIMARY KEY REFERENCES requests (id) ON DELETE CASCADE,
    code_hash     bytea NOT NULL,
    expires_at    timestamptz NOT NULL,
    attempts_left integer NOT NULL CHECK (attempts_left >= 0),
    created_at    timestamptz NOT NULL
);

-- Append-only, hash-chained audit log. Every state change and every data touch is one row;
-- hash = SHA-256(prev_hash || canonical entry). Rows are appended under an advisory lock
-- so that seq is gapless and the chain has one head.
CREATE TABLE audit_log (
    seq        bigint PRIMARY KEY,
    at         timestamptz NOT NULL,
    request_id uuid,
    actor      text NOT NULL,
    action     text NOT NULL,
    details    jsonb NOT NULL,
    prev_hash  bytea NOT NULL,
    hash       bytea NOT NULL UNIQUE
);
CREATE INDEX audit_log_request ON audit_log (request_id, seq);

CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
