//! `GET /v1/staff/requests/{id}`: one request with its dry run, result, decisions and
//! audit trail.

use actix_web::{HttpResponse, get, web};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::json;
use uuid::Uuid;

use crate::audit::StoredEntry;
use crate::error::ApiError;
use crate::models::{Rehearsal, Request};
use crate::schema::{audit_log, decisions, requests};
use crate::state::AppState;

/// The request in full, for staff (viewer and up), with the address the requester proved
/// (while Lethe still holds it), so that a reviewer sees whose data is at stake.
#[utoipa::path(get, path = "/v1/staff/requests/{id}", params(("id" = Uuid, Path)), security(("staff_token" = [])),
    responses((status = 200, description = "the request"), (status = 404, body = crate::error::ErrorBody)))]
#[get("/v1/staff/requests/{id}")]
pub async fn show(
    _staff: super::StaffMember,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(view(&state, id).await?))
}

/// The request in full as staff see it: the body of `GET /v1/staff/requests/{id}`, and
/// what the console's request page shows.
pub async fn view(state: &AppState, id: Uuid) -> Result<serde_json::Value, ApiError> {
    let mut conn = state.db.get().await?;
    let r = Request::find(&mut conn, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let decided: Vec<(Uuid, String, chrono::DateTime<chrono::Utc>, i32)> = decisions::table
        .filter(decisions::request_id.eq(id))
        .select((
            decisions::staff_id,
            decisions::decision,
            decisions::at,
            decisions::round,
        ))
        .order(decisions::at.asc())
        .load(&mut conn)
        .await?;
    let rehearsal = Rehearsal::latest(&mut conn, id).await?;
    let report = match crate::models::ChildReport::find(&mut conn, id).await? {
        Some(report) => {
            // Other open reports about the same account, by anyone.
            let others: i64 = match &r.matter_hash {
                Some(hash) => {
                    requests::table
                        .filter(requests::kind.eq(r.kind.as_str()))
                        .filter(requests::matter_hash.eq(hash))
                        .filter(requests::id.ne(id))
                        .filter(requests::status.eq_any(["verified", "approved", "processing"]))
                        .count()
                        .get_result(&mut conn)
                        .await?
                }
                None => 0,
            };
            Some(json!({
                "account": report.account,
                "account_kind": report.account_kind(),
                "relationship": report.relationship(),
                "details": report.details,
                "parent_copy_requested": report.copy_requested,
                "parent_copy_standing": report.copy_standing,
                "frozen_at": report.frozen_at,
                "frozen_rows": report.frozen_rows,
                "other_open_reports": others,
            }))
        }
        None => None,
    };
    let listings = crate::models::Listing::of_request(&mut conn, id).await?;
    // The export of an access request: its size and expiry, and while it lasts a
    // 5-minute link (viewer and up may look, as at the evidence).
    let export = match (&r.export_key, r.export_expires_at) {
        (Some(key), Some(expires_at)) => {
            let expired = r.export_deleted_at.is_some() || expires_at <= chrono::Utc::now();
            let link = if expired {
                None
            } else {
                Some(
                    state
                        .storage
                        .presign_get(
                            &lethe_jobs::storage::ObjectRef {
                                bucket: state.settings.storage.exports_bucket.clone(),
                                key: key.clone(),
                            },
                            std::time::Duration::from_secs(300),
                        )
                        .await
                        .map_err(ApiError::Internal)?,
                )
            };
            Some(json!({
                "bytes": r.export_bytes,
                "expires_at": expires_at,
                "expired": expired,
                "download_url": link,
            }))
        }
        _ => None,
    };
    let evidence = match crate::models::Evidence::find(&mut conn, id).await? {
        Some(file) => {
            // A short-lived link while the file is stored (viewer and up may look).
            let link = match file.deleted_at {
                None => Some(
                    state
                        .storage
                        .presign_get(
                            &lethe_jobs::storage::ObjectRef {
                                bucket: state.settings.storage.evidence_bucket.clone(),
                                key: file.object_key.clone(),
                            },
                            std::time::Duration::from_secs(300),
                        )
                        .await
                        .map_err(ApiError::Internal)?,
                ),
                Some(_) => None,
            };
            Some(json!({
                "content_type": file.content_type,
                "bytes": file.bytes,
                "uploaded_at": file.uploaded_at,
                "deleted_at": file.deleted_at,
                "download_url": link,
            }))
        }
        None => None,
    };
    let trail: Vec<StoredEntry> = audit_log::table
        .filter(audit_log::request_id.eq(id))
        .select(StoredEntry::as_select())
        .order(audit_log::seq.asc())
        .load(&mut conn)
        .await?;
    let standing = crate::deadlines::Standing::of(&r, chrono::Utc::now());
    Ok(json!({
        "id": r.id,
        "kind": r.kind(),
        "status": r.status(),
        "regime": r.regime,
        "created_at": r.created_at,
        "ack_due_at": r.ack_due_at,
        "acknowledged_at": r.acknowledged_at,
        "due_at": r.due_at,
        "extended_at": r.extended_at,
        "extension_reason": r.extension_reason,
        "extended_by": r.extended_by,
        "overdue": standing.overdue,
        "ack_overdue": standing.ack_overdue,
        "verified_via": r.verified_via,
        "verified_email": r.verified_at.and(r.email.clone()),
        "approved_at": r.approved_at,
        "grace_until": r.grace_until,
        "started_at": r.started_at,
        "completed_at": r.completed_at,
        "subject_located": r.subject_key.is_some(),
        "report": report,
        "resources": (r.kind() == crate::domain::RequestKind::Likeness).then(|| listings_view(&listings)),
        "evidence": evidence,
        "export": export,
        "rehearsal": rehearsal.as_ref().map(rehearsal_view),
        "approved_rehearsal_id": r.rehearsal_id,
        "review_round": r.review_round,
        "progress": r.purge_checkpoint,
        "result": r.result,
        "failure": r.failure,
        "failure_detail": r.failure_detail,
        "decision_reason": r.decision_reason,
        "decisions": decided.iter().map(|(staff, decision, at, round)| json!({ "staff_id": staff, "decision": decision, "at": at, "round": round })).collect::<Vec<_>>(),
        "audit": trail.iter().map(|e| json!({ "seq": e.seq, "at": e.at, "actor": e.actor, "action": e.action, "details": e.details })).collect::<Vec<_>>(),
    }))
}

/// A rehearsal as staff see it: status, what it ran on, and its per-table summary.
pub fn rehearsal_view(r: &Rehearsal) -> serde_json::Value {
    json!({
        "id": r.id,
        "status": r.status,
        "requested_by": r.requested_by,
        "requested_at": r.requested_at,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "map_hash": r.map_hash,
        "schema_fingerprint": r.schema_fingerprint,
        "approvable": r.approvable(),
        "report": r.report,
        "error": r.error,
    })
}

/// A likeness request's listings as staff see them. A listing not found on the platform
/// (unrecognised, or no such row) says so here, and only here.
pub fn listings_view(listings: &[crate::models::Listing]) -> serde_json::Value {
    listings
        .iter()
        .map(|l| {
            json!({
                "id": l.id,
                "position": l.position,
                "given": l.given,
                "resource": l.resource,
                "key": l.resource_key,
                "state": l.state,
                "decision": l.decision,
                "reason": l.reason,
                "decided_by": l.decided_by,
                "decided_at": l.decided_at,
                "decided_with": l.decided_with,
                "unpublished_at": l.unpublished_at,
                "files_due_at": l.files_due_at,
                "files_deleted_at": l.files_deleted_at,
                "files_deleted": l.files_deleted,
            })
        })
        .collect()
}
