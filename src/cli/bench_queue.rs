//! `lethe bench queue`: queue throughput. Small deletions (one per seeded user) are filed
//! over HTTP with assertions, dry-run and approved by a reviewer over HTTP while no worker
//! runs, so their purges wait in the queue; the service and platform databases are then
//! templates. For each of 1, 2, 4 … `lethe work` processes, fresh copies of both are made,
//! the processes started on them, and the time until every request is completed measured.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;
use secrecy::ExposeSecret;
use serde_json::json;

use super::bench::Names;
use super::bench_app::{BenchApp, Platform, drive};
use super::bench_prepare::{copy_dir, drop_database, recreate_database, storage_in};
use super::bench_queue_run::Run;
use super::bench_request::{approve, dry_run, wait_dry_runs};
use crate::config::Settings;

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// What `lethe bench queue` was asked to do.
pub struct Queue<'a> {
    /// Deletions per run.
    pub deletions: usize,
    /// Numbers of `lethe work` processes, one run each.
    pub workers: &'a [usize],
    /// Concurrent connections filing the deletions.
    pub connections: usize,
    /// Benchmark directory.
    pub dir: &'a Path,
}

/// Runs the benchmark: `deletions` requests per run, one run per entry of `workers`.
pub async fn run(
    settings: &Settings,
    names: &Names,
    config: Option<&Path>,
    queue: &Queue<'_>,
) -> anyhow::Result<serde_json::Value> {
    anyhow::ensure!(
        queue.workers.iter().all(|&k| (1..=64).contains(&k)),
        "--workers: each count must be between 1 and 64"
    );
    let dir = std::path::absolute(queue.dir)?;
    let base = settings.platform.database_url.expose_secret().to_owned();
    let (platform_tmpl, service_tmpl) =
        (names.of("queue_platform_tmpl"), names.of("queue_svc_tmpl"));
    let outcome = async {
        let seeded = seed_template(settings, &platform_tmpl, &dir, queue.deletions).await?;
        let runs = runs(settings, names, config, &dir, queue).await?;
        anyhow::Ok(json!({ "deletions": queue.deletions, "seeded": seeded, "runs": runs }))
    }
    .await;
    // The templates go whether the runs succeeded or not.
    drop_database(&base, &service_tmpl).await?;
    drop_database(&base, &platform_tmpl).await?;
    outcome
}

/// Prepares the service template, then measures each number of worker processes.
async fn runs(
    settings: &Settings,
    names: &Names,
    config: Option<&Path>,
    dir: &Path,
    queue: &Queue<'_>,
) -> anyhow::Result<Vec<serde_json::Value>> {
    let deletions = queue.deletions;
    let base = settings.platform.database_url.expose_secret().to_owned();
    let (platform_tmpl, service_tmpl) =
        (names.of("queue_platform_tmpl"), names.of("queue_svc_tmpl"));
    let (secret_key, map) = approve_all(
        settings,
        &service_tmpl,
        &platform_tmpl,
        dir,
        deletions,
        queue.connections,
    )
    .await?;
    let mut runs = Vec::new();
    for &count in queue.workers {
        let service_url =
            recreate_database(&base, &names.of("queue_svc"), Some(&service_tmpl)).await?;
        let platform_url =
            recreate_database(&base, &names.of("queue_platform"), Some(&platform_tmpl)).await?;
        let s3 = dir.join("s3-run");
        copy_dir(&dir.join("s3-pristine"), &s3)?;
        let run = Run {
            service_url: &service_url,
            platform_url: &platform_url,
            secret_key: &secret_key,
            map: &map,
            s3: &s3,
            dir,
            config,
        };
        let outcome = run.measure(deletions, count).await;
        drop_database(&base, &names.of("queue_svc")).await?;
        drop_database(&base, &names.of("queue_platform")).await?;
        let outcome = outcome?;
        println!(
            "{count} `lethe work` process{}: {deletions} deletions in {:.2} s from start: {:.0} deletions/s ({:.0}/s from the first completion to the last), job median {:.3} s",
            if count == 1 { "" } else { "es" },
            outcome["wall_s"].as_f64().unwrap_or(f64::NAN),
            outcome["per_s"].as_f64().unwrap_or(f64::NAN),
            outcome["steady_per_s"].as_f64().unwrap_or(f64::NAN),
            outcome["job_median_s"].as_f64().unwrap_or(f64::NAN),
        );
        runs.push(outcome);
    }
    Ok(runs)
}

/// Seeds the template platform with `users` demo users and keeps its objects in
/// `dir/s3-pristine`.
async fn seed_template(
    settings: &Settings,
    template: &str,
    dir: &Path,
    users: usize,
) -> anyhow::Result<serde_json::Value> {
    let base = settings.platform.database_url.expose_secret().to_owned();
    let url = recreate_database(&base, template, None).await?;
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    let started = Instant::now();
    let (server, storage) = storage_in(&dir.join("s3-pristine")).await?;
    let platform = lethe_jobs::platform::pool(&url, 1)?;
    let mut conn = platform.get().await?;
    let users = u32::try_from(users).context("--deletions is too large")?;
    crate::demo::install_and_seed(&mut conn, &storage, users, 0.42).await?;
    let rows: IdRow =
        diesel::sql_query("SELECT sum(n_live_tup)::bigint AS id FROM pg_stat_user_tables")
            .get_result(&mut *conn)
            .await?;
    drop(conn);
    drop(platform);
    server.shutdown().await;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "seeded {users} users (about {} rows) in {seconds:.1} s",
        rows.id
    );
    Ok(json!({ "users": users, "rows": rows.id, "seconds": seconds }))
}

/// On a whole Lethe over the template platform, files one deletion per user (over HTTP,
/// with assertions), has each dry-run, stops the workers and approves them all: the
/// service database `service` is left with `deletions` purges waiting in the queue.
/// Returns the secret key it used and the data map's path.
async fn approve_all(
    settings: &Settings,
    service: &str,
    platform: &str,
    dir: &Path,
    deletions: usize,
    connections: usize,
) -> anyhow::Result<(String, PathBuf)> {
    let started = Instant::now();
    let s3 = dir.join("s3-setup");
    copy_dir(&dir.join("s3-pristine"), &s3)?;
    let mut app = BenchApp::launch(
        settings.clone(),
        service,
        Platform::Prepared {
            name: platform.to_owned(),
            s3_dir: s3,
            drop: false,
        },
        true,
    )
    .await?;
    let pool = lethe_jobs::platform::pool(&app.platform_url, 1)?;
    let mut conn = pool.get().await?;
    let subjects: Vec<IdRow> =
        diesel::sql_query("SELECT id FROM users WHERE id > 0 ORDER BY id LIMIT $1")
            .bind::<BigInt, _>(deletions as i64)
            .load(&mut *conn)
            .await?;
    drop(conn);
    drop(pool);
    anyhow::ensure!(
        subjects.len() == deletions,
        "the platform has {} users, not {deletions}",
        subjects.len()
    );
    let client = reqwest::Client::new();
    let assertions: VecDeque<String> = subjects
        .iter()
        .map(|s| app.assertion(&s.id.to_string()))
        .collect::<anyhow::Result<_>>()?;
    let endpoint = format!("{}/v1/requests", app.address);
    drive(&client, assertions, connections, move |c, assertion| {
        c.post(&endpoint)
            .json(&json!({ "kind": "deletion", "assertion": assertion }))
    })
    .await?;
    let ids: Vec<uuid::Uuid> = {
        use diesel::{ExpressionMethods, QueryDsl};
        let mut conn = app.services.db.get().await?;
        crate::schema::requests::table
            .filter(crate::schema::requests::status.eq("verified"))
            .select(crate::schema::requests::id)
            .load(&mut conn)
            .await?
    };
    anyhow::ensure!(ids.len() == deletions, "{} deletions verified", ids.len());
    let reviewer = app.staff_token().await?;
    // A dry run that still lost to another (each runs up to four times) is asked for
    // again, as a reviewer would.
    let mut pending = ids.clone();
    for _ in 0..5 {
        each(&pending, connections, |id| {
            dry_run(&app, &client, &reviewer, id)
        })
        .await?;
        wait_dry_runs(&app, &pending, Duration::from_secs(4 * 3600)).await?;
        pending = unclean(&app, &pending).await?;
        if pending.is_empty() {
            break;
        }
        println!(
            "{} dry runs lost to concurrent ones; asking again",
            pending.len()
        );
    }
    anyhow::ensure!(
        pending.is_empty(),
        "{} dry runs never finished cleanly",
        pending.len()
    );
    // With no worker running, the approved purges wait in the queue.
    app.stop_workers().await?;
    each(&ids, connections, |id| {
        approve(&app, &client, &reviewer, id)
    })
    .await?;
    let secret = app
        .services
        .settings
        .security
        .secret_key
        .expose_secret()
        .to_owned();
    let map = app.services.settings.platform.data_map.clone();
    let map_copy = dir.join("datamap.toml");
    std::fs::copy(&map, &map_copy)?;
    app.keep_databases();
    app.finish().await?;
    println!(
        "{deletions} deletions filed, dry-run and approved in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok((secret, map_copy))
}

/// Runs `call` for every id, `connections` at a time.
async fn each<F>(
    ids: &[uuid::Uuid],
    connections: usize,
    call: impl Fn(uuid::Uuid) -> F,
) -> anyhow::Result<()>
where
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    use futures::{StreamExt, TryStreamExt};
    futures::stream::iter(ids.iter().copied().map(call))
        .buffer_unordered(connections)
        .try_collect()
        .await
}

/// Those of `ids` whose latest dry run did not finish cleanly.
async fn unclean(app: &BenchApp, ids: &[uuid::Uuid]) -> anyhow::Result<Vec<uuid::Uuid>> {
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        request_id: uuid::Uuid,
    }
    let mut conn = app.services.db.get().await?;
    let rows: Vec<Id> = diesel::sql_query(
        "SELECT request_id FROM (SELECT DISTINCT ON (request_id) request_id, status, report \
           FROM rehearsals WHERE request_id = ANY($1) ORDER BY request_id, requested_at DESC) r \
          WHERE status <> 'done' OR (report->>'complete')::boolean IS NOT TRUE OR report ? 'failure' AND report->'failure' <> 'null'::jsonb",
    )
    .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(ids)
    .load(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.request_id).collect())
}
