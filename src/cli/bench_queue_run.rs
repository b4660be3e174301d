//! One measured run of `lethe bench queue`: `lethe work` processes started on copies of
//! the prepared databases, timed until every deletion is completed.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Double, Nullable, Timestamptz};
use diesel_async::RunQueryDsl;
use serde_json::json;

#[derive(QueryableByName)]
struct Progress {
    #[diesel(sql_type = BigInt)]
    completed: i64,
    #[diesel(sql_type = BigInt)]
    failed: i64,
    #[diesel(sql_type = BigInt)]
    filed: i64,
}

#[derive(QueryableByName)]
struct Span {
    #[diesel(sql_type = Nullable<Timestamptz>)]
    first: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    last: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Double>)]
    job_median_s: Option<f64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    rows: Option<i64>,
}

/// One measured run: copies of the databases and the objects.
pub(super) struct Run<'a> {
    /// The service database's copy.
    pub service_url: &'a str,
    /// The platform database's copy.
    pub platform_url: &'a str,
    /// The secret key the deletions were approved under.
    pub secret_key: &'a str,
    /// The data map the dry runs ran on.
    pub map: &'a Path,
    /// The objects' copy.
    pub s3: &'a Path,
    /// Where the processes' logs go.
    pub dir: &'a Path,
    /// The configuration file the benchmark was given.
    pub config: Option<&'a Path>,
}

impl Run<'_> {
    /// Starts `count` `lethe work` processes and waits until all `deletions` are
    /// completed.
    pub(super) async fn measure(
        &self,
        deletions: usize,
        count: usize,
    ) -> anyhow::Result<serde_json::Value> {
        let db = crate::db::pool(self.service_url, 2)?;
        let waiting = progress(&db).await?;
        anyhow::ensure!(
            waiting.filed == deletions as i64 && waiting.completed == 0,
            "expected {deletions} approved deletions waiting, found {} and {} completed",
            waiting.filed,
            waiting.completed
        );
        // Every process gets the same address for the embedded S3 server: the first to
        // bind it serves the directory, the others share it.
        let s3_address = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let started_at = Utc::now();
        let started = Instant::now();
        let mut children = Vec::new();
        for n in 0..count {
            children.push(self.spawn_worker(n, s3_address)?);
        }
        let waited = wait_all(&db, deletions).await;
        for child in &mut children {
            stop(child)?;
        }
        waited?;
        let observed = started.elapsed().as_secs_f64();
        let mut conn = db.get().await?;
        let span: Span = diesel::sql_query(
            "SELECT min(completed_at) AS first, max(completed_at) AS last, \
                    percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - started_at))::float8 AS job_median_s, \
                    sum((result->>'rows')::bigint)::bigint AS rows \
               FROM requests WHERE kind = 'deletion'",
        )
        .get_result(&mut *conn)
        .await?;
        let (first, last) = (
            span.first.context("nothing completed")?,
            span.last.context("nothing completed")?,
        );
        let wall = (last - started_at).as_seconds_f64().max(f64::EPSILON);
        let steady = (last - first).as_seconds_f64();
        Ok(json!({
            "workers": count,
            "wall_s": wall,
            "wall_observed_s": observed,
            "per_s": deletions as f64 / wall,
            "first_completion_s": (first - started_at).as_seconds_f64(),
            "steady_per_s": if steady > 0.0 { (deletions as f64 - 1.0) / steady } else { f64::NAN },
            "job_median_s": span.job_median_s,
            "rows": span.rows,
        }))
    }

    /// `lethe work` on the run's databases; its output goes to `<dir>/worker-<n>.log`.
    fn spawn_worker(
        &self,
        n: usize,
        s3_address: std::net::SocketAddr,
    ) -> anyhow::Result<std::process::Child> {
        let log = std::fs::File::create(self.dir.join(format!("worker-{n}.log")))?;
        let mut command = std::process::Command::new(std::env::current_exe()?);
        if let Some(config) = self.config {
            command.arg("--config").arg(config);
        }
        command
            .arg("work")
            .env("LETHE__DATABASE__URL", self.service_url)
            .env("LETHE__PLATFORM__DATABASE_URL", self.platform_url)
            .env("LETHE__PLATFORM__DATA_MAP", self.map)
            .env("LETHE__SECURITY__SECRET_KEY", self.secret_key)
            .env("LETHE__REQUESTS__DELETION_GRACE_HOURS", "0")
            .env("LETHE__STORAGE__MODE", "embedded")
            .env("LETHE__STORAGE__EMBEDDED_DIR", self.s3)
            .env("LETHE__STORAGE__EMBEDDED_LISTEN", s3_address.to_string())
            .env("LETHE__MAIL__MAILBOX_DIR", self.dir.join("mailbox"))
            .env("LETHE__METRICS__LISTEN", "")
            .stdout(log.try_clone()?)
            .stderr(log);
        command.spawn().context("starting `lethe work`")
    }
}

async fn progress(db: &crate::db::DbPool) -> anyhow::Result<Progress> {
    let mut conn = db.get().await?;
    Ok(diesel::sql_query(
        "SELECT count(*) FILTER (WHERE status = 'completed') AS completed, \
                count(*) FILTER (WHERE status IN ('failed', 'aborted')) AS failed, \
                count(*) AS filed \
           FROM requests WHERE kind = 'deletion'",
    )
    .get_result(&mut *conn)
    .await?)
}

/// Polls every 50 ms until `deletions` requests are completed (at most an hour); fails
/// as soon as one failed.
async fn wait_all(db: &crate::db::DbPool, deletions: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(3600);
    loop {
        let p = progress(db).await?;
        anyhow::ensure!(p.failed == 0, "{} deletions failed", p.failed);
        if p.completed == deletions as i64 {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{} of {deletions} deletions completed after an hour",
            p.completed
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// SIGTERM, then up to 30 s for the process to finish its jobs and exit.
fn stop(child: &mut std::process::Child) -> anyhow::Result<()> {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill()?;
    child.wait()?;
    Ok(())
}
