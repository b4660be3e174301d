//! Job `lethe.maintenance` (cron): the sweeps that keep promises over time. Every step is
//! idempotent, so several `work` processes may run it at once.
//!
//! 1. Re-enqueue approved requests (and staff dry runs) that a crash between commit and
//!    enqueue, or a lost job, left behind (the invariant "no approved request is
//!    forgotten"); those whose job still waits in the queue are left to it.
//!    Job rows left `Running` past the longest a delivery can take (their acknowledgement
//!    was lost) go back to the queue.
//! 2. Delete export archives whose download link has expired.
//! 3. Delete the files of resources removed for likeness whose hold is over, and the
//!    evidence files of likeness requests that closed unsettled.
//! 4. Drop requester data that closed requests no longer need.

use std::sync::Arc;

use apalis::prelude::{BoxDynError, Data};
use apalis_cron::Tick;

use crate::lifecycle::StrandedKind;
use crate::queue::JobContext;

/// Runs one sweep.
pub async fn handle(_tick: Tick, ctx: Data<Arc<JobContext>>) -> Result<(), BoxDynError> {
    sweep(&ctx).await.map_err(|e| {
        tracing::warn!(error = format!("{e:#}"), "maintenance sweep failed");
        e.into()
    })
}

/// One sweep, also callable directly (tests, `lethe demo`).
pub async fn sweep(ctx: &JobContext) -> anyhow::Result<()> {
    let released = ctx
        .queue
        .release_lost(ctx.run_limit() + std::time::Duration::from_secs(60))
        .await?;
    if released > 0 {
        tracing::warn!(
            count = released,
            "job rows whose acknowledgement was lost went back to the queue"
        );
    }
    // Work whose job still waits in the queue is only waiting its turn (a backlog longer
    // than `worker.reenqueue_after_minutes`): it is marked as enqueued, not enqueued again,
    // so that the next sweeps look further down the list.
    let stranded = ctx.lifecycle.stranded().await?;
    let waiting = ctx.queue.still_queued(&stranded).await?;
    let lost: Vec<_> = stranded
        .iter()
        .filter(|item| !waiting.contains(item))
        .collect();
    for (request_id, kind) in &lost {
        match kind {
            StrandedKind::Export => ctx.queue.enqueue_export(*request_id).await?,
            StrandedKind::Purge => ctx.queue.enqueue_purge(*request_id, None).await?,
            StrandedKind::Rehearsal => ctx.queue.enqueue_rehearsal(*request_id).await?,
            StrandedKind::Unsubscribe => ctx.queue.enqueue_unsubscribe(*request_id).await?,
            StrandedKind::Likeness => ctx.queue.enqueue_likeness(*request_id).await?,
        }
    }
    if !stranded.is_empty() {
        ctx.lifecycle.mark_enqueued(&stranded).await?;
    }
    if !lost.is_empty() {
        tracing::info!(count = lost.len(), "re-enqueued stranded requests");
    }
    for (request_id, archive) in ctx.lifecycle.expired_exports().await? {
        ctx.storage
            .delete_keys(&archive.bucket, std::slice::from_ref(&archive.key))
            .await?;
        ctx.lifecycle.export_deleted(request_id).await?;
        tracing::info!(%request_id, "expired export deleted");
    }
    for item in ctx.lifecycle.resource_files_due().await? {
        let objects = crate::likeness::delete_files(ctx, &item).await?;
        ctx.lifecycle
            .resource_files_deleted(item.id, objects)
            .await?;
        tracing::info!(resource_id = %item.id, objects, "removed resource's files deleted");
    }
    for (request_id, file) in ctx.lifecycle.orphaned_evidence().await? {
        ctx.storage
            .delete_keys(&file.bucket, std::slice::from_ref(&file.key))
            .await?;
        ctx.lifecycle.evidence_deleted(request_id).await?;
        tracing::info!(%request_id, "evidence of a closed request deleted");
    }
    let scrubbed = ctx.lifecycle.retention_sweep().await?;
    if scrubbed > 0 {
        tracing::info!(count = scrubbed, "requester data past retention removed");
    }
    Ok(())
}
