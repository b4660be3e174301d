//! `/console/tokens`: a member's personal API tokens. A new token is shown once (stored
//! only as a keyed hash), expires after `security.staff_token_ttl_hours`, and can be
//! revoked here.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use crate::models::staff::Staff;
use crate::models::staff_session::LiveSession;
use crate::state::AppState;
use crate::web::csrf::CsrfToken;
use crate::web::error::PageError;
use crate::web::layout::{Errors, Input, csrf_field, when};

/// The new-token form.
#[derive(Debug, Default, Deserialize)]
pub struct NewToken {
    /// A name for it (the device or script).
    #[serde(default)]
    pub name: String,
}

async fn render(
    state: &AppState,
    session: &LiveSession,
    csrf: &CsrfToken,
    issued: Option<&str>,
    errors: &Errors,
    name: &str,
) -> Result<HttpResponse, PageError> {
    let mut conn = state.db.get().await?;
    let tokens = session.staff.tokens(&mut conn).await?;
    let now = chrono::Utc::now();
    let body = html! {
        (errors.summary())
        @if let Some(token) = issued {
            div class="notice" role="status" {
                p { "Your new token. Copy it now: it is not shown again." }
                p { code id="new-token" { (token) } }
                p { "Send it as " code { "Authorization: Bearer <token>" } "." }
            }
        }
        form method="post" action="/console/tokens" novalidate {
            (csrf_field(&csrf.0))
            (Input::text("name", "Name of the new token").hint("What will use it, e.g. \"reporting script\".").render(name, errors))
            button type="submit" { "Create a token" }
        }
        h2 { "Your tokens" }
        @if tokens.is_empty() { p { "None." } } @else {
            table {
                thead { tr { th scope="col" { "Name" } th scope="col" { "Created" } th scope="col" { "Last used" } th scope="col" { "State" } th scope="col" { span class="skip" { "Revoke" } } } }
                tbody {
                    @for t in &tokens {
                        @let live = t.revoked_at.is_none() && t.expires_at > now;
                        tr {
                            td { (t.name) }
                            td { (when(t.created_at)) }
                            td { (t.last_used_at.map(when).unwrap_or_else(|| "never".into())) }
                            td { @if t.revoked_at.is_some() { "revoked" } @else if !live { "expired" } @else { "valid until " (when(t.expires_at)) } }
                            td {
                                @if live {
                                    form class="inline" method="post" action={ "/console/tokens/" (t.id) "/revoke" } {
                                        (csrf_field(&csrf.0))
                                        button type="submit" class="danger" aria-label={ "Revoke " (t.name) } { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Sessions" }
        form method="post" action="/console/sign-out-everywhere" {
            (csrf_field(&csrf.0))
            button type="submit" class="secondary" { "Sign out everywhere" }
        }
        @if session.staff.role() == crate::domain::Role::Admin {
            p { a href="/console/account/totp" { "Two-step sign-in" } }
        }
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    Ok(super::page(
        session,
        &csrf.0,
        status,
        "API tokens",
        !errors.is_empty(),
        body,
    ))
}

/// `GET /console/tokens`.
pub async fn show(
    state: web::Data<AppState>,
    session: LiveSession,
    csrf: CsrfToken,
) -> Result<HttpResponse, PageError> {
    render(&state, &session, &csrf, None, &Errors::default(), "").await
}

/// `POST /console/tokens`: issues one and shows it once.
pub async fn create(
    state: web::Data<AppState>,
    session: LiveSession,
    csrf: CsrfToken,
    form: web::Form<NewToken>,
) -> Result<HttpResponse, PageError> {
    let name = match crate::routes::text_field("name", &form.name, 100) {
        Ok(name) => name,
        Err(_) => {
            let mut errors = Errors::default();
            errors.add("name", "Give the token a name of 1 to 100 characters");
            return render(&state, &session, &csrf, None, &errors, &form.name).await;
        }
    };
    let mut conn = state.db.get().await?;
    let ttl = state.settings.security.staff_token_ttl();
    let (_, token) = session
        .staff
        .issue_token(&mut conn, &state.keyed, name, ttl)
        .await?;
    drop(conn);
    render(
        &state,
        &session,
        &csrf,
        Some(&token),
        &Errors::default(),
        "",
    )
    .await
}

/// `POST /console/tokens/{id}/revoke`: only one's own.
pub async fn revoke(
    state: web::Data<AppState>,
    session: LiveSession,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let id = Uuid::parse_str(&id).map_err(|_| PageError::NotFound)?;
    let mut conn = state.db.get().await?;
    if !Staff::revoke_own_token(&mut conn, session.staff.id, id).await? {
        return Err(PageError::NotFound);
    }
    Ok(super::see_other("/console/tokens"))
}
