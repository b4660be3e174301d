//! `POST /v1/staff/requests/{id}/confirm` and `…/dismiss`: triage of child reports.

use actix_web::{HttpResponse, post, web};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::error::ApiError;
use crate::lifecycle::reports;
use crate::state::AppState;

/// A confirmation.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Confirmation {
    /// Why the report holds (a short note, no personal data): 1 to 200 characters, not
    /// only spaces, no control characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub reason: String,
    /// Only when the reporter asked for a parent's copy: how their standing as the
    /// child's parent or guardian was confirmed (same rules as `reason`). Without it no
    /// copy is made.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub parent_copy_standing: Option<String>,
}

/// A dismissal.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Dismissal {
    /// Why no action is taken (a short note, no personal data): 1 to 200 characters, not
    /// only spaces, no control characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub reason: String,
}

/// Confirms a child report on its latest clean dry run (reviewer and up): the account is
/// frozen at once, then (after a parent's copy, when standing is confirmed) purged, with
/// no grace period; the reporter is told the outcome.
#[utoipa::path(post, path = "/v1/staff/requests/{id}/confirm", params(("id" = Uuid, Path)), request_body = Confirmation, security(("staff_token" = [])),
    responses((status = 200, description = "confirmed; the freeze and purge are queued"), (status = 409, body = crate::error::ErrorBody)))]
#[post("/v1/staff/requests/{id}/confirm")]
pub async fn confirm(
    staff: super::StaffMember,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<Confirmation>,
) -> Result<HttpResponse, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    let reason = super::reason(&body.reason)?;
    let standing = body
        .parent_copy_standing
        .as_deref()
        .map(|s| crate::routes::text_field("parent_copy_standing", s, 200))
        .transpose()?;
    let request = reports::confirm(&state, id, &staff, reason, standing).await?;
    Ok(HttpResponse::Ok().json(json!({ "id": id, "status": request.status() })))
}

/// Dismisses a child report (reviewer and up): nothing changes on the platform; the
/// reporter is told.
#[utoipa::path(post, path = "/v1/staff/requests/{id}/dismiss", params(("id" = Uuid, Path)), request_body = Dismissal, security(("staff_token" = [])),
    responses((status = 200, description = "dismissed"), (status = 409, body = crate::error::ErrorBody)))]
#[post("/v1/staff/requests/{id}/dismiss")]
pub async fn dismiss(
    staff: super::StaffMember,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<Dismissal>,
) -> Result<HttpResponse, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    let reason = super::reason(&body.reason)?;
    let request = reports::dismiss(&state, id, &staff, reason).await?;
    Ok(HttpResponse::Ok().json(json!({ "id": id, "status": request.status() })))
}
