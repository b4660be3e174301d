//! `POST /v1/staff/requests/{id}/dry-run`: count what a deletion would touch.

use actix_web::{HttpRequest, HttpResponse, post, web};
use uuid::Uuid;

use crate::domain::Role;
use crate::error::ApiError;
use crate::lifecycle::review;
use crate::state::AppState;

/// Counts rows per table (with the action the map gives them: delete, anonymize, retain,
/// detach) and objects per bucket, and stores the counts for the approvers (reviewer and up).
#[utoipa::path(post, path = "/v1/staff/requests/{id}/dry-run", params(("id" = Uuid, Path)), security(("staff_token" = [])),
    responses((status = 200, description = "counts per table and bucket"), (status = 409, body = crate::error::ErrorBody)))]
#[post("/v1/staff/requests/{id}/dry-run")]
pub async fn dry_run(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let staff = super::authenticate(&req, &state, Role::Reviewer).await?;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    let counts = review::dry_run(&state, id, &staff).await?;
    Ok(HttpResponse::Ok().json(counts))
}
