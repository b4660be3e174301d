//! `lethe bench purge`: the heavy subject purged by Lethe (batched, objects deleted,
//! verified) on one fresh copy of the template, and the same deletes as unbatched SQL in
//! one psql session on another, alternating which goes first each round.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use lethe_jobs::platform::{SubjectLookup, locate};
use lethe_jobs::purge::{Purger, Target, plan};
use secrecy::ExposeSecret;

use super::bench::{
    Names, copy_dir, drop_database, median, peak_rss, raw_script, recreate_database, spread,
    storage,
};
use crate::config::Settings;

/// What Lethe's purge did in one round.
struct Purged {
    seconds: f64,
    rows: u64,
    objects: u64,
    slowest: Vec<String>,
}

/// Runs the benchmark on the template `prepare-purge` made in `dir`.
pub async fn run(
    settings: &Settings,
    names: &Names,
    dir: PathBuf,
    rounds: u32,
) -> anyhow::Result<()> {
    let (template, lethe_copy, raw_copy) = (
        names.of("purge_tmpl"),
        names.of("purge_a"),
        names.of("purge_b"),
    );
    let email = std::fs::read_to_string(dir.join("subject.txt"))
        .context("no prepared benchmark: run `lethe bench prepare-purge` first")?;
    let email = email.trim().to_owned();
    let base = settings.platform.database_url.expose_secret().to_owned();
    let (mut lethe_times, mut sql_times, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let mut summary = None;
    for round in 1..=rounds {
        let lethe_url = recreate_database(&base, &lethe_copy, Some(&template)).await?;
        let raw_url = recreate_database(&base, &raw_copy, Some(&template)).await?;
        copy_dir(&dir.join("s3-pristine"), &dir.join("s3"))?;
        let lethe_first = round % 2 == 1;
        let (mut ours, mut raw, mut statements) = (None, 0.0, 0);
        for side in if lethe_first { [0, 1] } else { [1, 0] } {
            if side == 0 {
                ours = Some(purge_with_lethe(settings, &dir, &lethe_url, &email).await?);
            } else {
                // The statements come from the same plan on an untouched copy.
                let script = script_for(settings, &dir, &raw_url, &email).await?;
                statements = script.len();
                let script_path = dir.join("raw.sql");
                std::fs::write(&script_path, script.join("\n"))?;
                let started = Instant::now();
                let status = std::process::Command::new("psql")
                    .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &raw_url, "-f"])
                    .arg(&script_path)
                    .status()?;
                raw = started.elapsed().as_secs_f64();
                anyhow::ensure!(status.success(), "psql failed");
            }
        }
        drop_database(&base, &lethe_copy).await?;
        drop_database(&base, &raw_copy).await?;
        let ours = ours.context("Lethe's side ran")?;
        println!("round {round}: slowest steps: {}", ours.slowest.join(", "));
        println!(
            "round {round} ({} first): lethe {:.2} s, raw SQL {raw:.2} s, ratio {:.2}",
            if lethe_first { "Lethe" } else { "raw SQL" },
            ours.seconds,
            ours.seconds / raw
        );
        lethe_times.push(ours.seconds);
        sql_times.push(raw);
        ratios.push(ours.seconds / raw);
        summary = Some((ours.rows, ours.objects, statements));
    }
    let (rows, objects, statements) = summary.unwrap_or_default();
    println!("rows purged        {rows} (deleted or rewritten), objects deleted {objects}");
    println!(
        "raw SQL            {statements} statements in one psql session (rows only, no objects, no verification)"
    );
    println!(
        "lethe median       {:.2} s (batched, objects deleted, verified)",
        median(&mut lethe_times)
    );
    println!("raw SQL median     {:.2} s", median(&mut sql_times));
    println!("ratio median       {}", spread(&mut ratios));
    println!(
        "peak RSS (VmHWM)   {}",
        peak_rss().unwrap_or_else(|| "unknown".into())
    );
    Ok(())
}

const HASH_KEY: &str = "bench-anonymize-key";

/// The raw side's statements: the plan's steps, unbatched, for the subject on the copy at
/// `url` (read only).
async fn script_for(
    settings: &Settings,
    dir: &Path,
    url: &str,
    email: &str,
) -> anyhow::Result<Vec<String>> {
    let (server, storage) = storage(dir).await?;
    let platform = lethe_jobs::platform::pool(url, 2)?;
    let map = crate::startup::bind_data_map(crate::demo::DATA_MAP, &platform).await?;
    let target = target(&platform, &map, email).await?;
    let purger = Purger::new(&platform, &map, &storage, settings.worker.purge_batch_size);
    let script = raw_script(&purger, &plan(&map), &target)?;
    drop(platform);
    server.shutdown().await;
    Ok(script)
}

async fn target(
    platform: &lethe_jobs::platform::PlatformPool,
    map: &lethe_jobs::datamap::BoundMap,
    email: &str,
) -> anyhow::Result<Target> {
    let mut conn = platform.get().await?;
    let subject = locate(&mut conn, map, &SubjectLookup::Email(email.to_owned()))
        .await?
        .context("subject missing")?;
    Ok(Target {
        subject,
        identities: vec![email.to_owned()],
        hash_key: HASH_KEY.into(),
    })
}

/// Lethe's purge of the subject on the copy at `url`: every step, then verification.
async fn purge_with_lethe(
    settings: &Settings,
    dir: &Path,
    url: &str,
    email: &str,
) -> anyhow::Result<Purged> {
    let (server, storage) = storage(dir).await?;
    let platform = lethe_jobs::platform::pool(url, 2)?;
    let map = crate::startup::bind_data_map(crate::demo::DATA_MAP, &platform).await?;
    let plan = plan(&map);
    let target = target(&platform, &map, email).await?;
    let purger = Purger::new(&platform, &map, &storage, settings.worker.purge_batch_size);
    let started = Instant::now();
    let (mut rows, mut objects) = (0, 0);
    let mut timings = Vec::new();
    for step in &plan.steps {
        let step_started = Instant::now();
        let report = purger.run_step(step, &target).await?;
        timings.push((step_started.elapsed().as_secs_f64(), step.label()));
        rows += report.rows;
        objects += report.objects;
    }
    let verify_started = Instant::now();
    let leftovers = purger.verify(&plan, &target).await?;
    timings.push((
        verify_started.elapsed().as_secs_f64(),
        "verification".into(),
    ));
    let seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        leftovers.is_empty(),
        "verification found leftovers: {leftovers:?}"
    );
    timings.sort_by(|a, b| b.0.total_cmp(&a.0));
    let slowest = timings
        .iter()
        .take(5)
        .map(|(t, l)| format!("{l} {t:.2}s"))
        .collect();
    drop(platform);
    server.shutdown().await;
    Ok(Purged {
        seconds,
        rows,
        objects,
        slowest,
    })
}
