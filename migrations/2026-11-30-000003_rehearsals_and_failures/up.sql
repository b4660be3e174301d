-- Deletions are rehearsed before approval and pinned to what was rehearsed; a purge that
-- cannot finish ends `failed` for staff to retry (after a new dry run) or abort.

-- Staff dry runs: the whole purge plan run in a rolled-back transaction by a worker.
CREATE TABLE rehearsals (
    id                 uuid PRIMARY KEY,
    request_id         uuid NOT NULL REFERENCES requests (id),
    status             text NOT NULL CHECK (status IN ('queued', 'running', 'done', 'error')),
    requested_by       uuid NOT NULL REFERENCES staff (id),
    -- The request's review round it belongs to: only a dry run of the current round
    -- can be approved.
    review_round       integer NOT NULL,
    requested_at       timestamptz NOT NULL,
    enqueued_at        timestamptz,
    started_at         timestamptz,
    finished_at        timestamptz,
    -- What it ran on: the data map's content hash and the platform schema's fingerprint.
    map_hash           text,
    schema_fingerprint text,
    -- Counts per table and bucket, never contents.
    report             jsonb,
    -- Why it could not run at all (a code).
    error              text
);
CREATE INDEX rehearsals_request ON rehearsals (request_id, requested_at DESC);
CREATE INDEX rehearsals_open ON rehearsals (status, enqueued_at) WHERE status IN ('queued', 'running');

ALTER TABLE requests DROP CONSTRAINT requests_status_check;
ALTER TABLE requests ADD CONSTRAINT requests_status_check CHECK (status IN (
    'pending_verification', 'verified', 'approved', 'processing',
    'completed', 'denied', 'cancelled', 'failed', 'expired', 'aborted'));

ALTER TABLE requests
    DROP COLUMN dry_run,
    -- The rehearsal an approval bound: the purge runs only on its map and schema.
    ADD COLUMN rehearsal_id    uuid REFERENCES rehearsals (id),
    -- Sanitised failure detail for staff (step, table, constraint; never row values).
    ADD COLUMN failure_detail  jsonb,
    -- Failed purge runs since the last approval.
    ADD COLUMN purge_failures  integer NOT NULL DEFAULT 0,
    -- Bumped when a request goes back to review (retry, stale dry run): approvals of an
    -- earlier round do not count.
    ADD COLUMN review_round    integer NOT NULL DEFAULT 1;

ALTER TABLE decisions ADD COLUMN round integer NOT NULL DEFAULT 1;
ALTER TABLE decisions DROP CONSTRAINT decisions_pkey;
ALTER TABLE decisions ADD PRIMARY KEY (request_id, staff_id, round);
