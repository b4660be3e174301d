//! `GET /v1/requests/{id}`: the requester follows their request.

use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::Utc;
use lethe_jobs::storage::ObjectRef;
use uuid::Uuid;

use super::{ExportView, RequestView};
use crate::error::ApiError;
use crate::lifecycle::verify as verification;
use crate::routes::bearer;
use crate::state::AppState;

/// Status, due date and, once done, the export's time-limited download link. Needs the
/// requester token; a wrong token answers like an unknown id.
#[utoipa::path(
    get, path = "/v1/requests/{id}",
    params(("id" = Uuid, Path, description = "request id")),
    security(("requester_token" = [])),
    responses(
        (status = 200, description = "the request", body = RequestView),
        (status = 401, description = "no token", body = crate::error::ErrorBody),
        (status = 404, description = "no such request, or not yours", body = crate::error::ErrorBody),
    )
)]
#[get("/v1/requests/{id}")]
pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let token = bearer(&req).ok_or(ApiError::Unauthorized)?;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    let request = verification::authorize(&state, id, token).await?;
    let mut view = RequestView::from_request(&request);
    if let (Some(key), Some(expires_at)) = (&request.export_key, request.export_expires_at) {
        let expired = request.export_deleted_at.is_some() || expires_at <= Utc::now();
        let download_url = if expired {
            None
        } else {
            let object = ObjectRef {
                bucket: state.settings.storage.exports_bucket.clone(),
                key: key.clone(),
            };
            let ttl = (expires_at - Utc::now()).to_std().unwrap_or_default();
            Some(state.storage.presign_get(&object, ttl).await?)
        };
        view.export = Some(ExportView {
            download_url,
            expires_at,
            bytes: request.export_bytes,
            expired,
        });
    }
    Ok(HttpResponse::Ok().json(view))
}
