//! `lethe bench`: reproducible benchmarks on the demo platform, each beside a raw floor
//! measured in the same run, alternating which side goes first.
//!
//! `prepare-purge` and `purge` compare a deletion carried through the real path (HTTP,
//! dry run, approval, queue, claim, batched steps, objects, verification, audit) with the
//! same deletes as unbatched SQL in one psql session and the same DeleteObjects calls.
//! `prepare-export` and `export` do the same for an access request against psql's COPY
//! piped through `gzip -1`. `queue` measures throughput with 1, 2, 4 … `lethe work`
//! processes; `scale` runs the export and purge at several sizes and plots them. With
//! `--json`, the results also go to a file.

use std::path::PathBuf;

use anyhow::Context;
use secrecy::ExposeSecret;

use super::bench_prepare::{prepare_platform, prepare_purge, with_database};
use crate::config::Settings;

/// `lethe bench`: which benchmark, and the prefix of the databases it may create.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Prefix of every database the benchmark creates (`<prefix>_platform`,
    /// `<prefix>_intake`, …), on the server of `platform.database_url`. The `prepare-*`
    /// commands keep theirs for the runs that follow; the others drop theirs when done.
    /// Lower-case letters, digits and `_`, starting with a letter, at most 40 characters.
    #[arg(long, global = true, default_value = "lethe_bench")]
    pub db_prefix: String,
    /// Also write the results as JSON to this file.
    #[arg(long, global = true)]
    pub json: Option<PathBuf>,
    /// The benchmark.
    #[command(subcommand)]
    pub command: Command,
}

/// The names of the databases a benchmark creates: `<prefix>_<what>`.
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

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
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
    /// Export the heavy subject through the real path (an access request filed over HTTP,
    /// carried by the workers), and copy the same rows with psql in both formats through
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
    /// Delete the heavy subject through the real path (filed, dry-run and approved over
    /// HTTP, carried by the workers), and run the same deletes as unbatched SQL in one psql
    /// session with the same DeleteObjects calls, on fresh copies, alternating; report both
    /// and their ratio.
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
    /// Queue throughput: small deletions (one per seeded user) filed over HTTP while no
    /// worker runs, then carried out by N `lethe work` processes, once per N.
    Queue {
        /// Deletions per run.
        #[arg(long, default_value_t = 10_000)]
        deletions: usize,
        /// Numbers of `lethe work` processes, one run each.
        #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
        workers: Vec<usize>,
        /// Concurrent connections filing the deletions.
        #[arg(long, default_value_t = 16)]
        connections: usize,
        /// Benchmark directory (objects, the workers' logs).
        #[arg(long, default_value = "var/bench-queue")]
        dir: PathBuf,
    },
    /// The export and purge benchmarks at several sizes, each step in a process of its
    /// own; figures in `<dir>/scale.json`, time and peak memory against rows in
    /// `<dir>/scale.svg`.
    Scale {
        /// Rows of the heavy subject, one size each (the purge's subject also has one
        /// object per 100 rows, at most 10,000).
        #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
        rows: Vec<u64>,
        /// Rounds of each benchmark at each size (two or more alternate which side goes
        /// first).
        #[arg(long, default_value_t = 2)]
        rounds: u32,
        /// Other users around the heavy subject.
        #[arg(long, default_value_t = 200)]
        users: u32,
        /// Output directory (and the prepared benchmarks' files).
        #[arg(long, default_value = "var/bench-scale")]
        dir: PathBuf,
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

/// Runs a benchmark; with `--json`, writes its results (and the command line, the time,
/// the process's peak resident memory) to that file.
pub async fn run(settings: Settings, args: Args, config: Option<PathBuf>) -> anyhow::Result<()> {
    let names = Names::new(&args.db_prefix)?;
    let json = args.json.clone();
    let command = format!("{:?}", args.command);
    let results = dispatch(settings, &names, config.as_deref(), args.command).await?;
    let rss = peak_rss_kib();
    println!(
        "peak RSS (VmHWM)   {}",
        rss.map_or_else(|| "unknown".to_owned(), |k| format!("{k} kB"))
    );
    if let Some(path) = json {
        let document = serde_json::json!({
            "command": command,
            "db_prefix": names.prefix,
            "finished_at": chrono::Utc::now(),
            "peak_rss_kib": rss,
            "results": results,
        });
        std::fs::write(&path, serde_json::to_string_pretty(&document)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("results written to {}", path.display());
    }
    Ok(())
}

async fn dispatch(
    settings: Settings,
    names: &Names,
    config: Option<&std::path::Path>,
    command: Command,
) -> anyhow::Result<serde_json::Value> {
    let platform = names.of("platform");
    let url = with_database(settings.platform.database_url.expose_secret(), &platform)?;
    match command {
        Command::PreparePurge {
            rows,
            objects,
            users,
            dir,
        } => prepare_purge(&settings, names, rows, objects, users, dir).await,
        Command::Purge { dir, rounds } => {
            super::bench_purge::run(&settings, names, dir, rounds.max(1)).await
        }
        Command::PrepareLarge {
            heavy_rows,
            users,
            dir,
        } => super::bench_large::prepare(&settings, names, heavy_rows, users, dir).await,
        Command::Intake {
            requests,
            connections,
            rounds,
        } => {
            super::bench_intake::run(
                &settings,
                names,
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
                names,
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
                names,
                clicks,
                connections.max(1),
                rounds.max(1),
            )
            .await
        }
        Command::Queue {
            deletions,
            workers,
            connections,
            dir,
        } => {
            let queue = super::bench_queue::Queue {
                deletions: deletions.max(1),
                workers: &workers,
                connections: connections.max(1),
                dir: &dir,
            };
            super::bench_queue::run(&settings, names, config, &queue).await
        }
        Command::Scale {
            rows,
            rounds,
            users,
            dir,
        } => {
            let sizes = super::bench_scale::Sizes {
                rows: &rows,
                rounds: rounds.max(1),
                users,
            };
            super::bench_scale::run(&settings, names, config, &sizes, &dir).await
        }
        Command::Large { dir, rounds } => {
            super::bench_large::run(&settings, names, dir, rounds.max(1)).await
        }
        Command::PrepareExport {
            rows,
            objects,
            users,
            dir,
        } => {
            let (server, prepared) =
                prepare_platform(&url, &platform, rows, objects, users, &dir).await?;
            server.shutdown().await;
            Ok(prepared)
        }
        Command::Export { dir, rounds } => {
            super::bench_export::run(&settings, names, &dir, rounds.max(1)).await
        }
    }
}

/// `{"median", "min", "max"}` of `values` (sorted in place).
pub(super) fn spread_json(values: &mut [f64]) -> serde_json::Value {
    let middle = median(values);
    serde_json::json!({
        "median": middle,
        "min": values[0],
        "max": values[values.len() - 1],
    })
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

/// This process's peak resident memory (`VmHWM`), in KiB.
pub(super) fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
