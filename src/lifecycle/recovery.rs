//! What staff do with a `failed` request: **retry** (after fixing the map or the cause: the
//! request goes back to review and needs a new dry run and new approvals; the purge then
//! resumes idempotently) or **abort** with a reason (a terminal state; the audit entry
//! records exactly what had been applied, and the requester is told the truth).

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use lethe_jobs::purge::{Checkpoint, PurgeReport};
use uuid::Uuid;

use super::failure::back_to_review;
use crate::audit::{self, AuditEntry};
use crate::domain::RequestStatus;
use crate::error::ApiError;
use crate::mail;
use crate::models::Request;
use crate::models::staff::Staff;
use crate::schema::requests;
use crate::state::AppState;

/// Sends a failed request back to review: a new dry run and new approvals are needed.
pub async fn retry(state: &AppState, request_id: Uuid, staff: &Staff) -> Result<Request, ApiError> {
    let mut conn = state.db.get().await?;
    conn.transaction::<_, ApiError, _>(async |c| {
        let request = Request::find_for_update(c, request_id)
            .await?
            .ok_or(ApiError::NotFound)?;
        if request.status() != RequestStatus::Failed {
            return Err(ApiError::Conflict("only failed requests can be retried"));
        }
        let detail = request
            .failure_detail
            .clone()
            .unwrap_or(serde_json::json!({}));
        let code = request.failure.clone().unwrap_or_default();
        let round = back_to_review(c, &request, &format!("retry_after:{code}"), &detail)
            .await
            .map_err(ApiError::Internal)?;
        audit::append(c, &[AuditEntry::retried(request_id, staff.id, round)]).await?;
        Request::find(c, request_id)
            .await?
            .ok_or(ApiError::NotFound)
    })
    .await
}

/// Gives up on a failed request: `aborted`, with what had been applied recorded.
pub async fn abort(
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
            if request.status() != RequestStatus::Failed {
                return Err(ApiError::Conflict("only failed requests can be aborted"));
            }
            let checkpoint: Checkpoint = request
                .purge_checkpoint
                .clone()
                .map(serde_json::from_value)
                .transpose()
                .map_err(|e| ApiError::Internal(e.into()))?
                .unwrap_or_default();
            let applied = PurgeReport::from_checkpoint(&checkpoint);
            diesel::update(requests::table.find(request_id))
                .set((
                    requests::status.eq(RequestStatus::Aborted.as_str()),
                    requests::decision_reason.eq(reason),
                    requests::completed_at.eq(Utc::now()),
                    requests::lease_until.eq(None::<chrono::DateTime<Utc>>),
                    requests::purge_identities.eq(None::<Vec<u8>>),
                    requests::result
                        .eq(serde_json::to_value(&applied)
                            .map_err(|e| ApiError::Internal(e.into()))?),
                ))
                .execute(c)
                .await?;
            audit::append(c, &[AuditEntry::aborted(request_id, staff.id, &applied)]).await?;
            let request = Request::find(c, request_id)
                .await?
                .ok_or(ApiError::NotFound)?;
            state
                .outbox
                .put_to_requester(
                    c,
                    request_id,
                    request.email.as_deref(),
                    "erasure_aborted",
                    mail::erasure_aborted(request_id, &applied),
                )
                .await?;
            Ok(request)
        })
        .await?;
    drop(conn);
    state.outbox.wake();
    Ok(request)
}
