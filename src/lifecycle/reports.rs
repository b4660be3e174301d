//! Reports of a child's account. Staff triage them first: **dismiss** (the reporter is
//! told, nothing changes) or **confirm** on a clean dry run (one that rehearsed the freeze
//! and the purge). A confirmed report is approved at once with no grace period and no
//! word from the account holder: the purge job freezes the account (the map's
//! `[freeze]`), makes a parent's copy when staff confirmed the reporter's standing, then
//! purges the account like a deletion. The reporter learns the outcome, never anything
//! about the account. Each change is one transaction with its audit entry; mail and
//! enqueue after commit.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use lethe_jobs::export::ExportReport;
use lethe_jobs::lifecycle::Run;
use lethe_jobs::storage::ObjectRef;
use uuid::Uuid;

use super::service::ServiceLifecycle;
use crate::audit::{self, AuditEntry};
use crate::db::DbPool;
use crate::domain::{Relationship, RequestKind, RequestStatus};
use crate::error::ApiError;
use crate::mail;
use crate::models::staff::Staff;
use crate::models::{ChildReport, Request};
use crate::schema::{child_reports, decisions, requests};
use crate::state::AppState;

/// Locks a report awaiting triage.
async fn open_report(
    c: &mut diesel_async::AsyncPgConnection,
    request_id: Uuid,
) -> Result<(Request, ChildReport), ApiError> {
    let request = Request::find_for_update(c, request_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if request.kind() != RequestKind::ChildReport {
        return Err(ApiError::Conflict(
            "only child reports are confirmed or dismissed",
        ));
    }
    if request.status() != RequestStatus::Verified {
        return Err(ApiError::Conflict("the report is not awaiting triage"));
    }
    let report = ChildReport::find(c, request_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok((request, report))
}

/// Records a staff decision of this review round (`approve` or `deny`).
async fn decide(
    c: &mut diesel_async::AsyncPgConnection,
    request: &Request,
    staff: &Staff,
    decision: &'static str,
) -> Result<(), ApiError> {
    diesel::insert_into(decisions::table)
        .values((
            decisions::request_id.eq(request.id),
            decisions::staff_id.eq(staff.id),
            decisions::decision.eq(decision),
            decisions::at.eq(Utc::now()),
            decisions::round.eq(request.review_round),
        ))
        .on_conflict((decisions::request_id, decisions::staff_id, decisions::round))
        .do_update()
        .set((
            decisions::decision.eq(decision),
            decisions::at.eq(Utc::now()),
        ))
        .execute(c)
        .await?;
    Ok(())
}

/// Confirms a report on its latest clean dry run: approved now, no grace period, the
/// purge job enqueued after commit. `standing` (staff's note that the reporter is the
/// child's parent or guardian) lets the parent's copy asked for in the report be made.
pub async fn confirm(
    state: &AppState,
    request_id: Uuid,
    staff: &Staff,
    reason: &str,
    standing: Option<&str>,
) -> Result<Request, ApiError> {
    let mut conn = state.db.get().await?;
    let request = conn
        .transaction::<_, ApiError, _>(async |c| {
            let (request, report) = open_report(c, request_id).await?;
            if standing.is_some() && !report.copy_requested {
                return Err(ApiError::field(
                    "parent_copy_standing",
                    "the reporter did not ask for a copy",
                ));
            }
            if standing.is_some() && report.relationship() != Relationship::ParentGuardian {
                return Err(ApiError::field(
                    "parent_copy_standing",
                    "only a parent or guardian gets a copy; the reporter said otherwise",
                ));
            }
            let rehearsal = super::review::clean_rehearsal(c, &request).await?;
            decide(c, &request, staff, "approve").await?;
            if let Some(standing) = standing {
                diesel::update(child_reports::table.find(request_id))
                    .set((
                        child_reports::copy_standing.eq(standing),
                        child_reports::copy_confirmed_by.eq(staff.id),
                    ))
                    .execute(c)
                    .await?;
            }
            let now = Utc::now();
            diesel::update(requests::table.find(request_id))
                .set((
                    requests::status.eq(RequestStatus::Approved.as_str()),
                    requests::approved_at.eq(now),
                    requests::grace_until.eq(None::<chrono::DateTime<Utc>>),
                    requests::rehearsal_id.eq(rehearsal),
                    requests::decision_reason.eq(reason),
                    requests::failure.eq(None::<String>),
                    requests::failure_detail.eq(None::<serde_json::Value>),
                ))
                .execute(c)
                .await?;
            audit::append(
                c,
                &[AuditEntry::report_confirmed(
                    request_id,
                    staff.id,
                    standing.is_some(),
                )],
            )
            .await?;
            Request::find(c, request_id)
                .await?
                .ok_or(ApiError::NotFound)
        })
        .await?;
    drop(conn);
    super::enqueue_after_commit(state, &request).await;
    Ok(request)
}

/// Dismisses a report: nothing on the platform changes, what the report said about the
/// account is forgotten at once, and the reporter is told.
pub async fn dismiss(
    state: &AppState,
    request_id: Uuid,
    staff: &Staff,
    reason: &str,
) -> Result<Request, ApiError> {
    let mut conn = state.db.get().await?;
    let request = conn
        .transaction::<_, ApiError, _>(async |c| {
            let (request, _) = open_report(c, request_id).await?;
            decide(c, &request, staff, "deny").await?;
            diesel::update(requests::table.find(request_id))
                .set((
                    requests::status.eq(RequestStatus::Dismissed.as_str()),
                    requests::decision_reason.eq(reason),
                    requests::completed_at.eq(Utc::now()),
                ))
                .execute(c)
                .await?;
            ChildReport::scrub(c, &[request_id]).await?;
            audit::append(c, &[AuditEntry::report_dismissed(request_id, staff.id)]).await?;
            state
                .outbox
                .put_to_requester(
                    c,
                    request_id,
                    request.email.as_deref(),
                    "report_dismissed",
                    mail::report_dismissed(request_id),
                )
                .await?;
            Request::find(c, request_id)
                .await?
                .ok_or(ApiError::NotFound)
        })
        .await?;
    drop(conn);
    state.outbox.wake();
    Ok(request)
}

/// Records the freeze of a report's account, once.
pub(crate) async fn frozen(db: &DbPool, run: Run, rows: u64) -> anyhow::Result<()> {
    let request_id = run.request_id;
    let mut conn = db.get().await?;
    conn.transaction::<_, anyhow::Error, _>(async |c| {
        Request::held_by(c, run).await?;
        let updated = diesel::update(
            child_reports::table
                .find(request_id)
                .filter(child_reports::frozen_at.is_null()),
        )
        .set((
            child_reports::frozen_at.eq(Utc::now()),
            child_reports::frozen_rows.eq(i64::try_from(rows).unwrap_or(i64::MAX)),
        ))
        .execute(c)
        .await?;
        if updated > 0 {
            audit::append(c, &[AuditEntry::account_frozen(request_id, rows)]).await?;
        }
        Ok(())
    })
    .await
}

/// Records the parent's copy (only while the run still holds the request) and mails its
/// link to the reporter's verified address, and nowhere else.
pub(crate) async fn parent_copy_done(
    svc: &ServiceLifecycle,
    run: Run,
    report: &ExportReport,
    archive: &ObjectRef,
) -> anyhow::Result<()> {
    let request_id = run.request_id;
    let mut conn = svc.db.get().await?;
    let expires = Utc::now() + svc.export_ttl;
    let ttl = (expires - Utc::now()).to_std().unwrap_or_default();
    let link = svc.storage.presign_get(archive, ttl).await?;
    let recorded = conn
        .transaction::<_, anyhow::Error, _>(async |c| {
            let request = Request::held_by(c, run).await?;
            if request.export_key.is_some() {
                return Ok(false);
            }
            diesel::update(requests::table.find(request_id))
                .set((
                    requests::export_key.eq(&archive.key),
                    requests::export_bytes.eq(i64::try_from(report.archive_bytes).ok()),
                    requests::export_expires_at.eq(expires),
                ))
                .execute(c)
                .await?;
            audit::append(c, &[AuditEntry::parent_copy_made(request_id, report)]).await?;
            svc.outbox
                .put_to_requester(
                    c,
                    request_id,
                    request.email.as_deref(),
                    "parent_copy",
                    mail::parent_copy_ready(&link, expires, request_id),
                )
                .await?;
            Ok(true)
        })
        .await?;
    drop(conn);
    if recorded {
        svc.outbox.wake();
    }
    Ok(())
}
