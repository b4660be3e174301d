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
    pub email: String,
    /// Password.
    pub password: String,
    /// A name for the token (e.g. the device).
    #[serde(default)]
    pub name: Option<String>,
}

/// A new token.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IssuedToken {
    /// Token id (for revocation).
    pub id: Uuid,
    /// The token: send as `Authorization: Bearer <token>`. Shown once.
    pub token: String,
}

/// Issues a token for valid credentials; the same 401 for an unknown email and a wrong
/// password. Rate limited per client address.
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
    let mut conn = state.db.get().await?;
    let staff = Staff::find_by_email(&mut conn, &email).await?;
    let valid = match &staff {
        Some(staff) => staff.check_password(body.password).await,
        None => {
            // Spend the same time as a real check, so timing does not reveal accounts.
            let _ = crate::models::staff::hash_password(&body.password);
            false
        }
    };
    let staff = staff.filter(|_| valid).ok_or(ApiError::Unauthorized)?;
    let name = body.name.unwrap_or_else(|| "api".into());
    if name.len() > 100 {
        return Err(ApiError::field(
            "name",
            "name must be at most 100 characters",
        ));
    }
    let (id, token) = staff.issue_token(&mut conn, &state.keyed, &name).await?;
    Ok(HttpResponse::Created().json(IssuedToken { id, token }))
}
