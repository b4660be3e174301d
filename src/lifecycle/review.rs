//! Staff review: approvals (with the optional two-person rule, bound to the latest clean
//! dry run) and denials. Dry runs are in [`super::rehearsal`], retry and abort of failed
//! purges in [`super::recovery`].
//! Each decision is one transaction with its audit entry; enqueue and mail after commit.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::domain::{RehearsalStatus, RequestKind, RequestStatus};
use crate::error::ApiError;
use crate::mail;
use crate::models::staff::Staff;
use crate::models::{Rehearsal, Request};
use crate::schema::{decisions, requests};
use crate::state::AppState;

/// The outcome of an approval.
pub struct Approval {
    /// The request after the decision.
    pub request: Request,
    /// Distinct approvals so far.
    pub approvals: i64,
    /// Approvals needed.
    pub needed: i64,
}

/// Records a staff approval; approves the request once enough distinct staff have.
pub async fn approve(
    state: &AppState,
    request_id: Uuid,
    staff: &Staff,
) -> Result<Approval, ApiError> {
    let settings = &state.settings.requests;
    let grace = chrono::Duration::hours(i64::from(settings.deletion_grace_hours));
    let two_person = settings.deletion_two_person_rule;
    let mut conn = state.db.get().await?;
    let (approval, approved_now) = conn
        .transaction::<_, ApiError, _>(async |c| {
            let request = Request::find_for_update(c, request_id)
                .await?
                .ok_or(ApiError::NotFound)?;
            if request.status() != RequestStatus::Verified {
                return Err(ApiError::Conflict(
                    "only verified requests awaiting review can be approved",
                ));
            }
            if request.kind() == RequestKind::ChildReport {
                return Err(ApiError::Conflict(
                    "a child report is confirmed or dismissed, not approved",
                ));
            }
            let deletion = request.kind() == RequestKind::Deletion;
            // A deletion is approved on the strength of its latest dry run, which must
            // have run every step without failure; the approval binds it, so the purge
            // runs on the map and schema it rehearsed or not at all.
            let rehearsal = if deletion {
                Some(clean_rehearsal(c, &request).await?)
            } else {
                None
            };
            let inserted = diesel::insert_into(decisions::table)
                .values((
                    decisions::request_id.eq(request_id),
                    decisions::staff_id.eq(staff.id),
                    decisions::decision.eq("approve"),
                    decisions::at.eq(Utc::now()),
                    decisions::round.eq(request.review_round),
                ))
                .on_conflict_do_nothing()
                .execute(c)
                .await?;
            if inserted == 0 {
                return Err(ApiError::Conflict(
                    "you have already decided on this request",
                ));
            }
            let approvals: i64 = decisions::table
                .filter(decisions::request_id.eq(request_id))
                .filter(decisions::round.eq(request.review_round))
                .filter(decisions::decision.eq("approve"))
                .count()
                .get_result(c)
                .await?;
            let needed = if deletion && two_person { 2 } else { 1 };
            let approved = approvals >= needed;
            if approved {
                let now = Utc::now();
                diesel::update(requests::table.find(request_id))
                    .set((
                        requests::status.eq(RequestStatus::Approved.as_str()),
                        requests::approved_at.eq(now),
                        requests::grace_until.eq(deletion.then_some(now + grace)),
                        requests::rehearsal_id.eq(rehearsal),
                        requests::failure.eq(None::<String>),
                        requests::failure_detail.eq(None::<serde_json::Value>),
                    ))
                    .execute(c)
                    .await?;
            }
            audit::append(
                c,
                &[AuditEntry::staff_approved(
                    request_id, staff.id, approvals, approved,
                )],
            )
            .await?;
            let request = Request::find(c, request_id)
                .await?
                .ok_or(ApiError::NotFound)?;
            Ok((
                Approval {
                    request,
                    approvals,
                    needed,
                },
                approved,
            ))
        })
        .await?;
    drop(conn);
    if approved_now {
        super::enqueue_after_commit(state, &approval.request).await;
    }
    Ok(approval)
}

/// The latest dry run of a locked request awaiting review, if it is of this review round,
/// finished, and ran every step without failure: what an approval (or a report's
/// confirmation) binds, so the purge runs on the map and schema it rehearsed or not at all.
pub(crate) async fn clean_rehearsal(
    c: &mut diesel_async::AsyncPgConnection,
    request: &Request,
) -> Result<Uuid, ApiError> {
    let latest = Rehearsal::latest(c, request.id)
        .await?
        .ok_or(ApiError::Conflict("run a dry run first"))?;
    if latest.review_round != request.review_round {
        return Err(ApiError::Conflict(
            "the request went back to review; run a new dry run first",
        ));
    }
    if matches!(
        latest.status,
        RehearsalStatus::Queued | RehearsalStatus::Running
    ) {
        return Err(ApiError::Conflict("the dry run has not finished yet"));
    }
    if !latest.approvable() {
        return Err(ApiError::Conflict(
            "the latest dry run did not complete cleanly; fix the cause and run a new dry run",
        ));
    }
    Ok(latest.id)
}

/// Denies a request that has not started; tells the requester.
pub async fn deny(
    state: &AppState,
    request_id: Uuid,
    staff: &Staff,
    reason: &str,
) -> Result<Request, ApiError> {
    let mut conn = state.db.get().await?;
    let request = conn
        .transaction::<_, ApiError, _>(async |c| {
            let request = Request::find_for_update(c, request_id)
                .await?
                .ok_or(ApiError::NotFound)?;
            if request.kind() == RequestKind::ChildReport {
                return Err(ApiError::Conflict(
                    "a child report is confirmed or dismissed, not denied",
                ));
            }
            if !matches!(
                request.status(),
                RequestStatus::PendingVerification | RequestStatus::Verified
            ) {
                return Err(ApiError::Conflict(
                    "only requests awaiting review can be denied",
                ));
            }
            if request.partly_applied() {
                return Err(ApiError::Conflict(
                    "part of this deletion was already applied; finish it (dry run, approve) or abort it",
                ));
            }
            diesel::insert_into(decisions::table)
                .values((
                    decisions::request_id.eq(request_id),
                    decisions::staff_id.eq(staff.id),
                    decisions::decision.eq("deny"),
                    decisions::at.eq(Utc::now()),
                    decisions::round.eq(request.review_round),
                ))
                .on_conflict((decisions::request_id, decisions::staff_id, decisions::round))
                .do_update()
                .set((decisions::decision.eq("deny"), decisions::at.eq(Utc::now())))
                .execute(c)
                .await?;
            diesel::update(requests::table.find(request_id))
                .set((
                    requests::status.eq(RequestStatus::Denied.as_str()),
                    requests::decision_reason.eq(reason),
                    requests::completed_at.eq(Utc::now()),
                ))
                .execute(c)
                .await?;
            audit::append(c, &[AuditEntry::denied(request_id, staff.id)]).await?;
            let request = Request::find(c, request_id)
                .await?
                .ok_or(ApiError::NotFound)?;
            state
                .outbox
                .put_to_requester(
                    c,
                    request_id,
                    request.email.as_deref(),
                    "denial",
                    mail::request_denied(request_id),
                )
                .await?;
            Ok(request)
        })
        .await?;
    state.outbox.wake();
    Ok(request)
}

/// Whether the requester may still withdraw `request` (`decided`: a likeness request with
/// a resource decided): before it starts, a deletion also during its grace period; a child
/// report only before staff confirm it.
pub fn cancellable(request: &Request, decided: bool) -> bool {
    match request.status() {
        RequestStatus::PendingVerification | RequestStatus::Verified => {
            !request.partly_applied() && !decided
        }
        RequestStatus::Approved => {
            request.started_at.is_none() && request.kind() != RequestKind::ChildReport
        }
        _ => false,
    }
}

/// The requester withdraws a request that has not started (for deletions: during the
/// grace period, or any time before the purge begins; a child report only before staff
/// confirm it; a likeness request only before any resource is decided).
pub async fn cancel(state: &AppState, request_id: Uuid, token: &str) -> Result<Request, ApiError> {
    super::verify::authorize(state, request_id, token).await?;
    let mut conn = state.db.get().await?;
    conn.transaction::<_, ApiError, _>(async |c| {
        let request = Request::find_for_update(c, request_id)
            .await?
            .ok_or(ApiError::NotFound)?;
        // Staff's decisions on what others posted stand: a confirmed report, or a likeness
        // request with a resource decided, is no longer the requester's to withdraw.
        let decided = request.kind() == RequestKind::Likeness
            && crate::models::Listing::of_request(c, request_id)
                .await?
                .iter()
                .any(|l| l.decision.is_some());
        if !cancellable(&request, decided) {
            return Err(ApiError::Conflict(
                "the request has already started or ended and can no longer be cancelled",
            ));
        }
        diesel::update(requests::table.find(request_id))
            .set((
                requests::status.eq(RequestStatus::Cancelled.as_str()),
                requests::completed_at.eq(Utc::now()),
            ))
            .execute(c)
            .await?;
        audit::append(c, &[AuditEntry::cancelled(request_id)]).await?;
        Request::find(c, request_id)
            .await?
            .ok_or(ApiError::NotFound)
    })
    .await
}
