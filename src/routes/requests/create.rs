//! `POST /v1/requests`: file a data-subject request.

use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{Email, RequestKind, RequestStatus};
use crate::error::ApiError;
use crate::lifecycle::intake::{self, Identity};
use crate::routes::client_ip;
use crate::state::AppState;

/// A new request: the kind, and either the requester's email (a code is mailed to it) or
/// the platform's signed assertion for a signed-in user.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    /// What is asked for.
    #[schema(value_type = FiledKind)]
    pub kind: String,
    /// The requester's email address.
    #[serde(default)]
    pub email: Option<String>,
    /// An HS256 JWT from the platform naming the signed-in user (`sub`), instead of `email`.
    #[serde(default)]
    pub assertion: Option<String>,
}

/// How the body of `POST /v1/requests` is documented: exactly one of `email` and
/// `assertion` (the handler reads it as [`CreateRequest`] and answers 400 otherwise).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum Filing {
    /// Identity proved later, by the code mailed to `email`.
    ByEmail(ByEmail),
    /// Identity proved at once by the platform's assertion.
    ByAssertion(ByAssertion),
}

/// A filing by email.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ByEmail {
    /// What is asked for.
    kind: FiledKind,
    /// The requester's email address.
    #[schema(format = Email, min_length = 3, max_length = 254)]
    email: String,
}

/// A filing by platform assertion.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ByAssertion {
    /// What is asked for.
    kind: FiledKind,
    /// An HS256 JWT from the platform naming the signed-in user (`sub`).
    #[schema(min_length = 1)]
    assertion: String,
}

/// The kinds of request intake accepts today.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum FiledKind {
    /// A copy of my data.
    Access,
    /// Delete my account and data.
    Deletion,
    /// Stop all marketing mail.
    Unsubscribe,
}

/// The filed request.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Created {
    /// Request id.
    pub id: Uuid,
    /// Kind.
    pub kind: RequestKind,
    /// Status.
    pub status: RequestStatus,
    /// Legal due date.
    pub due_at: DateTime<Utc>,
    /// How identity is proved next: `email_code` (check your mail) or `done`.
    pub verification: &'static str,
    /// Requester token, when identity was proved by assertion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// Files a request. The answer is the same whether or not the email has an account, and
/// whether or not the person already has a request open: each filing by email is a new
/// request with its own mailed code (verifying it joins the person's open request of the
/// same kind, if any). With an assertion, the person's open request of the kind is
/// answered, with a new token.
#[utoipa::path(
    post, path = "/v1/requests", request_body = Filing,
    responses(
        (status = 202, description = "filed (by assertion: or the open request of this kind)", body = Created),
        (status = 400, description = "invalid input", body = crate::error::ErrorBody),
        (status = 401, description = "invalid assertion", body = crate::error::ErrorBody),
        (status = 413, description = "body too large", body = crate::error::ErrorBody),
        (status = 429, description = "rate limited; see Retry-After", body = crate::error::ErrorBody),
    )
)]
#[post("/v1/requests")]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<CreateRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let kind =
        RequestKind::accepted(&body.kind).map_err(|e| ApiError::field("kind", e.to_string()))?;
    let identity = match (body.email.as_deref(), body.assertion.as_deref()) {
        (Some(email), None) => Identity::Email(
            Email::try_from(email).map_err(|e| ApiError::field("email", e.to_string()))?,
        ),
        (None, Some(assertion)) => Identity::Platform(state.assertions.verify(assertion)?),
        (Some(_), Some(_)) => {
            return Err(ApiError::field(
                "assertion",
                "give either email or assertion, not both",
            ));
        }
        (None, None) => return Err(ApiError::field("email", "email is required")),
    };
    let ip = client_ip(&req, &state);
    state.limits.intake_ip(ip)?;
    state.limits.intake_identity(ip, &identity.hash(&state))?;
    let filed = intake::file(&state, kind, identity).await?;
    tracing::info!(request_id = %filed.request.id, created = filed.created, "request filed");
    let verification = if filed.token.is_some() {
        "done"
    } else {
        "email_code"
    };
    Ok(HttpResponse::Accepted().json(Created {
        id: filed.request.id,
        kind: filed.request.kind(),
        status: filed.request.status(),
        due_at: filed.request.due_at,
        verification,
        token: filed.token,
    }))
}
