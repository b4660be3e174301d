//! Database tests: seed a scratch database and an embedded S3
//! server, run every answer-key query, purge subjects with the reference purge and check
//! the answer key holds. `LARGE_PG` = server URL (default postgres://postgres@127.0.0.1:5432);
//! `LARGE_USERS`, `LARGE_HEAVY_SUBJECTS`, `LARGE_HEAVY_ROWS`, `LARGE_HEAVY_OBJECTS` override
//! the size.

use std::time::Instant;

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use lethe_jobs::s3server::EmbeddedS3;
use lethe_jobs::storage::{S3Settings, Storage};

use super::check::Snapshot;
use super::*;

fn env(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[derive(QueryableByName)]
struct Who {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Text)]
    username: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeds_and_the_reference_purge_satisfies_the_answer_key() {
    let server =
        std::env::var("LARGE_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let db = format!("lethe_large_test_{}", std::process::id());
    let mut admin = AsyncPgConnection::establish(&format!("{server}/postgres"))
        .await
        .expect("admin connection");
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {db}"))
        .await
        .expect("drop db");
    admin
        .batch_execute(&format!("CREATE DATABASE {db}"))
        .await
        .expect("create db");
    let dir = tempfile::tempdir().expect("tempdir");
    let s3 = EmbeddedS3::start(
        dir.path(),
        "127.0.0.1:0".parse().expect("addr"),
        "large",
        "large-secret",
    )
    .await
    .expect("s3");
    let storage = Storage::new(&S3Settings {
        endpoint: Some(s3.endpoint()),
        region: "us-east-1".into(),
        path_style: true,
        access_key_id: "large".into(),
        secret_access_key: "large-secret".into(),
        versioning: false,
    });
    let d = LargeOptions::default();
    let options = LargeOptions {
        users: env("LARGE_USERS").map_or(d.users, |v| v as u32),
        heavy_rows: env("LARGE_HEAVY_ROWS").unwrap_or(d.heavy_rows),
        heavy_objects: env("LARGE_HEAVY_OBJECTS").map_or(d.heavy_objects, |v| v as u32),
        heavy_subjects: env("LARGE_HEAVY_SUBJECTS").map_or(d.heavy_subjects, |v| v as u32),
        ..d
    };
    let mut conn = AsyncPgConnection::establish(&format!("{server}/{db}"))
        .await
        .expect("connection");
    let started = Instant::now();
    let seed = install_and_seed(&mut conn, &storage, &options)
        .await
        .expect("seeding");
    println!("{options:?}: seeded {seed:?} in {:.2?}", started.elapsed());
    assert!(has_schema(&mut conn).await.expect("has_schema"));

    let key = answer_key();
    let tables = schema::tables();
    let ordinary: Who = diesel::sql_query(
        "SELECT u.\"id\", u.\"email\", u.\"username\" FROM \"User\" u WHERE u.\"id\" BETWEEN 1 AND $1 \
         ORDER BY (SELECT count(*) FROM \"Comment\" c WHERE c.\"userId\" = u.\"id\") DESC, u.\"id\" LIMIT 1",
    )
    .bind::<BigInt, _>(i64::from(options.users))
    .get_result(&mut conn)
    .await
    .expect("an active ordinary user");
    let mut failures = Vec::new();
    for subject in seed.heavy.iter().copied().chain([ordinary.id]) {
        let who: Who = diesel::sql_query(
            "SELECT \"id\", \"email\", \"username\" FROM \"User\" WHERE \"id\" = $1",
        )
        .bind::<BigInt, _>(subject)
        .get_result(&mut conn)
        .await
        .expect("subject");
        let t = Instant::now();
        let before = Snapshot::take(&mut conn, &storage, &key, subject)
            .await
            .expect("answer-key queries run");
        let gone: usize = before.gone_counts(&key).values().sum();
        println!(
            "subject {subject}: snapshot in {:.2?}: {gone} rows gone in {} tables, {} objects",
            t.elapsed(),
            before.gone_counts(&key).len(),
            before.subject_object_count()
        );
        let mut objects = Vec::new();
        for b in &key.subject_objects {
            let keys: Vec<Key> = diesel::sql_query(&b.sql)
                .bind::<BigInt, _>(subject)
                .load(&mut conn)
                .await
                .expect("objects");
            objects.push((
                b.bucket.clone(),
                keys.into_iter().map(|k| k.k).collect::<Vec<_>>(),
            ));
        }
        let t = Instant::now();
        let sql = reference::purge_sql(&tables, &key, subject, &who.email, &who.username);
        conn.batch_execute(&sql).await.expect("reference purge");
        for (bucket, keys) in &objects {
            if !keys.is_empty() {
                storage
                    .delete_keys(bucket, keys)
                    .await
                    .expect("delete objects");
            }
        }
        println!("subject {subject}: reference purge in {:.2?}", t.elapsed());
        let violations = before
            .verify(&mut conn, &storage, &key)
            .await
            .expect("verify");
        for v in violations.iter().take(40) {
            println!("  violation: {v}");
        }
        if !violations.is_empty() {
            failures.push((subject, violations.len()));
        }
    }
    drop(conn);
    s3.shutdown().await;
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .await
        .expect("drop db");
    assert!(failures.is_empty(), "violations: {failures:?}");
}

#[derive(QueryableByName)]
struct Key {
    #[diesel(sql_type = Text)]
    k: String,
}
