//! One file per job: a small serde payload, a stable queue name, and a short idempotent
//! handler. [`run`] registers them all.

pub mod export_request;
pub mod maintenance;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use apalis::layers::retry::backoff::{ExponentialBackoffMaker, MakeBackoff};
use apalis::layers::retry::{HasherRng, RetryPolicy};
use apalis::prelude::{BackendExt, Monitor, WorkerBuilder, WorkerBuilderExt};
use apalis_cron::CronScheduler;

use crate::queue::{JobContext, MAX_ATTEMPTS};

/// How a `work` process runs.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Jobs run at once by this process.
    pub concurrency: usize,
    /// Cron schedule (six fields, seconds first) of the maintenance sweep.
    pub maintenance_schedule: String,
    /// Seconds to let running jobs finish at shutdown.
    pub shutdown_grace: Duration,
}

/// Runs the workers until `shutdown` resolves, then lets running jobs finish (up to the
/// grace period). Stop these before the HTTP server: actix tears down its runtimes first.
pub async fn run(
    ctx: Arc<JobContext>,
    settings: WorkerSettings,
    shutdown: impl Future<Output = std::io::Result<()>> + Send + 'static,
) -> anyhow::Result<()> {
    let schedule = cron::Schedule::from_str(&settings.maintenance_schedule)
        .map_err(|e| anyhow::anyhow!("worker.maintenance_schedule is not a six-field cron expression: {e}"))?;
    let process = ulid::Ulid::generate();
    let export_ctx = ctx.clone();
    let concurrency = settings.concurrency.max(1);
    Monitor::new()
        .register(move |_restarts| {
            let backoff = ExponentialBackoffMaker::new(Duration::from_secs(1), Duration::from_secs(60), 0.5, HasherRng::default())
                .expect("static backoff bounds are valid")
                .make_backoff();
            WorkerBuilder::new(format!("lethe-export-{process}"))
                .backend(export_ctx.queue.export_storage().with_pubsub().poll_with_interval(Duration::from_secs(5)))
                .concurrency(concurrency)
                .retry(RetryPolicy::retries(MAX_ATTEMPTS - 1).with_backoff(backoff))
                .catch_panic()
                .data(export_ctx.clone())
                .build(export_request::handle)
        })
        .register(move |_restarts| {
            WorkerBuilder::new(format!("lethe-maintenance-{process}"))
                .backend(CronScheduler::new(schedule.clone()))
                .data(ctx.clone())
                .build(maintenance::handle)
        })
        .shutdown_timeout(settings.shutdown_grace)
        .run_with_signal(shutdown)
        .await?;
    Ok(())
}
