//! Job `lethe.purge_request`: erase one deletion request's subject, then verify.
//!
//! The purge runs only on the map and schema its approved rehearsal ran on: if either
//! changed, it stops before touching anything and the request goes back to review for a
//! new dry run. Idempotent and crash-safe: every step re-selects the subject's rows and
//! converges; the checkpoint only lets a re-run skip finished steps. A failing step is
//! retried with backoff up to `worker.purge_max_attempts` times, then the request is
//! `failed` with a sanitised reason (step, table, constraint) for staff to retry after a
//! fix or abort. The request becomes `completed` only after a verification pass finds
//! nothing erasable left; if a second full pass still leaves data, it is `failed`.
//!
//! A confirmed child report runs here too: the account is frozen first (the map's
//! `[freeze]`, once), then a parent's copy is exported when staff confirmed standing,
//! then the purge proper.

use std::sync::Arc;

use apalis::prelude::{BoxDynError, Data};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::datamap::{Catalog, SubjectKey, freeze};
use crate::export::{ExportJobSpec, export_subject};
use crate::lifecycle::{FailureOutcome, LeaseLost, PurgeClaim};
use crate::platform::locate;
use crate::purge::{Leftover, PartialStep, PurgeReport, Purger, StepFailure};
use crate::queue::JobContext;

/// Verification passes before a purge is declared failed.
const MAX_PASSES: u32 = 2;

/// The payload: only the request id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PurgeRequest {
    /// The deletion request to carry out.
    pub request_id: Uuid,
}

/// How a purge run ended, short of an error.
enum Outcome {
    Verified(PurgeReport),
    Leftovers(Vec<Leftover>),
}

/// Runs one delivery of the job.
#[tracing::instrument(skip_all, fields(request_id = %job.request_id))]
pub async fn handle(job: PurgeRequest, ctx: Data<Arc<JobContext>>) -> Result<(), BoxDynError> {
    crate::observe::job("purge", ctx.run_limit(), Box::pin(run(job, ctx))).await
}

async fn run(job: PurgeRequest, ctx: Data<Arc<JobContext>>) -> Result<(), BoxDynError> {
    let Some(claim) = ctx.lifecycle.claim_purge(job.request_id, ctx.lease).await? else {
        tracing::info!(
            "nothing to do: request finished, cancelled, in its grace period or leased elsewhere"
        );
        return Ok(());
    };
    if let Some(what) = stale(&ctx, &claim).await? {
        tracing::warn!(
            what,
            "the map or schema changed since the dry run; back to review"
        );
        ctx.lifecycle.purge_stale(claim.run, what).await?;
        return Ok(());
    }
    let run = claim.run;
    let lost = std::sync::atomic::AtomicBool::new(false);
    let outcome = super::with_lease(&ctx, run, &lost, purge(&ctx, claim, &lost)).await;
    match outcome {
        Ok(Outcome::Verified(report)) => {
            tracing::info!(
                rows = report.rows,
                objects = report.objects,
                "purge verified"
            );
            ctx.lifecycle.purge_done(run, &report).await?;
            crate::observe::purged(report.rows, report.objects);
            Ok(())
        }
        Ok(Outcome::Leftovers(leftovers)) => {
            let detail = serde_json::json!({ "leftovers": leftovers });
            ctx.lifecycle
                .fail(run, "verification_failed", detail)
                .await?;
            Ok(())
        }
        Err(error) if error.is::<LeaseLost>() || lost.load(std::sync::atomic::Ordering::SeqCst) => {
            tracing::warn!("stopped: another run holds the request now");
            Ok(())
        }
        Err(error) => {
            let failure = error
                .downcast_ref::<StepFailure>()
                .cloned()
                .unwrap_or_else(|| StepFailure::from_error("purge", &error));
            tracing::warn!(error = %failure, "purge run failed");
            match ctx
                .lifecycle
                .purge_failed(run, &failure, ctx.purge_max_attempts)
                .await?
            {
                FailureOutcome::Retry => Err(error.into()),
                FailureOutcome::Failed => Ok(()),
            }
        }
    }
}

/// Which pin no longer holds, if any: the map this worker runs, or the live schema.
async fn stale(ctx: &JobContext, claim: &PurgeClaim) -> anyhow::Result<Option<&'static str>> {
    let Some(pinned) = &claim.pinned else {
        return Ok(Some("no approved dry run"));
    };
    if pinned.map_hash != ctx.map.map_hash {
        return Ok(Some("data map"));
    }
    let mut conn = ctx.platform.get().await?;
    let live = Catalog::load(&mut conn, &ctx.map.map.schema)
        .await?
        .fingerprint();
    if pinned.schema_fingerprint != live || live != ctx.map.schema_fingerprint {
        return Ok(Some("platform schema"));
    }
    Ok(None)
}

/// The purge proper.
async fn purge(
    ctx: &JobContext,
    claim: PurgeClaim,
    lost: &std::sync::atomic::AtomicBool,
) -> anyhow::Result<Outcome> {
    let run = claim.run;
    let request_id = run.request_id;
    let subject = match &claim.subject_key {
        Some(key) => Some(SubjectKey::new(key.clone())),
        None => {
            let mut conn = ctx.platform.get().await?;
            let found = locate(&mut conn, &ctx.map, &claim.lookup).await?;
            ctx.lifecycle
                .record_subject(run, found.as_ref().map(SubjectKey::as_str))
                .await?;
            found
        }
    };
    let Some(subject) = subject else {
        return Ok(Outcome::Verified(PurgeReport::default()));
    };
    if claim.freeze {
        let statements = freeze::statements(&ctx.map.map, &ctx.map.catalog);
        let mut conn = ctx.platform.get().await?;
        let rows = freeze::freeze(&mut conn, &statements, subject.as_str()).await?;
        drop(conn);
        tracing::info!(rows, "account frozen");
        ctx.lifecycle.frozen(run, rows).await?;
    }
    if let Some(destination) = &claim.parent_copy {
        let spec = ExportJobSpec {
            request_id,
            subject: Some(subject.clone()),
            destination: destination.clone(),
            mask_key: ctx.anonymize_key.clone(),
        };
        let report = export_subject(&ctx.platform, &ctx.map, &ctx.storage, &spec).await?;
        ctx.lifecycle
            .parent_copy_done(run, &report, destination)
            .await?;
    }
    let mut target = super::target(ctx, subject, claim.requester_email).await?;
    // Once the subject's row is deleted it can no longer say who they were: keep what
    // redaction needs before the first step, and use what an earlier run kept.
    target.identities.extend(claim.identities.iter().cloned());
    target.identities.sort();
    target.identities.dedup();
    if target.identities.len() > claim.identities.len() {
        ctx.lifecycle
            .record_identities(run, &target.identities)
            .await?;
    }
    let mut purger = Purger::new(&ctx.platform, &ctx.map, &ctx.storage, ctx.purge_batch_size);
    purger.stop = Some(lost);
    let mut checkpoint = claim.checkpoint.unwrap_or_default();
    let mut leftovers = Vec::new();
    while checkpoint.failed_verifications < MAX_PASSES {
        // Steps that touched nothing are saved with the next one that did (or after a
        // second): a crash only makes a re-run repeat a few empty, idempotent steps.
        let mut saved = std::time::Instant::now();
        for step in &ctx.plan.steps {
            if checkpoint.is_done(step) {
                continue;
            }
            let report = match purger.run_step(step, &target).await {
                Ok(report) => report,
                Err(error) => {
                    // What the failed step had done is kept, so that an abort records
                    // exactly what was applied.
                    if let Some(PartialStep(partial)) = error.downcast_ref::<PartialStep>()
                        && (partial.rows > 0 || partial.objects > 0 || !partial.tables.is_empty())
                    {
                        checkpoint.record_partial(&step.label(), partial);
                        ctx.lifecycle
                            .purge_checkpoint(run, &checkpoint, &step.label(), Some(partial))
                            .await?;
                    }
                    return Err(error);
                }
            };
            checkpoint.record(step, &report);
            if report.rows > 0
                || report.objects > 0
                || !report.tables.is_empty()
                || saved.elapsed().as_secs() >= 1
            {
                ctx.lifecycle
                    .purge_checkpoint(run, &checkpoint, &step.label(), Some(&report))
                    .await?;
                saved = std::time::Instant::now();
            }
        }
        leftovers = purger.verify(&ctx.plan, &target).await?;
        if leftovers.is_empty() {
            return Ok(Outcome::Verified(PurgeReport::from_checkpoint(&checkpoint)));
        }
        tracing::warn!(
            ?leftovers,
            "verification found data left; running the steps again"
        );
        checkpoint.done.clear();
        checkpoint.failed_verifications += 1;
        ctx.lifecycle
            .purge_checkpoint(run, &checkpoint, "verification", None)
            .await?;
    }
    Ok(Outcome::Leftovers(leftovers))
}
