//! `lethe bench prepare-large` and `lethe bench large`: the rehearsal and the purge of one
//! heavy subject of the large messy platform (~280 tables), against the same statements
//! run as raw SQL in one psql session on identical copies — rolled back for the
//! rehearsal, committed for the purge. Rounds alternate which side goes first; ratios are
//! taken within a round.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use diesel_async::{AsyncConnection, SimpleAsyncConnection};
use lethe_jobs::datamap::SubjectKey;
use lethe_jobs::purge::{Budget, Purger, Target, plan};
use secrecy::ExposeSecret;

use super::bench::Names;
use super::bench_prepare::{copy_dir, drop_database, raw_script, recreate_database, storage};
use crate::config::Settings;
use crate::demo::large::{LargeOptions, data_map, install_and_seed};

/// Builds the template database (schema, seed, one heavy subject) and its objects in
/// `dir/s3-pristine`; writes the subject's id to `dir/subject.txt` and the map to
/// `dir/datamap.toml`.
pub async fn prepare(
    settings: &Settings,
    names: &Names,
    heavy_rows: u64,
    users: u32,
    dir: PathBuf,
) -> anyhow::Result<serde_json::Value> {
    let base = settings.platform.database_url.expose_secret().to_owned();
    let template = names.of("large_tmpl");
    let url = recreate_database(&base, &template, None).await?;
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    let (server, storage) = storage(&dir).await?;
    let mut conn = diesel_async::AsyncPgConnection::establish(&url).await?;
    let started = Instant::now();
    let options = LargeOptions {
        users,
        heavy_subjects: 1,
        heavy_rows,
        heavy_objects: 500,
        seed: 7,
    };
    let seed = install_and_seed(&mut conn, &storage, &options).await?;
    conn.batch_execute("VACUUM ANALYZE").await?;
    drop(conn);
    server.shutdown().await;
    copy_dir(&dir.join("s3"), &dir.join("s3-pristine"))?;
    let subject = seed.heavy.first().context("no heavy subject was seeded")?;
    std::fs::write(dir.join("subject.txt"), subject.to_string())?;
    std::fs::write(dir.join("datamap.toml"), data_map())?;
    println!(
        "prepared {template}: {} tables, {} rows, {} objects; heavy subject {subject} in {:.1?}",
        seed.tables,
        seed.rows,
        seed.objects,
        started.elapsed()
    );
    Ok(serde_json::json!({
        "database": template,
        "tables": seed.tables,
        "rows": seed.rows,
        "objects": seed.objects,
        "seconds": started.elapsed().as_secs_f64(),
    }))
}

struct LetheRound {
    rehearsal: f64,
    purge: f64,
    rows: u64,
    tables: usize,
    statements: Vec<String>,
}

/// One Lethe side of a round on a fresh copy: rehearsal, then purge (batched, objects
/// deleted, verified).
async fn lethe_side(
    settings: &Settings,
    names: &Names,
    dir: &Path,
    subject: &str,
) -> anyhow::Result<LetheRound> {
    let base = settings.platform.database_url.expose_secret().to_owned();
    let name = &names.of("large_a");
    let url = recreate_database(&base, name, Some(&names.of("large_tmpl"))).await?;
    copy_dir(&dir.join("s3-pristine"), &dir.join("s3"))?;
    let (server, storage) = storage(dir).await?;
    // The pool a `work` process has (platform.pool_size).
    let platform = lethe_jobs::platform::pool(&url, settings.platform.pool_size)?;
    let text = std::fs::read_to_string(dir.join("datamap.toml"))?;
    let map = crate::startup::bind_data_map(&text, &platform).await?;
    let plan = plan(&map);
    // The identities a purge redacts, as the job reads them from the subject row.
    let mut conn = platform.get().await?;
    #[derive(diesel::QueryableByName)]
    struct Names {
        #[diesel(sql_type = diesel::sql_types::Text)]
        email: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        username: String,
    }
    let names: Names = diesel_async::RunQueryDsl::get_result(
        diesel::sql_query("SELECT email, username FROM \"User\" WHERE id = CAST($1 AS bigint)")
            .bind::<diesel::sql_types::Text, _>(subject),
        &mut *conn,
    )
    .await?;
    drop(conn);
    let target = Target {
        subject: SubjectKey::new(subject.to_owned()),
        identities: vec![names.email, names.username],
        hash_key: "bench-anonymize-key".into(),
    };
    let purger = Purger::new(&platform, &map, &storage, settings.worker.purge_batch_size);
    let budget = Budget {
        time: std::time::Duration::from_secs(3600),
        rows: u64::MAX,
    };
    let started = Instant::now();
    let rehearsal = purger.rehearse(&plan, Some(&target), false, budget).await?;
    let rehearsal_seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        rehearsal.complete && rehearsal.failure.is_none(),
        "the rehearsal failed: {:?}",
        rehearsal.failure
    );
    let started = Instant::now();
    let mut rows = 0;
    let mut timings = Vec::new();
    for step in &plan.steps {
        let step_started = Instant::now();
        rows += purger.run_step(step, &target).await?.rows;
        timings.push((step_started.elapsed().as_secs_f64(), step.label()));
    }
    let steps_seconds = started.elapsed().as_secs_f64();
    let verify_started = Instant::now();
    let leftovers = purger.verify(&plan, &target).await?;
    let verify_seconds = verify_started.elapsed().as_secs_f64();
    let purge_seconds = started.elapsed().as_secs_f64();
    timings.sort_by(|a, b| b.0.total_cmp(&a.0));
    let slowest: Vec<String> = timings
        .iter()
        .take(5)
        .map(|(t, l)| format!("{l} {t:.2}s"))
        .collect();
    println!(
        "  lethe: rehearsal {rehearsal_seconds:.2} s ({} ms in the database transaction); purge steps {steps_seconds:.2} s, verification {verify_seconds:.2} s; slowest steps: {}",
        rehearsal.elapsed_ms,
        slowest.join(", ")
    );
    anyhow::ensure!(
        leftovers.is_empty(),
        "verification found leftovers: {leftovers:?}"
    );
    let statements = raw_script(&purger, &plan, &target)?;
    let tables = rehearsal
        .tables
        .values()
        .filter(|t| t.counts.deleted > 0)
        .count();
    drop(platform);
    server.shutdown().await;
    drop_database(&url, name).await?;
    Ok(LetheRound {
        rehearsal: rehearsal_seconds,
        purge: purge_seconds,
        rows,
        tables,
        statements,
    })
}

/// The raw side of a round: the statements in one psql session, on a fresh copy, inside
/// a transaction ending in `end` (`ROLLBACK` or `COMMIT`).
async fn raw_side(
    settings: &Settings,
    names: &Names,
    dir: &Path,
    statements: &[String],
    end: &str,
) -> anyhow::Result<f64> {
    let base = settings.platform.database_url.expose_secret().to_owned();
    let name = &names.of("large_b");
    let url = recreate_database(&base, name, Some(&names.of("large_tmpl"))).await?;
    let script = dir.join("raw.sql");
    std::fs::write(
        &script,
        format!("BEGIN;\n{}\n{end};\n", statements.join("\n")),
    )?;
    let started = Instant::now();
    let status = std::process::Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &url, "-f"])
        .arg(&script)
        .status()?;
    let seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(status.success(), "psql failed");
    drop_database(&url, name).await?;
    Ok(seconds)
}

/// Runs `rounds` rounds and prints each, then the medians and median ratios.
pub async fn run(
    settings: &Settings,
    names: &Names,
    dir: PathBuf,
    rounds: u32,
) -> anyhow::Result<serde_json::Value> {
    let subject = std::fs::read_to_string(dir.join("subject.txt"))
        .context("no prepared benchmark: run `lethe bench prepare-large` first")?;
    let subject = subject.trim().to_owned();
    // The statements are the same every round; take them from a first, uncounted run.
    let warm = lethe_side(settings, names, &dir, &subject).await?;
    let statements = warm.statements.clone();
    let (mut rehearse_ratio, mut purge_ratio) = (Vec::new(), Vec::new());
    let (mut lethe_rehearsal, mut lethe_purge, mut raw_rollback, mut raw_commit) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        let (lethe, rollback, commit) = if round % 2 == 1 {
            let lethe = lethe_side(settings, names, &dir, &subject).await?;
            let rollback = raw_side(settings, names, &dir, &statements, "ROLLBACK").await?;
            let commit = raw_side(settings, names, &dir, &statements, "COMMIT").await?;
            (lethe, rollback, commit)
        } else {
            let rollback = raw_side(settings, names, &dir, &statements, "ROLLBACK").await?;
            let commit = raw_side(settings, names, &dir, &statements, "COMMIT").await?;
            let lethe = lethe_side(settings, names, &dir, &subject).await?;
            (lethe, rollback, commit)
        };
        println!(
            "round {round}: rehearsal {:.2} s vs raw rolled back {rollback:.2} s ({:.2}x); purge {:.2} s vs raw committed {commit:.2} s ({:.2}x)",
            lethe.rehearsal,
            lethe.rehearsal / rollback,
            lethe.purge,
            lethe.purge / commit
        );
        rehearse_ratio.push(lethe.rehearsal / rollback);
        purge_ratio.push(lethe.purge / commit);
        lethe_rehearsal.push(lethe.rehearsal);
        lethe_purge.push(lethe.purge);
        raw_rollback.push(rollback);
        raw_commit.push(commit);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "subject            {subject}: {} rows deleted or rewritten by the plan's statements, {} tables with deleted rows",
        warm.rows, warm.tables
    );
    println!(
        "raw SQL            {} statements in one psql session (rows only: no objects, no verification)",
        statements.len()
    );
    println!(
        "rehearsal median   {:.2} s (raw rolled back {:.2} s), ratio median {:.2}",
        median(&mut lethe_rehearsal),
        median(&mut raw_rollback),
        median(&mut rehearse_ratio)
    );
    println!(
        "purge median       {:.2} s (raw committed {:.2} s), ratio median {:.2}",
        median(&mut lethe_purge),
        median(&mut raw_commit),
        median(&mut purge_ratio)
    );
    Ok(serde_json::json!({
        "rows": warm.rows,
        "raw_statements": statements.len(),
        "rehearsal_median_s": median(&mut lethe_rehearsal),
        "raw_rollback_median_s": median(&mut raw_rollback),
        "rehearsal_ratio": super::bench::spread_json(&mut rehearse_ratio),
        "purge_median_s": median(&mut lethe_purge),
        "raw_commit_median_s": median(&mut raw_commit),
        "purge_ratio": super::bench::spread_json(&mut purge_ratio),
    }))
}
