//! `POST /v1/staff/requests/{id}/retry` and `…/abort`: what staff do with a failed request.

use actix_web::{HttpResponse, post, web};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::error::ApiError;
use crate::lifecycle::recovery;
use crate::state::AppState;

/// Why staff abort.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Abort {
    /// A short reason code or note (no personal data), e.g. `legal_hold`: 1 to 200
    /// characters, not only spaces, no control characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub reason: String,
}

/// Sends a failed request back to review (reviewer and up): after fixing the cause (e.g.
/// the data map), run a new dry run and approve again; the purge then resumes.
#[utoipa::path(post, path = "/v1/staff/requests/{id}/retry", params(("id" = Uuid, Path)), security(("staff_token" = [])),
    responses((status = 200, description = "back to review"), (status = 409, body = crate::error::ErrorBody)))]
#[post("/v1/staff/requests/{id}/retry")]
pub async fn retry(
    staff: super::StaffMember,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    let request = recovery::retry(&state, id, &staff).await?;
    Ok(HttpResponse::Ok().json(
        json!({ "id": id, "status": request.status(), "review_round": request.review_round }),
    ))
}

/// Gives up on a failed request (reviewer and up): it ends `aborted`; the audit trail
/// records what had been applied and the requester is told.
#[utoipa::path(post, path = "/v1/staff/requests/{id}/abort", params(("id" = Uuid, Path)), request_body = Abort, security(("staff_token" = [])),
    responses((status = 200, description = "aborted"), (status = 409, body = crate::error::ErrorBody)))]
#[post("/v1/staff/requests/{id}/abort")]
pub async fn abort(
    staff: super::StaffMember,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<Abort>,
) -> Result<HttpResponse, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    let reason = super::reason(&body.reason)?;
    let request = recovery::abort(&state, id, &staff, reason).await?;
    Ok(HttpResponse::Ok()
        .json(json!({ "id": id, "status": request.status(), "applied": request.result })))
}
