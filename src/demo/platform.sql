-- The demo platform: a community AI-art site. Lethe does not own this schema; it is here
-- so that `lethe demo`, the tests and the benchmarks have a realistic platform to work on.
-- It deliberately carries the hazards of real schemas: a RESTRICT foreign key (payments),
-- SET NULL links whose rows keep free text (comment replies, moderation reports),
-- soft links with no foreign key (tips, ledger), personal data inside JSON (sessions.meta,
-- images.meta), object keys stored bare, as URLs, or derived from ids (avatars),
-- composite keys (reactions, follows), self-references (comments, users.referred_by) and
-- a cycle between tables (images.model_id -> models, models.preview_image_id -> images).

CREATE TABLE users (
    id           bigserial PRIMARY KEY,
    email        text NOT NULL UNIQUE,
    username     text NOT NULL UNIQUE,
    display_name text,
    signup_ip    inet,
    country      text,
    birth_date   date,
    referred_by  bigint REFERENCES users (id) ON DELETE SET NULL,
    -- A restricted account cannot sign in, post or be seen (set by moderation).
    restricted   boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE profiles (
    user_id    bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    bio        text,
    website    text,
    location   text,
    -- Full URL; the object lives in the avatars bucket under avatars/{user_id}/.
    avatar_url text
);

CREATE TABLE images (
    id         bigserial PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Bare key in the images bucket.
    object_key text NOT NULL,
    title      text,
    prompt     text,
    width      integer NOT NULL,
    height     integer NOT NULL,
    nsfw       boolean NOT NULL DEFAULT false,
    meta       jsonb NOT NULL DEFAULT '{}',
    published  boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX images_user ON images (user_id);

CREATE TABLE models (
    id               bigserial PRIMARY KEY,
    user_id          bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name             text NOT NULL,
    description      text,
    preview_image_id bigint REFERENCES images (id) ON DELETE SET NULL,
    published        boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX models_user ON models (user_id);
CREATE INDEX models_preview ON models (preview_image_id);

-- The image was generated with this model (anyone's): closes a cycle with preview_image_id.
ALTER TABLE images ADD COLUMN model_id bigint REFERENCES models (id) ON DELETE SET NULL;
CREATE INDEX images_model ON images (model_id);

CREATE TABLE model_versions (
    id         bigserial PRIMARY KEY,
    model_id   bigint NOT NULL REFERENCES models (id) ON DELETE CASCADE,
    version    text NOT NULL,
    notes      text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX model_versions_model ON model_versions (model_id);

CREATE TABLE model_files (
    id               bigserial PRIMARY KEY,
    model_version_id bigint NOT NULL REFERENCES model_versions (id) ON DELETE CASCADE,
    -- Full s3:// URL into the models bucket.
    file_url         text NOT NULL,
    size_bytes       bigint NOT NULL,
    sha256           text NOT NULL
);
CREATE INDEX model_files_version ON model_files (model_version_id);

CREATE TABLE comments (
    id         bigserial PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    image_id   bigint NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    parent_id  bigint REFERENCES comments (id) ON DELETE SET NULL,
    body       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX comments_user ON comments (user_id);
CREATE INDEX comments_image ON comments (image_id);
CREATE INDEX comments_parent ON comments (parent_id);

CREATE TABLE reactions (
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    image_id   bigint NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    kind       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, image_id, kind)
);
CREATE INDEX reactions_image ON reactions (image_id);

CREATE TABLE follows (
    follower_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    followee_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (follower_id, followee_id)
);
CREATE INDEX follows_followee ON follows (followee_id);

CREATE TABLE sessions (
    id           uuid PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    ip           inet NOT NULL,
    user_agent   text NOT NULL,
    meta         jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Personal API tokens (hashed) for scripts and integrations.
CREATE TABLE api_tokens (
    id         bigserial PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE notifications (
    id         bigserial PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    actor_id   bigint REFERENCES users (id) ON DELETE SET NULL,
    kind       text NOT NULL,
    payload    jsonb NOT NULL DEFAULT '{}',
    read       boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notifications_user ON notifications (user_id);
CREATE INDEX notifications_actor ON notifications (actor_id);

CREATE TABLE marketing_preferences (
    user_id         bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    newsletter      boolean NOT NULL DEFAULT true,
    product_updates boolean NOT NULL DEFAULT true,
    partner_offers  boolean NOT NULL DEFAULT false,
    -- Whether the user lets the platform sell or share their data (GPC turns it off).
    share_data      boolean NOT NULL DEFAULT true,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Retained for tax law: a plain DELETE of the user fails on this RESTRICT key.
CREATE TABLE payments (
    id              bigserial PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    amount_cents    integer NOT NULL,
    currency        text NOT NULL,
    provider        text NOT NULL,
    provider_ref    text NOT NULL,
    billing_name    text,
    billing_country text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_user ON payments (user_id);

CREATE TABLE moderation_reports (
    id             bigserial PRIMARY KEY,
    reporter_id    bigint REFERENCES users (id) ON DELETE SET NULL,
    target_user_id bigint REFERENCES users (id) ON DELETE SET NULL,
    image_id       bigint REFERENCES images (id) ON DELETE SET NULL,
    reason         text NOT NULL,
    details        text,
    status         text NOT NULL DEFAULT 'open',
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX moderation_reports_reporter ON moderation_reports (reporter_id);
CREATE INDEX moderation_reports_target ON moderation_reports (target_user_id);

-- Soft links: user ids with no foreign key at all.
CREATE TABLE tips (
    id           bigserial PRIMARY KEY,
    from_user_id bigint NOT NULL,
    to_user_id   bigint NOT NULL,
    amount_cents integer NOT NULL,
    message      text,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tips_from ON tips (from_user_id);
CREATE INDEX tips_to ON tips (to_user_id);
