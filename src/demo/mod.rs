//! The demo platform: a realistic community AI-art site in its own database, with real
//! bytes in its buckets, for `lethe demo`, the tests and the benchmarks. Lethe never owns
//! a real platform's schema; this one exists so there is something true to work on.

pub mod large;
pub mod png;

use anyhow::Context;
use diesel::QueryableByName;
use diesel::sql_types::{Array, BigInt, Bool, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use futures::{StreamExt, TryStreamExt};
use lethe_jobs::datamap::{KeyFormat, object_key};
use lethe_jobs::storage::{ObjectRef, Storage};
use sha2::{Digest, Sha256};

/// The demo platform's schema.
pub const PLATFORM_SCHEMA: &str = include_str!("platform.sql");
const SEED_SQL: &str = include_str!("seed.sql");
/// The demo platform's data map (also at `config/datamap.toml`).
pub const DATA_MAP: &str = include_str!("../../config/datamap.toml");
/// The demo platform's buckets: images, model files, avatars.
pub const BUCKETS: [&str; 3] = ["platform-images", "platform-models", "platform-avatars"];

/// What seeding made.
#[derive(Debug, Clone, Default)]
pub struct SeedStats {
    /// Users.
    pub users: i64,
    /// Rows across all tables.
    pub rows: i64,
    /// Objects put into the buckets.
    pub objects: usize,
    /// Their bytes.
    pub object_bytes: u64,
}

#[derive(QueryableByName)]
struct Flag {
    #[diesel(sql_type = Bool)]
    flag: bool,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct IdText {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    v: String,
}

/// Whether the platform schema is installed.
pub async fn has_schema(conn: &mut AsyncPgConnection) -> anyhow::Result<bool> {
    let f: Flag = diesel::sql_query("SELECT to_regclass('public.users') IS NOT NULL AS flag")
        .get_result(conn)
        .await?;
    Ok(f.flag)
}

/// Installs the schema and seeds `users` users (deterministic for a given `seed` in
/// [-1, 1]), then puts real bytes behind every object key.
pub async fn install_and_seed(
    conn: &mut AsyncPgConnection,
    storage: &Storage,
    users: u32,
    seed: f64,
) -> anyhow::Result<SeedStats> {
    anyhow::ensure!(users >= 2, "the demo platform needs at least 2 users");
    conn.batch_execute(&format!("BEGIN; {PLATFORM_SCHEMA}; COMMIT;"))
        .await
        .context("installing the demo platform schema")?;
    let sql = SEED_SQL
        .replace("{users}", &users.to_string())
        .replace("{seed}", &seed.clamp(-1.0, 1.0).to_string());
    conn.batch_execute(&format!("BEGIN; {sql}; COMMIT;"))
        .await
        .context("seeding the demo platform")?;
    put_objects(conn, storage).await?;
    stats(conn).await
}

/// Counts users and rows.
pub async fn stats(conn: &mut AsyncPgConnection) -> anyhow::Result<SeedStats> {
    let users: Count = diesel::sql_query("SELECT count(*) AS n FROM users")
        .get_result(conn)
        .await?;
    let rows: Count = diesel::sql_query(
        "SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM profiles) + (SELECT count(*) FROM images) \
         + (SELECT count(*) FROM models) + (SELECT count(*) FROM model_versions) + (SELECT count(*) FROM model_files) \
         + (SELECT count(*) FROM comments) + (SELECT count(*) FROM reactions) + (SELECT count(*) FROM follows) \
         + (SELECT count(*) FROM sessions) + (SELECT count(*) FROM notifications) + (SELECT count(*) FROM marketing_preferences) \
         + (SELECT count(*) FROM payments) + (SELECT count(*) FROM moderation_reports) + (SELECT count(*) FROM tips) AS n",
    )
    .get_result(conn)
    .await?;
    Ok(SeedStats {
        users: users.n,
        rows: rows.n,
        ..SeedStats::default()
    })
}

/// Puts bytes behind every object key the platform names: a PNG per image, weights per
/// model file (recording their size and checksum), two avatars per user.
pub async fn put_objects(
    conn: &mut AsyncPgConnection,
    storage: &Storage,
) -> anyhow::Result<(usize, u64)> {
    for bucket in BUCKETS {
        storage.ensure_bucket(bucket).await?;
    }
    let mut objects: Vec<(ObjectRef, Vec<u8>, &'static str)> = Vec::new();
    let images: Vec<IdText> = diesel::sql_query("SELECT id, object_key AS v FROM images")
        .load(conn)
        .await?;
    for row in images {
        let png = png::gradient(32, seed_of(&row.v));
        objects.push((
            ObjectRef {
                bucket: BUCKETS[0].into(),
                key: row.v,
            },
            png,
            "image/png",
        ));
    }
    let files: Vec<IdText> = diesel::sql_query("SELECT id, file_url AS v FROM model_files")
        .load(conn)
        .await?;
    let (mut ids, mut sizes, mut sums) = (Vec::new(), Vec::new(), Vec::new());
    for row in files {
        let key =
            object_key(&row.v, KeyFormat::Url).context("a demo model file URL without a key")?;
        let bytes = weights(seed_of(&key));
        ids.push(row.id);
        sizes.push(bytes.len() as i64);
        sums.push(hex::encode(Sha256::digest(&bytes)));
        objects.push((
            ObjectRef {
                bucket: BUCKETS[1].into(),
                key,
            },
            bytes,
            "application/octet-stream",
        ));
    }
    diesel::sql_query(
        "UPDATE model_files m SET size_bytes = v.size, sha256 = v.sum \
         FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS v(id, size, sum) WHERE m.id = v.id",
    )
    .bind::<Array<BigInt>, _>(&ids)
    .bind::<Array<BigInt>, _>(&sizes)
    .bind::<Array<Text>, _>(&sums)
    .execute(conn)
    .await?;
    let users: Vec<IdText> = diesel::sql_query("SELECT id, username AS v FROM users")
        .load(conn)
        .await?;
    for row in users {
        for (name, size) in [("avatar.png", 64), ("avatar-128.png", 128)] {
            let key = format!("avatars/{}/{name}", row.id);
            objects.push((
                ObjectRef {
                    bucket: BUCKETS[2].into(),
                    key,
                },
                png::gradient(size, row.id as u64 * 31),
                "image/png",
            ));
        }
    }
    put_all(storage, objects).await
}

/// Uploads objects 16 at a time.
pub async fn put_all(
    storage: &Storage,
    objects: Vec<(ObjectRef, Vec<u8>, &'static str)>,
) -> anyhow::Result<(usize, u64)> {
    let count = objects.len();
    let bytes: u64 = objects.iter().map(|(_, b, _)| b.len() as u64).sum();
    futures::stream::iter(objects)
        .map(|(object, body, content_type)| async move {
            storage.put_bytes(&object, body, content_type).await
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await?;
    Ok((count, bytes))
}

/// Deterministic pseudo-random "model weights" of 8–40 KiB.
fn weights(seed: u64) -> Vec<u8> {
    let len = 8192 + (seed % 32768) as usize;
    let mut state = seed | 1;
    let mut out = b"LETHE-DEMO-SAFETENSORS\n".to_vec();
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn seed_of(key: &str) -> u64 {
    let digest = Sha256::digest(key.as_bytes());
    u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// Adds one heavy subject (for benchmarks): about `rows` rows across images, comments,
/// notifications, sessions and reactions, and `objects` images with real bytes.
/// Returns the subject's email.
pub async fn add_heavy_subject(
    conn: &mut AsyncPgConnection,
    storage: &Storage,
    rows: u64,
    objects: u32,
) -> anyhow::Result<String> {
    let email = format!(
        "heavy.subject.{}@example.com",
        uuid::Uuid::now_v7().simple()
    );
    let max_image: Count = diesel::sql_query("SELECT coalesce(max(id), 0) AS n FROM images")
        .get_result(conn)
        .await?;
    let objects = i64::from(objects);
    let rows = rows as i64;
    let notifications = rows / 4;
    let sessions = rows * 15 / 100;
    let reactions = (rows / 10).min((max_image.n + objects) * 4);
    let comments = (rows - objects - notifications - sessions - reactions - 1).max(0);
    let sql = format!(
        "BEGIN;
         INSERT INTO users (email, username, display_name, signup_ip, country, birth_date)
           VALUES ('{email}', 'heavy_{suffix}', 'Heavy Subject', '10.9.9.9', 'DE', '1990-05-17');
         CREATE TEMP TABLE heavy ON COMMIT DROP AS SELECT id FROM users WHERE email = '{email}';
         INSERT INTO images (user_id, object_key, title, prompt, width, height, meta)
           SELECT h.id, 'images/' || h.id || '/heavy-' || g || '.png', 'Heavy #' || g, 'a prompt', 512, 512, '{{\"upload_ip\": \"10.9.9.9\"}}'
           FROM heavy h, generate_series(1, {objects}) g;
         INSERT INTO comments (user_id, image_id, body)
           SELECT h.id, 1 + (g % (SELECT max(id) FROM images)), 'comment number ' || g || ' with some text to make it realistic'
           FROM heavy h, generate_series(1, {comments}) g;
         INSERT INTO notifications (user_id, actor_id, kind, payload)
           SELECT h.id, 1, 'reaction', jsonb_build_object('actor_username', 'someone', 'n', g)
           FROM heavy h, generate_series(1, {notifications}) g;
         INSERT INTO sessions (id, user_id, ip, user_agent, meta)
           SELECT md5(h.id || ':heavy:' || g)::uuid, h.id, '10.9.9.9', 'Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0', '{{\"ip\": \"10.9.9.9\"}}'
           FROM heavy h, generate_series(1, {sessions}) g;
         INSERT INTO reactions (user_id, image_id, kind)
           SELECT h.id, 1 + (g / 4), (ARRAY['like','heart','laugh','wow'])[1 + g % 4]
           FROM heavy h, generate_series(0, {reactions} - 1) g;
         COMMIT;",
        suffix = uuid::Uuid::now_v7().simple(),
    );
    conn.batch_execute(&sql)
        .await
        .context("adding the heavy subject")?;
    let keys: Vec<IdText> = diesel::sql_query(
        "SELECT i.id, i.object_key AS v FROM images i JOIN users u ON u.id = i.user_id WHERE u.email = $1",
    )
    .bind::<Text, _>(&email)
    .load(conn)
    .await?;
    let objects = keys
        .into_iter()
        .map(|r| {
            (
                ObjectRef {
                    bucket: BUCKETS[0].into(),
                    key: r.v.clone(),
                },
                png::gradient(32, seed_of(&r.v)),
                "image/png",
            )
        })
        .collect();
    put_all(storage, objects).await?;
    Ok(email)
}
