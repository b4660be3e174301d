//! `lethe bench purge`: the heavy subject's deletion carried through the real path by
//! Lethe (filed over HTTP, queued, claimed, batched steps with their checkpoints and audit
//! entries, objects deleted, verified) on one fresh copy of the template, and the same
//! deletes as unbatched SQL in one psql session with the same DeleteObjects calls on
//! another, alternating which goes first each round.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use lethe_jobs::datamap::SubjectKey;
use lethe_jobs::purge::{Purger, Target, plan};
use secrecy::ExposeSecret;
use serde_json::json;

use super::bench::{Names, median, spread};
use super::bench_app::{BenchApp, Platform};
use super::bench_prepare::{copy_dir, drop_database, raw_script, recreate_database};
use super::bench_request::{Carried, approve, dry_run, file, slowest_steps, wait, wait_dry_runs};
use crate::config::Settings;

/// Runs the benchmark on the template `prepare-purge` made in `dir`; the results.
pub async fn run(
    settings: &Settings,
    names: &Names,
    dir: PathBuf,
    rounds: u32,
) -> anyhow::Result<serde_json::Value> {
    let (template, lethe_copy, raw_copy) = (
        names.of("purge_tmpl"),
        names.of("purge_a"),
        names.of("purge_b"),
    );
    let email = std::fs::read_to_string(dir.join("subject.txt"))
        .context("no prepared benchmark: run `lethe bench prepare-purge` first")?;
    let email = email.trim().to_owned();
    let base = settings.platform.database_url.expose_secret().to_owned();
    let (mut lethe_times, mut raw_times, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let (mut pickups, mut overheads, mut results) = (Vec::new(), Vec::new(), Vec::new());
    let (mut summary, mut key) = (None, None);
    for round in 1..=rounds {
        let lethe_url = recreate_database(&base, &lethe_copy, Some(&template)).await?;
        // Every copy holds the subject under the same key.
        let key = match &key {
            Some(key) => key,
            None => key.insert(subject_key(&lethe_url, &email).await?),
        };
        let raw_url = recreate_database(&base, &raw_copy, Some(&template)).await?;
        let lethe_first = round % 2 == 1;
        let (mut ours, mut raw) = (None, None);
        for side in if lethe_first { [0, 1] } else { [1, 0] } {
            if side == 0 {
                let s3 = dir.join("s3-lethe");
                copy_dir(&dir.join("s3-pristine"), &s3)?;
                ours = Some(
                    purge_with_lethe(settings, &names.of("purge_svc"), &lethe_copy, s3, key)
                        .await?,
                );
            } else {
                let s3 = dir.join("s3-raw");
                copy_dir(&dir.join("s3-pristine"), &s3)?;
                let target = Target {
                    subject: SubjectKey::new(key.clone()),
                    identities: vec![email.clone()],
                    hash_key: HASH_KEY.into(),
                };
                raw = Some(purge_raw(settings, &s3, &raw_url, &target).await?);
            }
        }
        drop_database(&base, &raw_copy).await?;
        let (ours, raw) = (
            ours.context("Lethe's side ran")?,
            raw.context("the raw side ran")?,
        );
        let (rows, objects) = (ours.figure("rows"), ours.figure("objects"));
        anyhow::ensure!(
            objects == raw.objects,
            "Lethe deleted {objects} objects and the raw side {}: not the same work",
            raw.objects
        );
        let seconds = ours.approved_to_completed();
        let ratio = seconds / raw.seconds;
        overheads.push(seconds - raw.seconds);
        println!(
            "round {round} ({} first): lethe {seconds:.2} s (pickup {:.3} s, job {:.2} s), raw {:.2} s, ratio {ratio:.2}",
            if lethe_first { "Lethe" } else { "raw" },
            ours.pickup(),
            ours.run(),
            raw.seconds
        );
        results.push(json!({
            "round": round,
            "first": if lethe_first { "lethe" } else { "raw" },
            "lethe_s": seconds,
            "lethe_pickup_s": ours.pickup(),
            "lethe_job_s": ours.run(),
            "raw_s": raw.seconds,
            "overhead_s": seconds - raw.seconds,
            "ratio": ratio,
        }));
        lethe_times.push(seconds);
        raw_times.push(raw.seconds);
        pickups.push(ours.pickup());
        ratios.push(ratio);
        summary = Some((rows, objects, raw.statements));
    }
    let (rows, objects, statements) = summary.unwrap_or_default();
    let (lethe, raw) = (median(&mut lethe_times), median(&mut raw_times));
    println!("rows purged        {rows} (deleted or rewritten), objects deleted {objects}");
    println!(
        "raw side           {statements} statements in one psql session, then the same objects in DeleteObjects calls (no verification)"
    );
    println!(
        "lethe median       {lethe:.2} s, approved to completed (queue, claim, batched steps with checkpoints, objects, verification, audit)"
    );
    println!(
        "queue pickup       median {:.3} s (approval's commit to the worker's claim)",
        median(&mut pickups)
    );
    println!(
        "overhead           median {:.3} s (Lethe minus raw, per round)",
        median(&mut overheads)
    );
    println!("raw median         {raw:.2} s");
    println!("ratio median       {}", spread(&mut ratios));
    Ok(json!({
        "rows": rows,
        "objects": objects,
        "raw_statements": statements,
        "lethe_median_s": lethe,
        "raw_median_s": raw,
        "pickup_median_s": median(&mut pickups),
        "overhead_median_s": median(&mut overheads),
        "ratio": super::bench::spread_json(&mut ratios),
        "rounds": results,
    }))
}

const HASH_KEY: &str = "bench-anonymize-key";

/// What the raw side did in one round.
struct Raw {
    seconds: f64,
    objects: u64,
    statements: usize,
}

#[derive(diesel::QueryableByName)]
struct KeyRow {
    #[diesel(sql_type = Text)]
    v: String,
}

#[derive(diesel::QueryableByName)]
struct IdRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// The raw side on the copy at `url` with its objects under `s3`: the subject's image
/// keys read, those objects deleted (1,000 keys per DeleteObjects call, four calls at a
/// time, as Lethe does), then the plan's steps as unbatched SQL in one psql session.
async fn purge_raw(
    settings: &Settings,
    s3: &Path,
    url: &str,
    target: &Target,
) -> anyhow::Result<Raw> {
    let (server, storage) = super::bench_prepare::storage_in(s3).await?;
    let platform = lethe_jobs::platform::pool(url, 2)?;
    let map = crate::startup::bind_data_map(crate::demo::DATA_MAP, &platform).await?;
    let purger = Purger::new(&platform, &map, &storage, settings.worker.purge_batch_size);
    // The statements come from the same plan, before the clock starts.
    let script = raw_script(&purger, &plan(&map), target)?;
    let script_path = s3.with_extension("sql");
    std::fs::write(&script_path, script.join("\n"))?;
    let started = Instant::now();
    let mut conn = platform.get().await?;
    let keys: Vec<String> =
        diesel::sql_query("SELECT object_key AS v FROM images WHERE user_id = $1::bigint")
            .bind::<Text, _>(target.subject.as_str())
            .load::<KeyRow>(&mut *conn)
            .await?
            .into_iter()
            .map(|r| r.v)
            .collect();
    drop(conn);
    let mut objects = 0;
    for group in keys.chunks(1000).collect::<Vec<_>>().chunks(4) {
        let calls = group
            .iter()
            .map(|chunk| storage.delete_keys(crate::demo::BUCKETS[0], chunk));
        objects += futures::future::try_join_all(calls)
            .await?
            .into_iter()
            .sum::<usize>() as u64;
    }
    let status = std::process::Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f"])
        .arg(&script_path)
        .status()?;
    let seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(status.success(), "psql failed");
    drop(platform);
    server.shutdown().await;
    Ok(Raw {
        seconds,
        objects,
        statements: script.len(),
    })
}

/// Lethe's deletion of the subject on the copy `platform` (dropped afterwards), objects
/// under `s3`: a whole Lethe on a fresh service database `service`, the request filed
/// with an assertion, dry-run and approved by a reviewer, and carried to completion by
/// its workers. The figure is from approval to completion.
async fn purge_with_lethe(
    settings: &Settings,
    service: &str,
    platform: &str,
    s3: PathBuf,
    subject: &str,
) -> anyhow::Result<Carried> {
    let app = BenchApp::launch(
        settings.clone(),
        service,
        Platform::Prepared {
            name: platform.to_owned(),
            s3_dir: s3,
            drop: true,
        },
        true,
    )
    .await?;
    let client = reqwest::Client::new();
    let reviewer = app.staff_token().await?;
    let id = file(&app, &client, "deletion", subject).await?;
    dry_run(&app, &client, &reviewer, id).await?;
    wait_dry_runs(&app, &[id], Duration::from_secs(3600)).await?;
    approve(&app, &client, &reviewer, id).await?;
    let carried = wait(&app, &[id], Duration::from_secs(3600)).await?;
    let slowest = slowest_steps(&app, id, 5).await?;
    app.finish().await?;
    println!("slowest parts: {}", slowest.join(", "));
    carried.into_iter().next().context("the request is gone")
}

/// The platform's key of the user with `email` on the database at `url`.
async fn subject_key(url: &str, email: &str) -> anyhow::Result<String> {
    let platform = lethe_jobs::platform::pool(url, 1)?;
    let mut conn = platform.get().await?;
    let row: IdRow = diesel::sql_query("SELECT id FROM users WHERE email = $1")
        .bind::<Text, _>(email)
        .get_result(&mut *conn)
        .await
        .context("the subject is missing")?;
    Ok(row.id.to_string())
}
