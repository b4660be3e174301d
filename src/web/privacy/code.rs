//! `GET` and `POST /privacy/requests/{id}/code`: the code step. The right code opens the
//! request's pages in this browser (see [`crate::web::requester`]); a wrong one says how
//! many tries are left. The page looks the same for every id, so it tells nothing about
//! which requests exist.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, http::header, web};
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use crate::error::ApiError;
use crate::lifecycle::verify as verification;
use crate::routes::client_ip;
use crate::state::AppState;
use crate::web::csrf::CsrfToken;
use crate::web::error::PageError;
use crate::web::layout::{Errors, Input, Site, csrf_field, page};
use crate::web::requester;

/// The code form.
#[derive(Debug, Deserialize)]
pub struct CodeForm {
    /// The 8 digits from the email.
    #[serde(default)]
    pub code: String,
}

fn id_of(id: &str) -> Result<Uuid, PageError> {
    Uuid::parse_str(id).map_err(|_| PageError::NotFound)
}

/// The form.
pub async fn form(
    state: web::Data<AppState>,
    id: web::Path<String>,
    csrf: CsrfToken,
) -> Result<HttpResponse, PageError> {
    let id = id_of(&id)?;
    Ok(render(&state, id, &Errors::default(), &csrf))
}

/// Checks the code.
pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    csrf: CsrfToken,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, PageError> {
    let id = id_of(&id)?;
    // People type codes with spaces or dashes; the digits are what count.
    let code: String = form.code.chars().filter(char::is_ascii_digit).collect();
    let mut errors = Errors::default();
    if code.len() != 8 || form.code.chars().any(|c| c.is_alphabetic()) {
        errors.add("code", "Enter the 8 digits from the email we sent you");
        return Ok(render(&state, id, &errors, &csrf));
    }
    state.limits.verify_ip(client_ip(&req, &state))?;
    match verification::with_code(&state, id, &code).await {
        Ok((request, token)) => {
            tracing::info!(request_id = %request.id, "request verified on the web");
            Ok(HttpResponse::SeeOther()
                .cookie(requester::cookie(&state, request.id, &token))
                .insert_header((header::LOCATION, requester::path(request.id)))
                .finish())
        }
        Err(ApiError::WrongCode { attempts_left }) => {
            errors.add(
                "code",
                format!(
                    "This code is not right. You can try {attempts_left} more time{}.",
                    if attempts_left == 1 { "" } else { "s" }
                ),
            );
            Ok(render(&state, id, &errors, &csrf))
        }
        Err(ApiError::NotFound) => {
            errors.add("code", "This code is not right");
            Ok(render(&state, id, &errors, &csrf))
        }
        Err(ApiError::CodeExpired | ApiError::TooManyAttempts) => {
            errors.add(
                "code",
                "This code can no longer be used. Please make your request again to get a new code.",
            );
            Ok(render(&state, id, &errors, &csrf))
        }
        Err(other) => Err(other.into()),
    }
}

fn render(state: &AppState, id: Uuid, errors: &Errors, csrf: &CsrfToken) -> HttpResponse {
    let minutes = state.settings.security.code_ttl_minutes;
    let body = html! {
        (errors.summary())
        p { "We sent an email with an 8-digit code to the address you gave. The code works for " (minutes) " minutes." }
        p { "If it has not arrived, check your spam folder." }
        form method="post" action={ "/privacy/requests/" (id) "/code" } novalidate {
            (csrf_field(&csrf.0))
            (Input::text("code", "Code from the email")
                .autocomplete("one-time-code")
                .class("code")
                .render("", errors))
            button type="submit" { "Continue" }
        }
        p { "Code expired? " a href="/privacy" { "Start again" } " to get a new one." }
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(page(Site::Privacy, "Check your email", !errors.is_empty(), body).into_string())
}
