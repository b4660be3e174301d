//! `PUT /v1/requests/{id}/evidence`: the requester's one evidence file for a likeness
//! request (an image or a PDF), checked by its content, stored privately.

use actix_web::{HttpRequest, HttpResponse, put, web};
use futures::StreamExt;
use serde::Serialize;
use uuid::Uuid;

use crate::error::ApiError;
use crate::lifecycle::evidence;
use crate::routes::bearer;
use crate::state::AppState;

/// The stored file.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Stored {
    /// Its type, as read from its content.
    pub content_type: String,
    /// Its size in bytes.
    pub bytes: i64,
}

/// Stores (or replaces) the evidence of a verified likeness request awaiting decisions:
/// the raw bytes of one PNG, JPEG, WebP or GIF image or PDF document, at most
/// `requests.evidence_max_bytes`. The type is read from the content, never from a name or
/// a header. The file is deleted once every listed resource is decided.
#[utoipa::path(put, path = "/v1/requests/{id}/evidence", params(("id" = Uuid, Path)),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "the file's bytes"),
    security(("requester_token" = [])),
    responses((status = 200, body = Stored), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
#[put("/v1/requests/{id}/evidence")]
pub async fn upload(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let token = bearer(&req).ok_or(ApiError::Unauthorized)?;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    // Who asks comes first: a stranger learns nothing about the file rules' outcome.
    crate::lifecycle::verify::authorize(&state, id, token).await?;
    let limit = usize::try_from(state.settings.requests.evidence_max_bytes).unwrap_or(usize::MAX);
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ApiError::field("evidence", "the upload was interrupted"))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    if body.is_empty() {
        return Err(ApiError::field("evidence", "the file is empty"));
    }
    let content_type = evidence::evidence_type(&body).ok_or_else(|| {
        ApiError::field(
            "evidence",
            "the file must be an image (PNG, JPEG, WebP, GIF) or a PDF",
        )
    })?;
    let stored = evidence::store_evidence(&state, id, content_type, body.freeze()).await?;
    tracing::info!(request_id = %id, bytes = stored.bytes, "evidence stored");
    Ok(HttpResponse::Ok().json(Stored {
        content_type: stored.content_type,
        bytes: stored.bytes,
    }))
}
