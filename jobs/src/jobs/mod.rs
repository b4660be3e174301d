//! One file per job: a small serde payload, a stable queue name, and a short idempotent
//! handler. [`run`] registers them all.

pub mod export_request;
pub mod likeness_request;
pub mod maintenance;
pub mod purge_request;
pub mod rehearse_request;
pub mod unsubscribe_request;

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
    let schedule = cron::Schedule::from_str(&settings.maintenance_schedule).map_err(|e| {
        anyhow::anyhow!("worker.maintenance_schedule is not a six-field cron expression: {e}")
    })?;
    let process = ulid::Ulid::generate();
    let (export_ctx, purge_ctx, rehearse_ctx, unsubscribe_ctx, likeness_ctx) = (
        ctx.clone(),
        ctx.clone(),
        ctx.clone(),
        ctx.clone(),
        ctx.clone(),
    );
    let concurrency = settings.concurrency.max(1);
    Monitor::new()
        .register(move |_restarts| {
            WorkerBuilder::new(format!("lethe-export-{process}"))
                .backend(
                    export_ctx
                        .queue
                        .export_storage()
                        .with_pubsub()
                        .poll_with_interval(Duration::from_secs(5)),
                )
                .concurrency(concurrency)
                .retry(RetryPolicy::retries(MAX_ATTEMPTS - 1).with_backoff(backoff()))
                .catch_panic()
                .data(export_ctx.clone())
                .build(export_request::handle)
        })
        .register(move |_restarts| {
            WorkerBuilder::new(format!("lethe-purge-{process}"))
                .backend(
                    purge_ctx
                        .queue
                        .purge_storage()
                        .with_pubsub()
                        .poll_with_interval(Duration::from_secs(5)),
                )
                .concurrency(concurrency)
                .retry(RetryPolicy::retries(MAX_ATTEMPTS - 1).with_backoff(backoff()))
                .catch_panic()
                .data(purge_ctx.clone())
                .build(purge_request::handle)
        })
        .register(move |_restarts| {
            WorkerBuilder::new(format!("lethe-rehearse-{process}"))
                .backend(
                    rehearse_ctx
                        .queue
                        .rehearse_storage()
                        .with_pubsub()
                        .poll_with_interval(Duration::from_secs(5)),
                )
                .concurrency(concurrency)
                .retry(RetryPolicy::retries(MAX_ATTEMPTS - 1).with_backoff(backoff()))
                .catch_panic()
                .data(rehearse_ctx.clone())
                .build(rehearse_request::handle)
        })
        .register(move |_restarts| {
            WorkerBuilder::new(format!("lethe-unsubscribe-{process}"))
                .backend(
                    unsubscribe_ctx
                        .queue
                        .unsubscribe_storage()
                        .with_pubsub()
                        .poll_with_interval(Duration::from_secs(5)),
                )
                .concurrency(concurrency)
                .retry(RetryPolicy::retries(MAX_ATTEMPTS - 1).with_backoff(backoff()))
                .catch_panic()
                .data(unsubscribe_ctx.clone())
                .build(unsubscribe_request::handle)
        })
        .register(move |_restarts| {
            WorkerBuilder::new(format!("lethe-likeness-{process}"))
                .backend(
                    likeness_ctx
                        .queue
                        .likeness_storage()
                        .with_pubsub()
                        .poll_with_interval(Duration::from_secs(5)),
                )
                .concurrency(concurrency)
                .retry(RetryPolicy::retries(MAX_ATTEMPTS - 1).with_backoff(backoff()))
                .catch_panic()
                .data(likeness_ctx.clone())
                .build(likeness_request::handle)
        })
        .register(move |_restarts| {
            WorkerBuilder::new(format!("lethe-maintenance-{process}"))
                .backend(CronScheduler::new(schedule.clone()))
                .data(ctx.clone())
                .build(maintenance::handle)
        })
        // A worker whose queue connection broke (the database restarted, or terminated it)
        // ends with an error: start it again rather than leave this process idle.
        .should_restart(|worker, error| {
            tracing::warn!(worker = worker.name(), error = %error, "job worker stopped on an error; restarting it");
            true
        })
        .shutdown_timeout(settings.shutdown_grace)
        .run_with_signal(shutdown)
        .await?;
    Ok(())
}

fn backoff() -> apalis::layers::retry::backoff::ExponentialBackoff<HasherRng> {
    ExponentialBackoffMaker::new(
        Duration::from_secs(1),
        Duration::from_secs(60),
        0.5,
        HasherRng::default(),
    )
    .expect("static backoff bounds are valid")
    .make_backoff()
}

/// Runs `work` while renewing the run's lease every third of its length, and gives up
/// after the job timeout. A crashed run stops renewing, so its request is free again
/// within one lease period. When a renewal finds the lease taken over, `lost` is set:
/// the work stops at its next boundary (a purge checks it before every statement), and
/// every write it still tries is refused by the control plane.
pub(crate) async fn with_lease<T>(
    ctx: &crate::queue::JobContext,
    run: crate::lifecycle::Run,
    lost: &std::sync::atomic::AtomicBool,
    work: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let heartbeat = async {
        loop {
            tokio::time::sleep(ctx.lease / 3).await;
            match ctx.lifecycle.renew_lease(run, ctx.lease).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!("the lease was taken over; this run stops");
                    lost.store(true, std::sync::atomic::Ordering::SeqCst);
                    return;
                }
                Err(error) => {
                    tracing::warn!(error = crate::loggable(&error), "lease renewal failed");
                }
            }
        }
    };
    let work = tokio::time::timeout(ctx.job_timeout, work);
    tokio::pin!(work);
    let outcome = tokio::select! {
        outcome = &mut work => outcome,
        () = heartbeat => work.await,
    };
    match outcome {
        Ok(outcome) => outcome,
        Err(_) => Err(anyhow::anyhow!(
            "the run timed out after {:?}",
            ctx.job_timeout
        )),
    }
}

/// Who a purge or rehearsal erases: the subject's key, the identity strings `redact`
/// removes (the account's email and username while its row exists, and the requester's
/// email), and the hash key.
pub(crate) async fn target(
    ctx: &JobContext,
    subject: crate::datamap::SubjectKey,
    requester_email: Option<String>,
) -> anyhow::Result<crate::purge::Target> {
    use diesel_async::RunQueryDsl;

    #[derive(diesel::QueryableByName)]
    struct Identity {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        email: Option<String>,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        username: Option<String>,
    }
    let s = &ctx.map.map.subject;
    let ident = crate::datamap::catalog::ident;
    let (table, cond) = ctx.map.subject_filter(&subject);
    let username = s
        .username
        .as_deref()
        .map(|u| format!("t0.{}::text", ident(u)))
        .unwrap_or_else(|| "NULL::text".into());
    let sql = format!(
        "SELECT t0.{}::text AS email, {username} AS username FROM {table} t0 WHERE {cond}",
        ident(&s.email)
    );
    let rows: Vec<Identity> = diesel::sql_query(sql)
        .load(&mut *ctx.platform.get().await?)
        .await?;
    let mut identities: Vec<String> = rows
        .into_iter()
        .flat_map(|r| [r.email, r.username])
        .flatten()
        .collect();
    identities.extend(requester_email);
    identities.sort();
    identities.dedup();
    Ok(crate::purge::Target {
        subject,
        identities,
        hash_key: ctx.anonymize_key.clone(),
    })
}
