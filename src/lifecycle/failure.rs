//! When a purge cannot go on: a failed run is retried with backoff a bounded number of
//! times, then the request is `failed` with a sanitised reason staff can read (step,
//! table, constraint — never row values) and the requester is told; a purge whose map or
//! schema changed since its dry run touches nothing and goes back to review.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use lethe_jobs::lifecycle::{FailureOutcome, Run};
use lethe_jobs::purge::StepFailure;
use uuid::Uuid;

use super::claim::fail;
use super::service::ServiceLifecycle;
use crate::audit::{self, AuditEntry};
use crate::domain::RequestStatus;
use crate::mail;
use crate::models::Request;
use crate::schema::requests;

/// Marks a request `failed` and tells the requester that their deletion is delayed.
pub(crate) async fn fail_and_tell(
    svc: &ServiceLifecycle,
    run: Run,
    code: &str,
    detail: serde_json::Value,
) -> anyhow::Result<()> {
    let request_id = run.request_id;
    let mut conn = svc.db.get().await?;
    conn.transaction::<_, anyhow::Error, _>(async |c| {
        let Some(request) = Request::find_for_update(c, run.request_id).await? else {
            return Ok(());
        };
        if request.status() != RequestStatus::Processing || request.lease_owner != Some(run.owner) {
            return Ok(());
        }
        fail(c, request_id, code, &detail).await?;
        tell_delayed(c, svc, &request).await?;
        Ok(())
    })
    .await?;
    drop(conn);
    svc.outbox.wake();
    Ok(())
}

/// Queues "your deletion is delayed" to the person whose data it is; a reporter is not
/// that person: staff follow their report up.
async fn tell_delayed(
    c: &mut diesel_async::AsyncPgConnection,
    svc: &ServiceLifecycle,
    request: &Request,
) -> diesel::QueryResult<()> {
    svc.outbox
        .put_to_requester(
            c,
            request.id,
            super::subject::own_email(request).as_deref(),
            "erasure_delayed",
            mail::erasure_delayed(request.id),
        )
        .await
}

/// Records a failed purge run; at `max_attempts` failures the request is `failed`.
pub(crate) async fn purge_failed(
    svc: &ServiceLifecycle,
    run: Run,
    failure: &StepFailure,
    max_attempts: u32,
) -> anyhow::Result<FailureOutcome> {
    let request_id = run.request_id;
    let detail = serde_json::to_value(failure)?;
    let mut conn = svc.db.get().await?;
    let outcome = conn
        .transaction::<_, anyhow::Error, _>(async |c| {
            let Some(request) = Request::find_for_update(c, run.request_id).await? else {
                return Ok(FailureOutcome::Failed);
            };
            if request.status() != RequestStatus::Processing
                || request.lease_owner != Some(run.owner)
            {
                // Someone else moved it on; nothing to retry.
                return Ok(FailureOutcome::Failed);
            }
            let failures = request.purge_failures + 1;
            if failures >= max_attempts.max(1) as i32 {
                diesel::update(requests::table.find(request_id))
                    .set(requests::purge_failures.eq(failures))
                    .execute(c)
                    .await?;
                fail(c, request_id, "purge_failed", &detail).await?;
                tell_delayed(c, svc, &request).await?;
                return Ok(FailureOutcome::Failed);
            }
            diesel::update(requests::table.find(request_id))
                .set((
                    requests::purge_failures.eq(failures),
                    requests::lease_until.eq(None::<chrono::DateTime<Utc>>),
                    requests::failure.eq("purge_error"),
                    requests::failure_detail.eq(&detail),
                    // The queue owes a retry from now on (see `stranded`).
                    requests::enqueued_at.eq(Utc::now()),
                ))
                .execute(c)
                .await?;
            audit::append(
                c,
                &[AuditEntry::run_failed(request_id, "purge_error", &detail)],
            )
            .await?;
            Ok(FailureOutcome::Retry)
        })
        .await?;
    drop(conn);
    if outcome == FailureOutcome::Failed {
        svc.outbox.wake();
    }
    Ok(outcome)
}

/// Sends a request whose purge found its map or schema changed back to review: a new dry
/// run and new approvals are needed.
pub(crate) async fn purge_stale(
    svc: &ServiceLifecycle,
    run: Run,
    what: &str,
) -> anyhow::Result<()> {
    let request_id = run.request_id;
    let mut conn = svc.db.get().await?;
    conn.transaction::<_, anyhow::Error, _>(async |c| {
        let Some(request) = Request::find_for_update(c, run.request_id).await? else {
            return Ok(());
        };
        if request.status() != RequestStatus::Processing || request.lease_owner != Some(run.owner) {
            return Ok(());
        }
        back_to_review(
            c,
            &request,
            "rehearsal_stale",
            &serde_json::json!({ "changed": what }),
        )
        .await?;
        audit::append(c, &[AuditEntry::purge_stale(request_id, what)]).await?;
        Ok(())
    })
    .await
}

/// Puts a locked request back to `verified` for a new dry run and a new round of
/// approvals, keeping what its purge did so far (the checkpoint's counts) but not which
/// steps were done (the next plan may differ).
pub(crate) async fn back_to_review(
    c: &mut diesel_async::AsyncPgConnection,
    request: &Request,
    code: &str,
    detail: &serde_json::Value,
) -> anyhow::Result<i32> {
    let round = request.review_round + 1;
    let checkpoint = request
        .purge_checkpoint
        .clone()
        .map(serde_json::from_value::<lethe_jobs::purge::Checkpoint>)
        .transpose()?
        .map(|mut cp| {
            cp.done.clear();
            cp.failed_verifications = 0;
            cp
        });
    diesel::update(requests::table.find(request.id))
        .set((
            requests::status.eq(RequestStatus::Verified.as_str()),
            requests::rehearsal_id.eq(None::<Uuid>),
            requests::review_round.eq(round),
            requests::purge_failures.eq(0),
            // A new round gets its own runs (the cap on runs stops loops within a round).
            requests::run_attempts.eq(0),
            requests::lease_until.eq(None::<chrono::DateTime<Utc>>),
            requests::approved_at.eq(None::<chrono::DateTime<Utc>>),
            requests::grace_until.eq(None::<chrono::DateTime<Utc>>),
            requests::failure.eq(code),
            requests::failure_detail.eq(detail),
            requests::purge_checkpoint.eq(checkpoint.map(serde_json::to_value).transpose()?),
        ))
        .execute(c)
        .await?;
    Ok(round)
}
