//! `lethe bench`: reproducible benchmarks on the demo platform.
//!
//! `prepare-purge` and `purge` compare a purge by Lethe (batched, objects deleted,
//! verified) with the same deletes issued as unbatched SQL in one psql session.
//!
//! `prepare-export` builds a platform database with one heavy subject; `export` streams
//! that subject's export through the embedded S3 server and reports rows/s, MB/s and the
//! process's peak resident memory. Run them as two processes so the figure is the
//! export's alone: `lethe bench prepare-export && /usr/bin/time -v lethe bench export`.

use std::path::PathBuf;
use std::time::Instant;

use diesel_async::{AsyncConnection, SimpleAsyncConnection};
use lethe_jobs::s3server::EmbeddedS3;
use lethe_jobs::storage::{S3Settings, Storage};
use secrecy::ExposeSecret;

use crate::config::Settings;

/// `lethe bench`: which benchmark, and the names of the databases it may create and drop.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Prefix of every database the benchmark creates and drops (`<prefix>_platform`,
    /// `<prefix>_intake`, …), on the server of `platform.database_url`. Lower-case
    /// letters, digits and `_`, starting with a letter, at most 40 characters.
    #[arg(long, global = true, default_value = "lethe_bench")]
    pub db_prefix: String,
    /// The benchmark.
    #[command(subcommand)]
    pub command: Command,
}

/// The names of the databases a benchmark creates and drops: `<prefix>_<what>`.
#[derive(Debug, Clone)]
pub struct Names {
    prefix: String,
}

impl Names {
    /// Checks `prefix`: lower-case letters, digits and `_`, starting with a letter, at
    /// most 40 characters (PostgreSQL keeps 63 of a name).
    pub fn new(prefix: &str) -> anyhow::Result<Self> {
        let valid = (1..=40).contains(&prefix.len())
            && prefix.starts_with(|c: char| c.is_ascii_lowercase())
            && prefix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        anyhow::ensure!(
            valid,
            "--db-prefix {prefix:?}: use lower-case letters, digits and _, starting with a letter, at most 40 characters"
        );
        Ok(Self {
            prefix: prefix.to_owned(),
        })
    }

    /// `<prefix>_<what>`.
    pub fn of(&self, what: &str) -> String {
        format!("{}_{what}", self.prefix)
    }
}

/// Benchmarks.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create the benchmark platform database with one heavy subject.
    PrepareExport {
        /// Rows of the heavy subject.
        #[arg(long, default_value_t = 200_000)]
        rows: u64,
        /// Objects of the heavy subject.
        #[arg(long, default_value_t = 500)]
        objects: u32,
        /// Other users around them.
        #[arg(long, default_value_t = 200)]
        users: u32,
        /// Benchmark directory (S3 data, subject file).
        #[arg(long, default_value = "var/bench")]
        dir: PathBuf,
    },
    /// Export the heavy subject, and copy the same rows with psql in both formats through
    /// `gzip -1`, alternating; report both and their ratio.
    Export {
        /// Benchmark directory, as given to prepare-export.
        #[arg(long, default_value = "var/bench")]
        dir: PathBuf,
        /// Rounds (each: one export, one COPY).
        #[arg(long, default_value_t = 3)]
        rounds: u32,
    },
    /// Create the purge benchmark's template database: a platform with one heavy subject.
    PreparePurge {
        /// Rows of the heavy subject (over images, comments, notifications, sessions, reactions).
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        /// Objects of the heavy subject.
        #[arg(long, default_value_t = 10_000)]
        objects: u32,
        /// Other users around them.
        #[arg(long, default_value_t = 200)]
        users: u32,
        /// Benchmark directory.
        #[arg(long, default_value = "var/bench-purge")]
        dir: PathBuf,
    },
    /// Purge the heavy subject with Lethe, and run the same deletes as unbatched SQL in one
    /// psql session, on fresh copies, alternating; report both and their ratio.
    Purge {
        /// Benchmark directory, as given to prepare-purge.
        #[arg(long, default_value = "var/bench-purge")]
        dir: PathBuf,
        /// Rounds (each: one Lethe purge, one psql run).
        #[arg(long, default_value_t = 3)]
        rounds: u32,
    },
    /// Create the large messy platform (~280 tables) with one heavy subject, as a template.
    PrepareLarge {
        /// Rows of the heavy subject, spread over 50+ tables.
        #[arg(long, default_value_t = 100_000)]
        heavy_rows: u64,
        /// Ordinary users around them.
        #[arg(long, default_value_t = 300)]
        users: u32,
        /// Benchmark directory.
        #[arg(long, default_value = "var/bench-large")]
        dir: PathBuf,
    },
    /// `POST /v1/requests` through the HTTP API (request, code, audit entries, queued mail)
    /// beside pgbench inserting a request row, alternating; then the time the background
    /// takes to send the mail and seal the audit entries.
    Intake {
        /// Requests per round (each for another address).
        #[arg(long, default_value_t = 2000)]
        requests: usize,
        /// Concurrent connections (and pgbench clients).
        #[arg(long, default_value_t = 16)]
        connections: usize,
        /// Rounds.
        #[arg(long, default_value_t = 3)]
        rounds: u32,
    },
    /// The staff console's queue pages over many requests (beside pgbench running the
    /// first page's query) and the privacy center's start page (beside `GET /healthz`),
    /// alternating.
    Console {
        /// Requests in the database.
        #[arg(long, default_value_t = 100_000)]
        requests: u64,
        /// Queue pages walked per round.
        #[arg(long, default_value_t = 300)]
        pages: usize,
        /// Start-page fetches per round.
        #[arg(long, default_value_t = 5000)]
        hits: usize,
        /// Concurrent connections for the start page.
        #[arg(long, default_value_t = 16)]
        connections: usize,
        /// Rounds.
        #[arg(long, default_value_t = 3)]
        rounds: u32,
    },
    /// One-click unsubscribe through the HTTP API and the job beside pgbench inserting a
    /// suppression row, alternating; then POST-to-effect time and the 10,000-address check.
    Unsubscribe {
        /// One-click POSTs per round (each for another seeded user).
        #[arg(long, default_value_t = 1000)]
        clicks: usize,
        /// Concurrent connections (and pgbench clients).
        #[arg(long, default_value_t = 16)]
        connections: usize,
        /// Rounds.
        #[arg(long, default_value_t = 3)]
        rounds: u32,
    },
    /// Rehearse and purge the heavy subject of the large platform with Lethe, and run the
    /// same statements as raw SQL in one psql session (rolled back, then committed), on
    /// fresh copies, alternating; report the times and ratios.
    Large {
        /// Benchmark directory, as given to prepare-large.
        #[arg(long, default_value = "var/bench-large")]
        dir: PathBuf,
        /// Rounds.
        #[arg(long, default_value_t = 3)]
        rounds: u32,
    },
}

pub(super) async fn storage(dir: &std::path::Path) -> anyhow::Result<(EmbeddedS3, Storage)> {
    let server = EmbeddedS3::start(
        &dir.join("s3"),
        "127.0.0.1:0".parse()?,
        "bench",
        "bench-secret",
    )
    .await?;
    let storage = Storage::new(&S3Settings {
        endpoint: Some(server.endpoint()),
        region: "us-east-1".into(),
        path_style: true,
        access_key_id: "bench".into(),
        secret_access_key: "bench-secret".into(),
        versioning: false,
    });
    Ok((server, storage))
}

/// Runs a benchmark.
pub async fn run(settings: Settings, args: Args) -> anyhow::Result<()> {
    let names = Names::new(&args.db_prefix)?;
    let platform = names.of("platform");
    let url = with_database(settings.platform.database_url.expose_secret(), &platform)?;
    match args.command {
        Command::PreparePurge {
            rows,
            objects,
            users,
            dir,
        } => prepare_purge(&settings, &names, rows, objects, users, dir).await,
        Command::Purge { dir, rounds } => {
            super::bench_purge::run(&settings, &names, dir, rounds.max(1)).await
        }
        Command::PrepareLarge {
            heavy_rows,
            users,
            dir,
        } => super::bench_large::prepare(&settings, &names, heavy_rows, users, dir).await,
        Command::Intake {
            requests,
            connections,
            rounds,
        } => {
            super::bench_intake::run(
                &settings,
                &names,
                requests.max(1),
                connections.max(1),
                rounds.max(1),
            )
            .await
        }
        Command::Console {
            requests,
            pages,
            hits,
            connections,
            rounds,
        } => {
            super::bench_console::run(
                &settings,
                &names,
                requests.max(1),
                pages.max(1),
                hits.max(1),
                connections.max(1),
                rounds.max(1),
            )
            .await
        }
        Command::Unsubscribe {
            clicks,
            connections,
            rounds,
        } => {
            super::bench_unsubscribe::run(
                &settings,
                &names,
                clicks,
                connections.max(1),
                rounds.max(1),
            )
            .await
        }
        Command::Large { dir, rounds } => {
            super::bench_large::run(&settings, &names, dir, rounds.max(1)).await
        }
        Command::PrepareExport {
            rows,
            objects,
            users,
            dir,
        } => {
            prepare_platform(&url, &platform, rows, objects, users, &dir).await?;
            Ok(())
        }
        Command::Export { dir, rounds } => {
            super::bench_export::run(&url, &dir, rounds.max(1)).await
        }
    }
}

/// "median (min …, max …)" of `values` (sorted in place), to two places.
pub(super) fn spread(values: &mut [f64]) -> String {
    let middle = median(values);
    format!(
        "{middle:.2} (min {:.2}, max {:.2})",
        values[0],
        values[values.len() - 1]
    )
}

/// The median of `values` (sorted in place).
pub(super) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let mut url = url::Url::parse(url)?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

async fn admin_exec(url: &str, sql: &str) -> anyhow::Result<()> {
    let (admin, _) = crate::db::admin_url_and_name(url)?;
    let mut conn = diesel_async::AsyncPgConnection::establish(&admin).await?;
    conn.batch_execute(sql).await?;
    Ok(())
}

pub(super) fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> anyhow::Result<()> {
    if to.exists() {
        std::fs::remove_dir_all(to)?;
    }
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()?;
    anyhow::ensure!(status.success(), "copying {} failed", from.display());
    Ok(())
}

async fn prepare_purge(
    settings: &Settings,
    names: &Names,
    rows: u64,
    objects: u32,
    users: u32,
    dir: PathBuf,
) -> anyhow::Result<()> {
    let template = names.of("purge_tmpl");
    let url = with_database(settings.platform.database_url.expose_secret(), &template)?;
    let server = prepare_platform(&url, &template, rows, objects, users, &dir).await?;
    server.shutdown().await;
    copy_dir(&dir.join("s3"), &dir.join("s3-pristine"))
}

/// Creates database `name` afresh (from `template` if given) on the server of `url`;
/// returns its URL.
pub(super) async fn recreate_database(
    url: &str,
    name: &str,
    template: Option<&str>,
) -> anyhow::Result<String> {
    drop_database(url, name).await?;
    let template = template
        .map(|t| format!(" TEMPLATE {t}"))
        .unwrap_or_default();
    admin_exec(url, &format!("CREATE DATABASE {name}{template}")).await?;
    with_database(url, name)
}

pub(super) async fn drop_database(url: &str, name: &str) -> anyhow::Result<()> {
    admin_exec(url, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await
}

/// A fresh platform database `name` with `users` users and one heavy subject, its objects
/// in an embedded S3 server over `dir/s3`; the subject's email goes to `dir/subject.txt`.
async fn prepare_platform(
    url: &str,
    name: &str,
    rows: u64,
    objects: u32,
    users: u32,
    dir: &std::path::Path,
) -> anyhow::Result<EmbeddedS3> {
    let url = recreate_database(url, name, None).await?;
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    let (server, storage) = storage(dir).await?;
    let mut conn = diesel_async::AsyncPgConnection::establish(&url).await?;
    crate::demo::install_and_seed(&mut conn, &storage, users, 0.42).await?;
    let started = Instant::now();
    let email = crate::demo::add_heavy_subject(&mut conn, &storage, rows, objects).await?;
    conn.batch_execute("VACUUM ANALYZE").await?;
    std::fs::write(dir.join("subject.txt"), &email)?;
    println!(
        "prepared {name}: heavy subject with ~{rows} rows and {objects} objects in {:.1?}",
        started.elapsed()
    );
    Ok(server)
}

/// The plan's steps as unbatched SQL with the rewrite parameters spelled out: what a
/// person would run in psql.
pub(super) fn raw_script(
    purger: &lethe_jobs::purge::Purger<'_>,
    plan: &lethe_jobs::purge::Plan,
    target: &lethe_jobs::purge::Target,
) -> anyhow::Result<Vec<String>> {
    use lethe_jobs::datamap::catalog::literal;
    let never = "(?!)".to_owned();
    let text = lethe_jobs::purge::identity_pattern(&target.identities, false)
        .unwrap_or_else(|| never.clone());
    let json = lethe_jobs::purge::identity_pattern(&target.identities, true).unwrap_or(never);
    // The session function JSON redaction uses, as every platform connection has it.
    let mut script = vec![format!("{};", lethe_jobs::platform::REDACT_FUNCTION)];
    for step in &plan.steps {
        if let Some(sql) = purger.unbatched_sql(step, target)? {
            script.push(format!(
                "{};",
                sql.replace("$1", &literal(&target.hash_key))
                    .replace("$2", &literal(&text))
                    .replace("$3", &literal(&json))
            ));
        }
    }
    Ok(script)
}

pub(super) fn peak_rss() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .map(|l| l.trim_start_matches("VmHWM:").trim().to_owned())
}
