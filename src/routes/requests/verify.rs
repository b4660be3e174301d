//! `POST /v1/requests/{id}/verify`: prove control of the email with the mailed code.

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::RequestView;
use crate::error::ApiError;
use crate::lifecycle::verify as verification;
use crate::routes::client_ip;
use crate::state::AppState;

/// The mailed code.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyBody {
    /// The 8-digit code from the email.
    #[schema(pattern = "^[0-9]{8}$")]
    pub code: String,
}

/// Verified: the token to follow the request with.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Verified {
    /// The request.
    pub request: RequestView,
    /// Requester token: send as `Authorization: Bearer <token>`. Shown once.
    pub token: String,
}

/// Checks the code. Codes expire (15 minutes by default) and allow a few wrong guesses;
/// each wrong guess answers 400 with the attempts left.
#[utoipa::path(
    post, path = "/v1/requests/{id}/verify", request_body = VerifyBody,
    params(("id" = Uuid, Path, description = "request id")),
    responses(
        (status = 200, description = "verified", body = Verified),
        (status = 400, description = "wrong or expired code", body = crate::error::ErrorBody),
        (status = 404, description = "no such request", body = crate::error::ErrorBody),
        (status = 429, description = "too many attempts, or rate limited", body = crate::error::ErrorBody),
    )
)]
#[post("/v1/requests/{id}/verify")]
pub async fn verify(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<VerifyBody>,
) -> Result<HttpResponse, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    let code = body.code.trim();
    if code.len() != 8 || !code.chars().all(|c| c.is_ascii_digit()) {
        return Err(ApiError::field(
            "code",
            "code must be the 8 digits from the email",
        ));
    }
    state.limits.verify_ip(client_ip(&req, &state))?;
    let (request, token) = verification::with_code(&state, id, code).await?;
    tracing::info!(request_id = %request.id, "request verified");
    Ok(HttpResponse::Ok().json(Verified {
        request: RequestView::from_request(&request),
        token,
    }))
}
