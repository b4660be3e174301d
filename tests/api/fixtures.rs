//! Fixtures shared by the deletion tests and others: the demo platform's heaviest subject,
//! the rows a purge of a subject may touch (written independently of the data map),
//! digests of everyone else's rows, and the platform's end state.

use std::collections::{BTreeMap, BTreeSet};

use diesel::QueryableByName;
use diesel::sql_types::{Array, BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use lethe_jobs::storage::Storage;

use crate::helpers::TextRow;

/// A platform user, as the deletion tests pick one.
#[derive(QueryableByName)]
pub(crate) struct Subject {
    #[diesel(sql_type = BigInt)]
    pub(crate) id: i64,
    #[diesel(sql_type = Text)]
    pub(crate) email: String,
    #[diesel(sql_type = Text)]
    pub(crate) username: String,
}

/// Per table: a key expression and the rows a purge of `$1` may touch (deleted, rewritten,
/// or detached by a foreign key), written independently of the data map.
pub(crate) const TOUCHED: &[(&str, &str, &str)] = &[
    ("users", "t.id::text", "t.id = $1 OR t.referred_by = $1"),
    ("profiles", "t.user_id::text", "t.user_id = $1"),
    (
        "images",
        "t.id::text",
        "t.user_id = $1 OR t.model_id IN (SELECT id FROM models WHERE user_id = $1)",
    ),
    (
        "models",
        "t.id::text",
        "t.user_id = $1 OR t.preview_image_id IN (SELECT id FROM images WHERE user_id = $1)",
    ),
    (
        "model_versions",
        "t.id::text",
        "t.model_id IN (SELECT id FROM models WHERE user_id = $1)",
    ),
    (
        "model_files",
        "t.id::text",
        "t.model_version_id IN (SELECT v.id FROM model_versions v JOIN models m ON m.id = v.model_id WHERE m.user_id = $1)",
    ),
    (
        "comments",
        "t.id::text",
        "t.user_id = $1 OR t.image_id IN (SELECT id FROM images WHERE user_id = $1) \
         OR t.parent_id IN (SELECT id FROM comments WHERE user_id = $1 OR image_id IN (SELECT id FROM images WHERE user_id = $1))",
    ),
    (
        "reactions",
        "(t.user_id, t.image_id, t.kind)::text",
        "t.user_id = $1 OR t.image_id IN (SELECT id FROM images WHERE user_id = $1)",
    ),
    (
        "follows",
        "(t.follower_id, t.followee_id)::text",
        "t.follower_id = $1 OR t.followee_id = $1",
    ),
    ("sessions", "t.id::text", "t.user_id = $1"),
    ("api_tokens", "t.id::text", "t.user_id = $1"),
    (
        "notifications",
        "t.id::text",
        "t.user_id = $1 OR t.actor_id = $1",
    ),
    ("marketing_preferences", "t.user_id::text", "t.user_id = $1"),
    ("payments", "t.id::text", "t.user_id = $1"),
    (
        "moderation_reports",
        "t.id::text",
        "t.reporter_id = $1 OR t.target_user_id = $1 OR t.image_id IN (SELECT id FROM images WHERE user_id = $1)",
    ),
    (
        "tips",
        "t.id::text",
        "t.from_user_id = $1 OR t.to_user_id = $1",
    ),
];

/// Per table, the keys of the rows a purge of `subject` may touch ([`TOUCHED`]).
pub(crate) async fn touched_keys(
    conn: &mut AsyncPgConnection,
    subject: i64,
) -> BTreeMap<&'static str, Vec<String>> {
    let mut out = BTreeMap::new();
    for (table, key, touched) in TOUCHED {
        let rows: Vec<TextRow> =
            diesel::sql_query(format!("SELECT {key} AS v FROM {table} t WHERE {touched}"))
                .bind::<BigInt, _>(subject)
                .load(conn)
                .await
                .unwrap();
        out.insert(*table, rows.into_iter().map(|r| r.v).collect());
    }
    out
}

/// A digest per table of every row outside `touched`.
pub(crate) async fn others_digest(
    conn: &mut AsyncPgConnection,
    touched: &BTreeMap<&'static str, Vec<String>>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (table, key, _) in TOUCHED {
        let row: TextRow = diesel::sql_query(format!(
            "SELECT coalesce(md5(string_agg(row_to_json(t)::text, '|' ORDER BY row_to_json(t)::text)), '') || ':' || count(*) AS v \
             FROM {table} t WHERE NOT ({key} = ANY($1))"
        ))
        .bind::<Array<Text>, _>(&touched[table])
        .get_result(conn)
        .await
        .unwrap();
        out.insert(table.to_string(), row.v);
    }
    out
}

/// Every table's full contents and every bucket's keys: the end state of the platform.
pub(crate) async fn fingerprint(
    conn: &mut AsyncPgConnection,
    storage: &Storage,
) -> (BTreeMap<String, String>, BTreeSet<String>) {
    let mut tables = BTreeMap::new();
    for (table, _, _) in TOUCHED {
        let row: TextRow = diesel::sql_query(format!(
            "SELECT coalesce(md5(string_agg(row_to_json(t)::text, '|' ORDER BY row_to_json(t)::text)), '') || ':' || count(*) AS v FROM {table} t"
        ))
        .get_result(conn)
        .await
        .unwrap();
        tables.insert(table.to_string(), row.v);
    }
    (tables, objects(storage).await)
}

/// Every object key in the demo platform's buckets, as `bucket/key`.
pub(crate) async fn objects(storage: &Storage) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for bucket in lethe::demo::BUCKETS {
        for key in storage.list_prefix(bucket, "").await.unwrap() {
            keys.insert(format!("{bucket}/{key}"));
        }
    }
    keys
}

/// The objects the subject's rows name, as `bucket/key`.
pub(crate) async fn subject_objects(
    conn: &mut AsyncPgConnection,
    subject: i64,
) -> BTreeSet<String> {
    let rows: Vec<TextRow> = diesel::sql_query(
        "SELECT 'platform-images/' || object_key AS v FROM images WHERE user_id = $1 \
         UNION SELECT 'platform-models/' || substr(f.file_url, length('s3://platform-models/') + 1) \
           FROM model_files f JOIN model_versions v ON v.id = f.model_version_id JOIN models m ON m.id = v.model_id WHERE m.user_id = $1 \
         UNION SELECT 'platform-avatars/avatars/' || $1 || '/' || n FROM unnest(ARRAY['avatar.png', 'avatar-128.png']) n",
    )
    .bind::<BigInt, _>(subject)
    .load(conn)
    .await
    .unwrap();
    rows.into_iter().map(|r| r.v).collect()
}

/// Of the users whose id ends in 3, the one with the most images and models (a model
/// counting ten images).
pub(crate) async fn heavy_subject(conn: &mut AsyncPgConnection) -> Subject {
    diesel::sql_query(
        "SELECT u.id, u.email, u.username FROM users u WHERE u.id % 10 = 3 \
         ORDER BY (SELECT count(*) FROM images i WHERE i.user_id = u.id) + 10 * (SELECT count(*) FROM models m WHERE m.user_id = u.id) DESC LIMIT 1",
    )
    .get_result(conn)
    .await
    .unwrap()
}
