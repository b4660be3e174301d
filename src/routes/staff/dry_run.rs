//! `POST /v1/staff/requests/{id}/dry-run`: rehearse what a deletion would do.

use actix_web::{HttpResponse, post, web};
use uuid::Uuid;

use crate::error::ApiError;
use crate::lifecycle::rehearsal;
use crate::state::AppState;

/// Queues a dry run (reviewer and up): a worker runs the whole purge plan in a
/// transaction that is rolled back and records exact counts per table (cascades and
/// trigger writes included), objects per bucket, and any constraint or trigger failure.
/// Answers 202 with the rehearsal; `GET /v1/staff/requests/{id}` shows it when done.
/// Asking again while one is queued or running returns that one.
#[utoipa::path(post, path = "/v1/staff/requests/{id}/dry-run", params(("id" = Uuid, Path)), security(("staff_token" = [])),
    responses((status = 202, description = "the rehearsal, queued"), (status = 409, body = crate::error::ErrorBody)))]
#[post("/v1/staff/requests/{id}/dry-run")]
pub async fn dry_run(
    staff: super::StaffMember,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    let rehearsal = rehearsal::request(&state, id, &staff).await?;
    Ok(HttpResponse::Accepted().json(super::show::rehearsal_view(&rehearsal)))
}
