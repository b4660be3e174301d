-- Likeness removal. A request lists platform resources (URLs or `name:key`, as given
-- until the request closes); each is recognised through the data map's `[[resources]]`
-- (resource kind and key), looked up on the platform, decided by staff per resource,
-- unpublished at once when removed and its files deleted after the hold. A decision on a
-- resource also settles the same resource in other open requests (`decided_with`).
CREATE TABLE likeness_resources (
    id               uuid PRIMARY KEY,
    request_id       uuid NOT NULL REFERENCES requests (id),
    position         integer NOT NULL,
    given            text,
    resource         text,
    resource_key     text,
    state            text NOT NULL CHECK (state IN ('listed', 'found', 'not_found', 'already_removed')),
    decision         text CHECK (decision IN ('remove', 'keep')),
    reason           text,
    decided_by       uuid REFERENCES staff (id),
    decided_at       timestamptz,
    decided_with     uuid REFERENCES requests (id),
    unpublished_at   timestamptz,
    files_due_at     timestamptz,
    files_deleted_at timestamptz,
    files_deleted    bigint,
    UNIQUE (request_id, position),
    CHECK ((resource IS NULL) = (resource_key IS NULL))
);
CREATE INDEX likeness_resources_target ON likeness_resources (resource, resource_key);
CREATE INDEX likeness_resources_files_due ON likeness_resources (files_due_at)
    WHERE files_due_at IS NOT NULL AND files_deleted_at IS NULL;

-- The one evidence file of a likeness request, in Lethe's private evidence bucket under a
-- random key; deleted as soon as every listed resource is settled.
CREATE TABLE evidence (
    request_id   uuid PRIMARY KEY REFERENCES requests (id),
    object_key   text NOT NULL,
    content_type text NOT NULL,
    bytes        bigint NOT NULL,
    uploaded_at  timestamptz NOT NULL,
    deleted_at   timestamptz
);
