//! `POST /v1/staff/requests/{id}/deny`.

use actix_web::{HttpResponse, post, web};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::error::ApiError;
use crate::lifecycle::review;
use crate::state::AppState;

/// Why.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Denial {
    /// A short reason code or note (no personal data), e.g. `identity_not_proven`: 1 to
    /// 200 characters, not only spaces, no control characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub reason: String,
}

/// Denies a request awaiting review (reviewer and up); the requester is told.
#[utoipa::path(post, path = "/v1/staff/requests/{id}/deny", params(("id" = Uuid, Path)), request_body = Denial, security(("staff_token" = [])),
    responses((status = 200, description = "denied"), (status = 409, body = crate::error::ErrorBody)))]
#[post("/v1/staff/requests/{id}/deny")]
pub async fn deny(
    staff: super::StaffMember,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<Denial>,
) -> Result<HttpResponse, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    let reason = super::reason(&body.reason)?;
    let request = review::deny(&state, id, &staff, reason).await?;
    Ok(HttpResponse::Ok().json(json!({ "id": id, "status": request.status() })))
}
