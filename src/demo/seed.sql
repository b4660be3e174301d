-- Seeds the demo platform with {users} users whose activity follows a skewed (power-law
-- like) distribution: most people post little, a few post a lot. Deterministic for a
-- given {seed}. Object rows name keys; the seeder then puts real bytes behind each key.
SELECT setseed({seed});

CREATE TEMP TABLE seed_names (i int, first text, last text) ON COMMIT DROP;
INSERT INTO seed_names
SELECT row_number() OVER (), f, l
FROM unnest(ARRAY['ada','bruno','chen','dara','elif','farah','goran','hana','ines','jonas','kemi','liam','mira','nils','oona','pavel','quinn','rosa','sami','tara','uma','viktor','wen','xena','yusuf','zoe']) f,
     unnest(ARRAY['abara','berg','costa','dubois','eriksen','fischer','garcia','hoang','ivanova','jensen','kowalski','lopez','moreau','nakamura','okafor','petrov']) l;

INSERT INTO users (email, username, display_name, signup_ip, country, birth_date, created_at)
SELECT n.first || '.' || n.last || g || '@example.com',
       n.first || '_' || n.last || g,
       initcap(n.first) || ' ' || initcap(n.last),
       ('10.' || floor(random() * 255) || '.' || floor(random() * 255) || '.' || floor(random() * 254 + 1))::inet,
       (ARRAY['DE','FR','US','GB','BR','JP','IN','NG','PL','SE','CA','AU'])[1 + floor(random() * 12)],
       date '1960-01-01' + floor(random() * 16000)::int,
       timestamptz '2022-01-01' + random() * interval '1000 days'
FROM generate_series(1, {users}) g
JOIN seed_names n ON n.i = 1 + (g * 7919) % 416;

CREATE TEMP TABLE seed_activity ON COMMIT DROP AS
SELECT id AS user_id, power(random(), 4) AS w FROM users;

UPDATE users u SET referred_by = 1 + floor(random() * (u.id - 1))::bigint
WHERE u.id > 1 AND random() < 0.2;

INSERT INTO profiles (user_id, bio, website, location, avatar_url)
SELECT u.id,
       'Digital artist from ' || u.country || '. Say hi: ' || u.username,
       CASE WHEN random() < 0.3 THEN 'https://' || u.username || '.example.net' END,
       (ARRAY['Berlin','Lagos','Osaka','Lyon','Austin','Recife','Pune','Malmo','Krakow','Toronto'])[1 + floor(random() * 10)],
       'https://avatars.demo.invalid/avatars/' || u.id || '/avatar.png'
FROM users u;

INSERT INTO images (user_id, object_key, title, prompt, width, height, nsfw, meta, created_at)
SELECT a.user_id,
       'images/' || a.user_id || '/' || md5(a.user_id || ':' || k) || '.png',
       (ARRAY['Dawn','Harbor','Neon alley','Fox','Glacier','Portrait study','Orchard','Signal'])[1 + floor(random() * 8)] || ' #' || k,
       (ARRAY['a lighthouse in fog, oil painting','cyberpunk street at night','watercolor fox','portrait, soft light','isometric city'])[1 + floor(random() * 5)],
       (ARRAY[512, 768, 1024])[1 + floor(random() * 3)],
       (ARRAY[512, 768, 1024])[1 + floor(random() * 3)],
       random() < 0.05,
       jsonb_build_object('sampler', 'euler_a', 'steps', 20 + floor(random() * 30), 'upload_ip', '10.1.' || floor(random() * 255) || '.' || floor(random() * 255)),
       timestamptz '2023-01-01' + random() * interval '600 days'
FROM seed_activity a, LATERAL generate_series(1, floor(a.w * 50)::int) k;

INSERT INTO models (user_id, name, description, created_at)
SELECT a.user_id, 'model-' || a.user_id || '-' || k, 'A LoRA trained on my own drawings', timestamptz '2023-06-01' + random() * interval '400 days'
FROM seed_activity a, LATERAL generate_series(1, CASE WHEN a.w > 0.3 THEN 1 + floor(a.w * 3)::int ELSE 0 END) k;

UPDATE models m SET preview_image_id = (SELECT min(i.id) FROM images i WHERE i.user_id = m.user_id);
UPDATE images SET model_id = 1 + floor(random() * (SELECT max(id) FROM models))::bigint
WHERE random() < 0.2 AND EXISTS (SELECT 1 FROM models);

INSERT INTO model_versions (model_id, version, notes)
SELECT m.id, 'v' || k, 'training notes for v' || k
FROM models m, LATERAL generate_series(1, 1 + floor(random() * 3)::int) k;

INSERT INTO model_files (model_version_id, file_url, size_bytes, sha256)
SELECT v.id, 's3://platform-models/models/' || m.user_id || '/' || v.id || '/weights.safetensors', 0, ''
FROM model_versions v JOIN models m ON m.id = v.model_id;

INSERT INTO comments (user_id, image_id, body, created_at)
SELECT a.user_id, 1 + floor(random() * (SELECT max(id) FROM images))::bigint,
       (ARRAY['Love the colours!','How many steps?','This is amazing','Which sampler did you use?','Great composition'])[1 + floor(random() * 5)],
       timestamptz '2023-02-01' + random() * interval '600 days'
FROM seed_activity a, LATERAL generate_series(1, floor(a.w * 60)::int) k
WHERE EXISTS (SELECT 1 FROM images);

-- Replies: threads under other people's comments, some naming the parent's author.
INSERT INTO comments (user_id, image_id, parent_id, body, created_at)
SELECT r.user_id, p.image_id, p.id,
       CASE WHEN random() < 0.3 THEN '@' || pu.username || ' thanks, agreed' ELSE 'Agreed!' END,
       p.created_at + interval '1 hour'
FROM (SELECT 1 + floor(random() * (SELECT max(id) FROM users))::bigint AS user_id,
             1 + floor(random() * (SELECT max(id) FROM comments))::bigint AS parent
      FROM generate_series(1, (SELECT count(*) / 3 FROM comments))) r
JOIN comments p ON p.id = r.parent
JOIN users pu ON pu.id = p.user_id;

INSERT INTO reactions (user_id, image_id, kind)
SELECT a.user_id, 1 + floor(random() * (SELECT max(id) FROM images))::bigint,
       (ARRAY['like','heart','laugh','wow'])[1 + floor(random() * 4)]
FROM seed_activity a, LATERAL generate_series(1, floor(a.w * 120)::int) k
WHERE EXISTS (SELECT 1 FROM images)
ON CONFLICT DO NOTHING;

INSERT INTO follows (follower_id, followee_id)
SELECT a.user_id, 1 + floor(random() * {users})::bigint
FROM seed_activity a, LATERAL generate_series(1, 1 + floor(a.w * 30)::int) k
ON CONFLICT DO NOTHING;
DELETE FROM follows WHERE follower_id = followee_id;

INSERT INTO sessions (id, user_id, ip, user_agent, meta, created_at, last_seen_at)
SELECT md5(a.user_id || ':' || k || ':' || random())::uuid, a.user_id, ip, ua,
       jsonb_build_object('ip', host(ip), 'device', (ARRAY['desktop','phone','tablet'])[1 + floor(random() * 3)]),
       t, t + random() * interval '30 days'
FROM seed_activity a,
     LATERAL generate_series(1, 1 + floor(a.w * 10)::int) k,
     LATERAL (SELECT ('192.168.' || floor(random() * 255) || '.' || floor(random() * 254 + 1))::inet AS ip,
                     (ARRAY['Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0','Mozilla/5.0 (iPhone; CPU iPhone OS 18_0) Safari/604.1','Mozilla/5.0 (Windows NT 10.0) Chrome/150.0'])[1 + floor(random() * 3)] AS ua,
                     timestamptz '2024-01-01' + random() * interval '300 days' AS t,
                     k AS kk) s;

INSERT INTO notifications (user_id, actor_id, kind, payload, read)
SELECT a.user_id, actor.id, (ARRAY['reaction','comment','follow'])[1 + floor(random() * 3)],
       jsonb_build_object('actor_username', actor.username), random() < 0.7
FROM seed_activity a,
     LATERAL generate_series(1, floor(a.w * 40)::int) k,
     LATERAL (SELECT id, username FROM users WHERE id = 1 + floor(random() * {users} + k * 0)::bigint) actor;

INSERT INTO marketing_preferences (user_id, newsletter, product_updates, partner_offers)
SELECT id, random() < 0.6, random() < 0.5, random() < 0.1 FROM users;

INSERT INTO payments (user_id, amount_cents, currency, provider, provider_ref, billing_name, billing_country)
SELECT u.id, (ARRAY[500, 1000, 2500])[1 + floor(random() * 3)], 'EUR', 'stripe', 'pi_' || md5(u.id || ':' || k),
       u.display_name, u.country
FROM users u, LATERAL generate_series(1, 1 + floor(random() * 12)::int) k
WHERE u.id % 10 = 3;

INSERT INTO moderation_reports (reporter_id, target_user_id, image_id, reason, details)
SELECT r.reporter, i.user_id, i.id, 'copyright', 'Reported by ' || ru.username || ': this copies my work'
FROM (SELECT 1 + floor(random() * {users})::bigint AS reporter,
             1 + floor(random() * (SELECT max(id) FROM images))::bigint AS image
      FROM generate_series(1, greatest(1, {users} / 50))) r
JOIN images i ON i.id = r.image
JOIN users ru ON ru.id = r.reporter;

INSERT INTO tips (from_user_id, to_user_id, amount_cents, message)
SELECT u.id, 1 + floor(random() * {users})::bigint, 100 * (1 + floor(random() * 10)), 'keep it up!'
FROM users u WHERE u.id % 20 = 7;

-- The placeholder account retained records are reassigned to when their owner is erased
-- (payments keep a RESTRICT foreign key to users).
INSERT INTO users (id, email, username, display_name, created_at)
VALUES (0, 'deleted-user@platform.invalid', 'deleted-user', 'Deleted user', timestamptz '2022-01-01');

-- A child under 13 who signed up anyway (the README's child-report walkthrough reports
-- this account): a profile, two images, a session, an API token, marketing preferences.
INSERT INTO users (email, username, display_name, country, birth_date, created_at)
VALUES ('pixel.kid@example.org', 'pixel_kid_2015', 'Pixel Kid', 'GB', date '2015-06-01', timestamptz '2026-03-01');
INSERT INTO profiles (user_id, bio, avatar_url)
SELECT id, 'I like drawing cats. Say hi: pixel_kid_2015', 'https://avatars.demo.invalid/avatars/' || id || '/avatar.png'
FROM users WHERE username = 'pixel_kid_2015';
INSERT INTO images (user_id, object_key, title, prompt, width, height)
SELECT id, 'images/' || id || '/kid-' || k || '.png', 'My cat #' || k, 'a cat drawn by pixel_kid_2015', 512, 512
FROM users, generate_series(1, 2) k WHERE username = 'pixel_kid_2015';
INSERT INTO sessions (id, user_id, ip, user_agent)
SELECT md5('pixel-kid-session')::uuid, id, '10.20.30.40', 'Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X)'
FROM users WHERE username = 'pixel_kid_2015';
INSERT INTO api_tokens (user_id, token_hash)
SELECT id, md5('pixel-kid-token') FROM users WHERE username = 'pixel_kid_2015';
INSERT INTO marketing_preferences (user_id) SELECT id FROM users WHERE username = 'pixel_kid_2015';

-- Likeness-style resources (the README's likeness walkthrough lists them): three models
-- made to reproduce a real person, "Dana Vale", with versions and weight files, and an
-- image generated with one of them, uploaded by the first seeded user.
INSERT INTO models (user_id, name, description, created_at)
SELECT (SELECT min(id) FROM users WHERE id > 0),
       'Dana Vale ' || (ARRAY['portrait LoRA', 'voice-style LoRA', 'full-body LoRA'])[k],
       'Trained on photos of the actress Dana Vale', timestamptz '2026-05-01'
FROM generate_series(1, 3) k;
INSERT INTO model_versions (model_id, version, notes)
SELECT id, 'v1', 'first release' FROM models WHERE name LIKE 'Dana Vale %';
INSERT INTO model_files (model_version_id, file_url, size_bytes, sha256)
SELECT v.id, 's3://platform-models/models/' || m.user_id || '/' || v.id || '/dana-vale.safetensors', 0, ''
FROM model_versions v JOIN models m ON m.id = v.model_id WHERE m.name LIKE 'Dana Vale %';
INSERT INTO images (user_id, model_id, object_key, title, prompt, width, height)
SELECT m.user_id, m.id, 'images/' || m.user_id || '/dana-vale-beach.png', 'Dana at the beach', 'dana vale, beach, photo', 512, 512
FROM models m WHERE m.name = 'Dana Vale portrait LoRA';
