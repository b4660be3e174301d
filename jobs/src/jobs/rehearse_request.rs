//! Job `lethe.rehearse_request`: a staff dry run of one deletion. The whole purge plan runs
//! in a transaction that is rolled back, so nothing is touched; the exact counts, the map
//! hash and the schema fingerprint are recorded for the approvers. Safe to run twice: a
//! rehearsal is claimed, and a re-run of a rolled-back transaction changes nothing. A dry
//! run that PostgreSQL aborted to break a deadlock with another transaction runs again (up
//! to four runs in all) before its failure is recorded.

use std::sync::Arc;

use apalis::prelude::{BoxDynError, Data};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::datamap::SubjectKey;
use crate::lifecycle::{Pinned, RehearsalOutcome};
use crate::platform::locate;
use crate::purge::Purger;
use crate::queue::JobContext;

/// Runs of one dry run that lost to a concurrent transaction (a deadlock) before its
/// failure is recorded.
const CONTENDED_ATTEMPTS: u64 = 4;

/// The payload: only the rehearsal id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RehearseRequest {
    /// The rehearsal to run.
    pub rehearsal_id: Uuid,
}

/// The live schema differs from the one the worker's map was bound to.
#[derive(Debug, thiserror::Error)]
#[error("the platform schema changed since the data map was bound")]
struct SchemaChanged;

/// Runs one delivery of the job.
#[tracing::instrument(skip_all, fields(rehearsal_id = %job.rehearsal_id))]
pub async fn handle(job: RehearseRequest, ctx: Data<Arc<JobContext>>) -> Result<(), BoxDynError> {
    crate::observe::job("rehearsal", ctx.run_limit(), Box::pin(run(job, ctx))).await
}

async fn run(job: RehearseRequest, ctx: Data<Arc<JobContext>>) -> Result<(), BoxDynError> {
    let Some(claim) = ctx
        .lifecycle
        .claim_rehearsal(job.rehearsal_id, ctx.lease)
        .await?
    else {
        tracing::info!("nothing to do: rehearsal finished or running elsewhere");
        return Ok(());
    };
    let pinned = Pinned {
        map_hash: ctx.map.map_hash.clone(),
        schema_fingerprint: ctx.map.schema_fingerprint.clone(),
    };
    let run = async {
        // A rehearsal stands for the schema the purge will see: if the live schema is no
        // longer the one this worker bound its map to, the plan is outdated.
        let live =
            crate::datamap::Catalog::load(&mut *ctx.platform.get().await?, &ctx.map.map.schema)
                .await?
                .fingerprint();
        anyhow::ensure!(live == ctx.map.schema_fingerprint, SchemaChanged);
        let subject = match &claim.subject_key {
            Some(key) => Some(SubjectKey::new(key.clone())),
            None => locate(&mut *ctx.platform.get().await?, &ctx.map, &claim.lookup).await?,
        };
        let target = match &subject {
            Some(subject) => {
                Some(super::target(&ctx, subject.clone(), claim.requester_email.clone()).await?)
            }
            None => None,
        };
        let purger = Purger::new(&ctx.platform, &ctx.map, &ctx.storage, ctx.purge_batch_size);
        // Dry runs of people whose rows meet (comments on each other's images) can
        // deadlock: PostgreSQL aborts one, which then runs again once the other is done.
        let mut attempt = 1;
        let rehearsal = loop {
            let rehearsal = purger
                .rehearse(
                    &ctx.plan,
                    target.as_ref(),
                    claim.freeze,
                    ctx.rehearsal_budget,
                )
                .await?;
            match &rehearsal.failure {
                Some(failure) if failure.contended() && attempt < CONTENDED_ATTEMPTS => {
                    tracing::info!(%failure, attempt, "the dry run met a concurrent transaction; running it again");
                    tokio::time::sleep(std::time::Duration::from_millis(100 * attempt)).await;
                    attempt += 1;
                }
                _ => break rehearsal,
            }
        };
        anyhow::Ok((rehearsal, subject))
    };
    // The lease is renewed while the run lasts; once another claim took the rehearsal
    // over, this run is dropped (its transaction rolls back) and records nothing.
    let heartbeat = async {
        loop {
            tokio::time::sleep(ctx.lease / 3).await;
            match ctx
                .lifecycle
                .renew_rehearsal(job.rehearsal_id, claim.owner, ctx.lease)
                .await
            {
                Ok(true) => {}
                Ok(false) => return,
                Err(error) => {
                    tracing::warn!(error = crate::loggable(&error), "lease renewal failed");
                }
            }
        }
    };
    let timed = tokio::time::timeout(
        ctx.rehearsal_budget.time * 2 + std::time::Duration::from_secs(30),
        run,
    );
    let finished = tokio::select! {
        finished = timed => finished,
        () = heartbeat => {
            tracing::warn!("the dry run was taken over; this run stops");
            return Ok(());
        }
    };
    let outcome = match finished {
        Ok(Ok((rehearsal, subject))) => RehearsalOutcome {
            result: Ok(rehearsal),
            pinned,
            subject_key: subject.map(|s| s.as_str().to_owned()),
        },
        Ok(Err(error)) if error.downcast_ref::<SchemaChanged>().is_some() => {
            tracing::warn!(
                "the platform schema changed since this worker started; restart the workers"
            );
            RehearsalOutcome {
                result: Err("schema_changed_restart_workers".into()),
                pinned,
                subject_key: claim.subject_key.clone(),
            }
        }
        Ok(Err(error)) if crate::storage::MissingBucket::find(&error).is_some() => {
            tracing::warn!(error = %error, "a configured bucket does not exist");
            RehearsalOutcome {
                result: Err("bucket_missing".into()),
                pinned,
                subject_key: claim.subject_key.clone(),
            }
        }
        Ok(Err(error)) => {
            tracing::warn!(error = crate::loggable(&error), "rehearsal could not run");
            RehearsalOutcome {
                result: Err("rehearsal_error".into()),
                pinned,
                subject_key: claim.subject_key.clone(),
            }
        }
        Err(_) => RehearsalOutcome {
            result: Err("rehearsal_timeout".into()),
            pinned,
            subject_key: claim.subject_key.clone(),
        },
    };
    ctx.lifecycle
        .rehearsal_done(job.rehearsal_id, claim.owner, &outcome)
        .await?;
    Ok(())
}
