//! `POST /v1/staff/requests/{id}/approve`.

use actix_web::{HttpResponse, post, web};
use serde_json::json;
use uuid::Uuid;

use crate::error::ApiError;
use crate::lifecycle::review;
use crate::state::AppState;

/// Approves a verified request (reviewer and up). A deletion needs a dry run first and,
/// under the two-person rule, a second approval by someone else; it then waits out the
/// grace period before the purge runs.
#[utoipa::path(post, path = "/v1/staff/requests/{id}/approve", params(("id" = Uuid, Path)), security(("staff_token" = [])),
    responses((status = 200, description = "approval recorded"), (status = 403, body = crate::error::ErrorBody),
               (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
#[post("/v1/staff/requests/{id}/approve")]
pub async fn approve(
    staff: super::StaffMember,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    let approval = review::approve(&state, id, &staff).await?;
    tracing::info!(request_id = %id, staff_id = %staff.id, approvals = approval.approvals, "approval recorded");
    Ok(HttpResponse::Ok().json(json!({
        "id": id,
        "status": approval.request.status(),
        "approvals": approval.approvals,
        "approvals_needed": approval.needed,
        "grace_until": approval.request.grace_until,
    })))
}
