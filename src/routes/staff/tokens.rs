//! `POST /v1/staff/tokens`: a staff member signs in with email and password and gets an
//! API token (shown once, stored hashed, revocable with `lethe staff revoke`).

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::Email;
use crate::error::ApiError;
use crate::models::staff::Staff;
use crate::routes::client_ip;
use crate::state::AppState;

/// Sign-in.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// Staff email.
    #[schema(format = Email, min_length = 3, max_length = 254)]
    pub email: String,
    /// Password.
    pub password: String,
    /// A name for the token (e.g. the device).
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub name: Option<String>,
}

/// A new token.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IssuedToken {
    /// Token id (for revocation).
    pub id: Uuid,
    /// The token: send as `Authorization: Bearer <token>`. Shown once.
    pub token: String,
    /// When it stops working (`security.staff_token_ttl_hours` after issue).
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// Issues a token for valid credentials; the same 401, after the same Argon2id work, for an
/// unknown email and a wrong password. Tokens expire after `security.staff_token_ttl_hours`.
/// Rate limited per client address.
#[utoipa::path(post, path = "/v1/staff/tokens", request_body = SignIn,
    responses((status = 201, body = IssuedToken), (status = 401, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
#[post("/v1/staff/tokens")]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<SignIn>,
) -> Result<HttpResponse, ApiError> {
    state.limits.verify_ip(client_ip(&req, &state))?;
    let body = body.into_inner();
    let email = Email::try_from(body.email.as_str())
        .map_err(|e| ApiError::field("email", e.to_string()))?;
    let name = crate::routes::text_field("name", body.name.as_deref().unwrap_or("api"), 100)?;
    let mut conn = state.db.get().await?;
    let found = Staff::find_by_email(&mut conn, &email).await?;
    let staff = Staff::sign_in(found, body.password)
        .await
        .ok_or(ApiError::Unauthorized)?;
    let ttl = state.settings.security.staff_token_ttl();
    let (id, token) = staff
        .issue_token(&mut conn, &state.keyed, name, ttl)
        .await?;
    Ok(HttpResponse::Created().json(IssuedToken {
        id,
        token,
        expires_at: chrono::Utc::now() + ttl,
    }))
}
