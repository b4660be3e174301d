//! Errors of the pages, answered as pages a person understands (never JSON, never the
//! internals).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use maud::html;

use super::layout::{Site, page};
use crate::error::ApiError;

/// Why a page could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// No such page or request (or not the visitor's).
    #[error("not found")]
    NotFound,
    /// The member's role does not allow this.
    #[error("forbidden")]
    Forbidden,
    /// The requester's session for this request is missing or over.
    #[error("session over")]
    SessionOver,
    /// A cross-site or stale form post.
    #[error("forged or stale form")]
    Forged,
    /// Too many attempts from here.
    #[error("rate limited")]
    RateLimited(u64),
    /// Something failed inside Lethe.
    #[error("internal: {0}")]
    Internal(String),
}

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::NotFound | ApiError::Unauthorized => Self::NotFound,
            ApiError::Forbidden => Self::Forbidden,
            ApiError::RateLimited { retry_after } => Self::RateLimited(retry_after),
            other => Self::Internal(format!("{other:?}")),
        }
    }
}

impl From<diesel::result::Error> for PageError {
    fn from(error: diesel::result::Error) -> Self {
        Self::from(ApiError::from(error))
    }
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for PageError {
    fn from(error: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        Self::from(ApiError::from(error))
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::SessionOver => StatusCode::UNAUTHORIZED,
            Self::Forged => StatusCode::FORBIDDEN,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (title, body) = match self {
            Self::NotFound => (
                "Page not found",
                html! { p { "There is nothing here. Check the address, or " a href="/privacy" { "start again" } "." } },
            ),
            Self::Forbidden => (
                "Your role does not allow this",
                html! { p { "Ask an admin if you need this." } },
            ),
            Self::SessionOver => (
                "Your session has ended",
                html! {
                    p { "For your privacy, the page of a request stays open for a short time after you enter the code from your email." }
                    p { "We email you when something happens to your request. To make a new request, " a href="/privacy" { "start again" } "." }
                },
            ),
            Self::Forged => (
                "This form could not be sent",
                html! {
                    p { "The form was out of date, or was sent from another website. Nothing was changed." }
                    p { "Go back, reload the page and try again." }
                },
            ),
            Self::RateLimited(after) => (
                "Too many attempts",
                html! { p { "Please wait " (after) " seconds and try again." } },
            ),
            Self::Internal(detail) => {
                tracing::error!(error = %detail, "page failed");
                (
                    "Something went wrong",
                    html! { p { "Sorry, we could not do this just now. Nothing you sent was lost; please try again in a few minutes." } },
                )
            }
        };
        let mut response = HttpResponse::build(self.status_code());
        if let Self::RateLimited(after) = self {
            response.insert_header((actix_web::http::header::RETRY_AFTER, after.to_string()));
        }
        response
            .content_type("text/html; charset=utf-8")
            .body(page(Site::Privacy, title, false, body).into_string())
    }
}
