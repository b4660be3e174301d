//! `POST /v1/requests/{id}/cancel`: the requester withdraws a request.

use actix_web::{HttpRequest, HttpResponse, post, web};
use uuid::Uuid;

use super::RequestView;
use crate::error::ApiError;
use crate::lifecycle::review;
use crate::routes::bearer;
use crate::state::AppState;

/// Cancels a request that has not started: before verification, while awaiting review,
/// or (a deletion) during its grace period. Once the work has begun: 409.
#[utoipa::path(post, path = "/v1/requests/{id}/cancel", params(("id" = Uuid, Path)), security(("requester_token" = [])),
    responses((status = 200, body = RequestView), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
#[post("/v1/requests/{id}/cancel")]
pub async fn cancel(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let token = bearer(&req).ok_or(ApiError::Unauthorized)?;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    let request = review::cancel(&state, id, token).await?;
    tracing::info!(request_id = %id, "request cancelled");
    Ok(HttpResponse::Ok().json(RequestView::from_request(&request)))
}
