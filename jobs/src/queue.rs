//! The durable job queue: apalis over the service PostgreSQL. Queue names are stable
//! strings (never Rust type paths), so renaming a type cannot strand queued jobs.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use apalis::prelude::{TaskBuilder, TaskId, TaskSink};
use apalis_postgres::{Config, PgPool, PostgresStorage};
use uuid::Uuid;

use crate::jobs::export_request::ExportRequest;
use crate::jobs::likeness_request::LikenessRequest;
use crate::jobs::purge_request::PurgeRequest;
use crate::jobs::rehearse_request::RehearseRequest;
use crate::jobs::unsubscribe_request::UnsubscribeRequest;
use crate::lifecycle::StrandedKind;

/// Queue of access exports.
pub const EXPORT_QUEUE: &str = "lethe.export_request";
/// Queue of deletion purges.
pub const PURGE_QUEUE: &str = "lethe.purge_request";
/// Queue of staff dry runs (rehearsals).
pub const REHEARSE_QUEUE: &str = "lethe.rehearse_request";

/// Queue of unsubscribes from marketing mail.
pub const UNSUBSCRIBE_QUEUE: &str = "lethe.unsubscribe_request";
/// Queue of likeness-removal work (checking listed resources, unpublishing removed ones).
pub const LIKENESS_QUEUE: &str = "lethe.likeness_request";

/// Delivery attempts of one job row before apalis gives up on it (the maintenance
/// reconciler re-enqueues the request later if it is still open).
pub const MAX_ATTEMPTS: usize = 5;

/// Producer side of the queue, cheap to clone.
#[derive(Clone)]
pub struct Queue {
    pool: PgPool,
}

impl Queue {
    /// Connects to the service database for queue work (the pool also serves the
    /// workers' LISTEN connections).
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .context("connecting the job queue to the service database")?;
        Ok(Self { pool })
    }

    /// Creates or upgrades apalis' own tables (schema `apalis`).
    pub async fn setup(&self) -> anyhow::Result<()> {
        PostgresStorage::setup(&self.pool)
            .await
            .context("creating the job queue tables")?;
        Ok(())
    }

    /// The pool, for workers.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub(crate) fn export_storage(&self) -> PostgresStorage<ExportRequest> {
        PostgresStorage::new(&self.pool).with_config(config(EXPORT_QUEUE, 4))
    }

    pub(crate) fn purge_storage(&self) -> PostgresStorage<PurgeRequest> {
        PostgresStorage::new(&self.pool).with_config(config(PURGE_QUEUE, 2))
    }

    pub(crate) fn rehearse_storage(&self) -> PostgresStorage<RehearseRequest> {
        PostgresStorage::new(&self.pool).with_config(config(REHEARSE_QUEUE, 2))
    }

    pub(crate) fn unsubscribe_storage(&self) -> PostgresStorage<UnsubscribeRequest> {
        PostgresStorage::new(&self.pool).with_config(config(UNSUBSCRIBE_QUEUE, 16))
    }

    pub(crate) fn likeness_storage(&self) -> PostgresStorage<LikenessRequest> {
        PostgresStorage::new(&self.pool).with_config(config(LIKENESS_QUEUE, 4))
    }

    /// Enqueues the pending work of a likeness request. Safe to call more than once: the
    /// work is idempotent and a run finds only what is still to do.
    pub async fn enqueue_likeness(&self, request_id: Uuid) -> anyhow::Result<()> {
        let task = TaskBuilder::new(LikenessRequest { request_id })
            .task_id(TaskId::from_ulid(ulid::Ulid::generate()))
            .max_attempts(MAX_ATTEMPTS)
            .build();
        self.likeness_storage()
            .push_task(task)
            .await
            .context("enqueueing likeness work")?;
        Ok(())
    }

    /// Enqueues an unsubscribe. Safe to call more than once: the handler's lease makes
    /// extra deliveries no-ops.
    pub async fn enqueue_unsubscribe(&self, request_id: Uuid) -> anyhow::Result<()> {
        let task = TaskBuilder::new(UnsubscribeRequest { request_id })
            .task_id(TaskId::from_ulid(ulid::Ulid::generate()))
            .max_attempts(MAX_ATTEMPTS)
            .build();
        self.unsubscribe_storage()
            .push_task(task)
            .await
            .context("enqueueing an unsubscribe")?;
        Ok(())
    }

    /// Enqueues a rehearsal (a staff dry run). Safe to call more than once: the handler
    /// claims the rehearsal, so extra deliveries are no-ops.
    pub async fn enqueue_rehearsal(&self, rehearsal_id: Uuid) -> anyhow::Result<()> {
        let task = TaskBuilder::new(RehearseRequest { rehearsal_id })
            .task_id(TaskId::from_ulid(ulid::Ulid::generate()))
            .max_attempts(MAX_ATTEMPTS)
            .build();
        self.rehearse_storage()
            .push_task(task)
            .await
            .context("enqueueing a rehearsal")?;
        Ok(())
    }

    /// Enqueues the purge of a deletion request, to run after `delay` (the grace period).
    /// Safe to call more than once: the handler's lease makes extra deliveries no-ops.
    pub async fn enqueue_purge(
        &self,
        request_id: Uuid,
        delay: Option<Duration>,
    ) -> anyhow::Result<()> {
        let mut task = TaskBuilder::new(PurgeRequest { request_id })
            .task_id(TaskId::from_ulid(ulid::Ulid::generate()))
            .max_attempts(MAX_ATTEMPTS);
        if let Some(delay) = delay.filter(|d| !d.is_zero()) {
            task = task.run_after(delay);
        }
        self.purge_storage()
            .push_task(task.build())
            .await
            .context("enqueueing a purge")?;
        Ok(())
    }

    /// Enqueues the export of an access request. Safe to call more than once for the
    /// same request: the handler's lease makes extra deliveries no-ops.
    pub async fn enqueue_export(&self, request_id: Uuid) -> anyhow::Result<()> {
        let task = TaskBuilder::new(ExportRequest { request_id })
            .task_id(TaskId::from_ulid(ulid::Ulid::generate()))
            .max_attempts(MAX_ATTEMPTS)
            .build();
        self.export_storage()
            .push_task(task)
            .await
            .context("enqueueing an export")?;
        Ok(())
    }

    /// Jobs that are due and not finished: (pending or retrying, running). Jobs scheduled
    /// for later (a deletion's grace period) are not counted.
    pub async fn backlog(&self) -> anyhow::Result<(i64, i64)> {
        let row: (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE run_at <= now() AND (status = 'Pending' OR (status = 'Failed' AND attempts < max_attempts))), \
                    count(*) FILTER (WHERE status IN ('Queued', 'Running')) \
             FROM apalis.jobs",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(row)
    }
}

impl Queue {
    /// Of `items`, those that still have a job waiting its turn in the queue: due now and
    /// pending (or failed with attempts left), or fetched by a worker and not yet started.
    /// A job scheduled for later is not counted (the request's own state says when it is
    /// due, and a grace period can end early); nor is a `Running` one, whose run lost its
    /// lease if the item is stranded. One pass over the queue's waiting jobs.
    pub async fn still_queued(
        &self,
        items: &[(Uuid, StrandedKind)],
    ) -> anyhow::Result<std::collections::HashSet<(Uuid, StrandedKind)>> {
        if items.is_empty() {
            return Ok(Default::default());
        }
        let queues: Vec<&str> = items.iter().map(|(_, k)| queue_of(*k)).collect();
        let ids: Vec<String> = items.iter().map(|(id, _)| id.to_string()).collect();
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT DISTINCT s.queue, s.id FROM unnest($1::text[], $2::text[]) AS s(queue, id) \
               JOIN (SELECT job_type, convert_from(job, 'UTF8')::jsonb AS p FROM apalis.jobs \
                      WHERE job_type = ANY($1) \
                        AND (status = 'Queued' \
                             OR (run_at <= now() AND (status = 'Pending' \
                                 OR (status = 'Failed' AND attempts < max_attempts))))) j \
                 ON j.job_type = s.queue \
                AND coalesce(j.p ->> 'request_id', j.p ->> 'rehearsal_id') = s.id",
        )
        .bind(&queues)
        .bind(&ids)
        .fetch_all(&self.pool)
        .await
        .context("reading the queue's unfinished jobs")?;
        let rows: std::collections::HashSet<(String, String)> = rows.into_iter().collect();
        Ok(items
            .iter()
            .copied()
            .filter(|(id, kind)| rows.contains(&(queue_of(*kind).to_owned(), id.to_string())))
            .collect())
    }

    /// Puts back job rows still `Running` more than `limit` after their delivery started.
    /// Every delivery ends within [`JobContext::run_limit`], so such a row lost its
    /// acknowledgement (the connection broke as the worker reported back) and would stay
    /// `Running` until its worker's process ended. Jobs are idempotent: a second delivery
    /// of one that finished finds nothing to claim.
    pub async fn release_lost(&self, limit: Duration) -> anyhow::Result<u64> {
        let released = sqlx::query(
            "UPDATE apalis.jobs SET status = 'Pending', done_at = NULL, lock_by = NULL, lock_at = NULL, \
                 last_result = '{\"Err\": \"Re-enqueued: the delivery outlived the run limit (its acknowledgement was lost).\"}' \
             WHERE status = 'Running' AND lock_at < now() - make_interval(secs => $1)",
        )
        .bind(limit.as_secs_f64())
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(released)
    }
}

/// The queue whose job serves a stranded item of `kind`.
fn queue_of(kind: StrandedKind) -> &'static str {
    match kind {
        StrandedKind::Export => EXPORT_QUEUE,
        StrandedKind::Purge => PURGE_QUEUE,
        StrandedKind::Rehearsal => REHEARSE_QUEUE,
        StrandedKind::Unsubscribe => UNSUBSCRIBE_QUEUE,
        StrandedKind::Likeness => LIKENESS_QUEUE,
    }
}

/// A queue's settings. Workers beat every 5 s; a job whose worker missed three beats
/// (it was killed) goes back to the queue after 15 s (apalis' default is 5 minutes).
fn config(queue: &str, batch_size: usize) -> Config {
    Config::default()
        .queue(queue)
        .batch_size(batch_size)
        .heartbeat_interval(std::time::Duration::from_secs(5))
        .missed_heartbeats(3)
}

/// Everything a job handler needs, shared by all workers of a process.
pub struct JobContext {
    /// The platform database.
    pub platform: crate::platform::PlatformPool,
    /// The data map bound to the live schema (with its hash and the schema's fingerprint).
    pub map: crate::datamap::BoundMap,
    /// Object storage.
    pub storage: crate::storage::Storage,
    /// The control plane.
    pub lifecycle: Arc<dyn crate::lifecycle::Lifecycle>,
    /// The queue (for re-enqueues).
    pub queue: Queue,
    /// How long one run may take before it is abandoned.
    pub job_timeout: Duration,
    /// Lease a run holds on its request, renewed every third of it while the run lives.
    pub lease: Duration,
    /// The purge plan derived from the map and the platform's foreign keys.
    pub plan: crate::purge::Plan,
    /// Rows per purge statement.
    pub purge_batch_size: usize,
    /// Failed purge runs after which the request is `failed` for staff.
    pub purge_max_attempts: u32,
    /// Limits on one rehearsal.
    pub rehearsal_budget: crate::purge::Budget,
    /// Key of `hash` anonymization rules.
    pub anonymize_key: String,
}

impl JobContext {
    /// The longest any one delivery of a job can take: a request's run is cut off at
    /// `job_timeout`, a dry run at twice its time budget and 30 s; a minute more covers
    /// recording the outcome.
    pub fn run_limit(&self) -> Duration {
        self.job_timeout
            .max(self.rehearsal_budget.time * 2 + Duration::from_secs(30))
            + Duration::from_secs(60)
    }
}
