//! The one HTTP error boundary. Every failure a client can cause is a 4xx with a stable
//! machine-readable code, a message for people and, where it applies, the field:
//! `{ "error": { "code", "message", "field" } }`. Messages never echo input or secrets.
//! Anything unexpected is an opaque 500; its chain goes to the log only, database
//! messages reduced to kind, table and constraint ([`crate::telemetry::loggable`]) — the
//! `Debug` form, which actix logs too, says no more.

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// An API error.
#[derive(thiserror::Error)]
pub enum ApiError {
    /// The body is not valid JSON, or not of the expected shape.
    #[error("{message}")]
    MalformedBody {
        /// What is wrong.
        message: String,
    },
    /// A field is invalid.
    #[error("{message}")]
    InvalidField {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The body is larger than allowed.
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit.
        limit: usize,
    },
    /// No such request (or not yours).
    #[error("no such request")]
    NotFound,
    /// The staff member's role does not allow this.
    #[error("your role does not allow this")]
    Forbidden,
    /// No requester token was presented.
    #[error("a valid token is required (Authorization: Bearer <token>)")]
    Unauthorized,
    /// The verification code is wrong.
    #[error("the verification code is wrong")]
    WrongCode {
        /// Guesses left.
        attempts_left: i32,
    },
    /// The verification code expired (or none is active).
    #[error("the verification code has expired; file the request again to get a new one")]
    CodeExpired,
    /// Too many wrong guesses.
    #[error("too many wrong codes; file the request again to get a new one")]
    TooManyAttempts,
    /// The platform assertion is invalid.
    #[error("the platform assertion is invalid: {0}")]
    InvalidAssertion(&'static str),
    /// Rate limited.
    #[error("too many requests; retry after {retry_after} seconds")]
    RateLimited {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// The request is in a state that does not allow this.
    #[error("{0}")]
    Conflict(&'static str),
    /// What was asked for existed once and is gone for good (an expired link).
    #[error("{0}")]
    Gone(&'static str),
    /// The path exists, but not with this method.
    #[error("this method is not allowed here")]
    MethodNotAllowed {
        /// The methods that are (the `Allow` header).
        allow: String,
    },
    /// The request (its body, say) did not arrive in time.
    #[error("the request took too long to arrive")]
    Timeout,
    /// Something failed that the client could not have caused.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl std::fmt::Debug for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Internal(error) => {
                write!(f, "Internal({})", crate::telemetry::loggable(error))
            }
            other => write!(f, "{}({other})", other.code()),
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Internal(error.into())
    }
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for ApiError {
    fn from(error: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        Self::Internal(anyhow::Error::new(error).context("service database unavailable"))
    }
}

#[derive(Serialize, utoipa::ToSchema)]
/// The error envelope.
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
/// One error.
pub struct ErrorDetail {
    /// Stable machine-readable code.
    pub code: &'static str,
    /// For people.
    pub message: String,
    /// The offending field, if one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
    /// Guesses left, for a wrong code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts_left: Option<i32>,
}

impl ApiError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MalformedBody { .. } => "malformed_body",
            Self::InvalidField { .. } => "invalid_field",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::NotFound => "not_found",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::WrongCode { .. } => "wrong_code",
            Self::CodeExpired => "code_expired",
            Self::TooManyAttempts => "too_many_attempts",
            Self::InvalidAssertion(_) => "invalid_assertion",
            Self::RateLimited { .. } => "rate_limited",
            Self::Conflict(_) => "conflict",
            Self::Timeout => "request_timeout",
            Self::Gone(_) => "gone",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::Internal(_) => "internal",
        }
    }

    /// A field error.
    pub fn field(field: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidField {
            field,
            message: message.into(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::MalformedBody { .. }
            | Self::InvalidField { .. }
            | Self::WrongCode { .. }
            | Self::CodeExpired => StatusCode::BAD_REQUEST,
            Self::InvalidAssertion(_) | Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::TooManyAttempts | Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Timeout => StatusCode::REQUEST_TIMEOUT,
            Self::Gone(_) => StatusCode::GONE,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Internal(error) = self {
            tracing::error!(error = crate::telemetry::loggable(error), "internal error");
        }
        let field = match self {
            Self::InvalidField { field, .. } => Some(*field),
            Self::WrongCode { .. } | Self::CodeExpired | Self::TooManyAttempts => Some("code"),
            Self::InvalidAssertion(_) => Some("assertion"),
            _ => None,
        };
        let attempts_left = match self {
            Self::WrongCode { attempts_left } => Some(*attempts_left),
            _ => None,
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.to_string(),
                field,
                attempts_left,
            },
        };
        let mut response = HttpResponse::build(self.status_code()).json(body);
        if let Self::RateLimited { retry_after } = self {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(*retry_after));
        }
        if let Self::MethodNotAllowed { allow } = self
            && let Ok(value) = HeaderValue::from_str(allow)
        {
            response
                .headers_mut()
                .insert(actix_web::http::header::ALLOW, value);
        }
        response
    }
}

/// Maps actix' JSON extractor errors onto the API's envelope.
pub fn json_error(error: actix_web::error::JsonPayloadError, limit: usize) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    let api = match &error {
        E::OverflowKnownLength { .. } | E::Overflow { .. } => ApiError::PayloadTooLarge { limit },
        E::ContentType => ApiError::MalformedBody {
            message: "Content-Type must be application/json".into(),
        },
        E::Deserialize(e) if e.is_data() => ApiError::MalformedBody {
            message: describe_serde(e),
        },
        E::Deserialize(_) => ApiError::MalformedBody {
            message: "request body is not valid JSON".into(),
        },
        _ => ApiError::MalformedBody {
            message: "request body could not be read".into(),
        },
    };
    api.into()
}

/// serde's data errors name fields and expected types but can quote input values and
/// the client's own field names; keep only names Lethe defines. An unknown field is
/// answered with the fields that are allowed, never with the name the client sent.
fn describe_serde(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let text = text.split(" at line ").next().unwrap_or(&text);
    describe_fields(text, "field")
}

/// The shared wording of [`describe_serde`] and query-string errors: `what` is `field` or
/// `parameter`.
pub fn describe_fields(text: &str, what: &str) -> String {
    if text.starts_with("unknown field") {
        // "unknown field `x`, expected one of `a`, `b`": the names after "expected" are ours.
        let allowed: Vec<&str> = text
            .split_once("expected")
            .map(|(_, ours)| ours.split('`').skip(1).step_by(2).collect())
            .unwrap_or_default();
        if allowed.is_empty() {
            format!("an unknown {what} was given; none are allowed here")
        } else {
            format!(
                "an unknown {what} was given; allowed: {}",
                allowed.join(", ")
            )
        }
    } else if text.starts_with("missing field") {
        // The missing name is one of ours.
        let name = text.split('`').nth(1).unwrap_or("?");
        format!("missing {what} `{name}`")
    } else if what == "field" {
        "request body does not have the expected shape".into()
    } else {
        "a parameter has the wrong type".into()
    }
}
