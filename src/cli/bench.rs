//! `lethe bench`: reproducible benchmarks on the demo platform.
//!
//! `prepare-export` builds a platform database with one heavy subject; `export` streams
//! that subject's export through the embedded S3 server and reports rows/s, MB/s and the
//! process's peak resident memory. Run them as two processes so the figure is the
//! export's alone: `lethe bench prepare-export && /usr/bin/time -v lethe bench export`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use diesel_async::{AsyncConnection, SimpleAsyncConnection};
use lethe_jobs::datamap::SubjectKey;
use lethe_jobs::export::{ExportJobSpec, export_subject};
use lethe_jobs::platform::{SubjectLookup, locate};
use lethe_jobs::s3server::EmbeddedS3;
use lethe_jobs::storage::{ObjectRef, S3Settings, Storage};
use secrecy::ExposeSecret;

use crate::config::Settings;

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
    /// Export the heavy subject and report the figures.
    Export {
        /// Benchmark directory, as given to prepare-export.
        #[arg(long, default_value = "var/bench")]
        dir: PathBuf,
    },
}

const DATABASE: &str = "lethe_bench_platform";

fn bench_url(settings: &Settings) -> anyhow::Result<String> {
    let (admin, _) = crate::db::admin_url_and_name(settings.platform.database_url.expose_secret())?;
    let mut url = url::Url::parse(&admin)?;
    url.set_path(&format!("/{DATABASE}"));
    Ok(url.to_string())
}

async fn storage(dir: &std::path::Path) -> anyhow::Result<(EmbeddedS3, Storage)> {
    let server = EmbeddedS3::start(&dir.join("s3"), "127.0.0.1:0".parse()?, "bench", "bench-secret").await?;
    let storage = Storage::new(&S3Settings {
        endpoint: Some(server.endpoint()),
        region: "us-east-1".into(),
        path_style: true,
        access_key_id: "bench".into(),
        secret_access_key: "bench-secret".into(),
    });
    Ok((server, storage))
}

/// Runs a benchmark.
pub async fn run(settings: Settings, command: Command) -> anyhow::Result<()> {
    let url = bench_url(&settings)?;
    match command {
        Command::PrepareExport { rows, objects, users, dir } => {
            let (admin, _) = crate::db::admin_url_and_name(&url)?;
            let mut conn = diesel_async::AsyncPgConnection::establish(&admin).await?;
            conn.batch_execute(&format!("DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")).await?;
            conn.batch_execute(&format!("CREATE DATABASE {DATABASE}")).await?;
            if dir.exists() {
                std::fs::remove_dir_all(&dir)?;
            }
            let (_server, storage) = storage(&dir).await?;
            let mut conn = diesel_async::AsyncPgConnection::establish(&url).await?;
            crate::demo::install_and_seed(&mut conn, &storage, users, 0.42).await?;
            let started = Instant::now();
            let email = crate::demo::add_heavy_subject(&mut conn, &storage, rows, objects).await?;
            conn.batch_execute("VACUUM ANALYZE").await?;
            std::fs::write(dir.join("subject.txt"), &email)?;
            println!("prepared {DATABASE}: heavy subject with ~{rows} rows and {objects} objects in {:.1?}", started.elapsed());
            Ok(())
        }
        Command::Export { dir } => {
            let email = std::fs::read_to_string(dir.join("subject.txt"))
                .context("no prepared benchmark: run `lethe bench prepare-export` first")?;
            let (_server, storage) = storage(&dir).await?;
            storage.ensure_bucket("bench-exports").await?;
            let platform = lethe_jobs::platform::pool(&url, 2)?;
            let map = crate::startup::bind_data_map(crate::demo::DATA_MAP, &platform).await?;
            let mut conn = platform.get().await?;
            let subject: SubjectKey = locate(&mut conn, &map, &SubjectLookup::Email(email.trim().to_owned()))
                .await?
                .context("the heavy subject is missing")?;
            drop(conn);
            let spec = ExportJobSpec {
                request_id: uuid::Uuid::now_v7(),
                subject: Some(subject),
                destination: ObjectRef { bucket: "bench-exports".into(), key: "bench/export.zip".into() },
            };
            let started = Instant::now();
            let report = export_subject(&platform, &map, &storage, &spec).await?;
            let seconds = started.elapsed().as_secs_f64();
            let mib = report.archive_bytes as f64 / (1024.0 * 1024.0);
            println!("rows exported      {}", report.rows_total);
            println!("objects exported   {} ({:.1} MiB)", report.objects, report.object_bytes as f64 / 1048576.0);
            println!("archive            {mib:.1} MiB");
            println!("wall time          {seconds:.2} s");
            println!("rows/s             {:.0}", report.rows_total as f64 / seconds);
            let content = report.content_bytes as f64 / (1024.0 * 1024.0);
            println!("content            {content:.1} MiB uncompressed (JSON, CSV, objects)");
            println!("content MiB/s      {:.1}", content / seconds);
            println!("archive MiB/s      {:.1}", mib / seconds);
            println!("peak RSS (VmHWM)   {}", peak_rss().unwrap_or_else(|| "unknown".into()));
            Ok(())
        }
    }
}

fn peak_rss() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.trim_start_matches("VmHWM:").trim().to_owned())
}
