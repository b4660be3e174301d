//! Signing in and out of the console. Email and password (Argon2id; an unknown email
//! costs the same work as a wrong password, and both get the same answer), rate limited
//! per client address, and locked for `web.sign_in_lock_minutes` after
//! `web.sign_in_max_failures` failures in a row. An admin with TOTP turned on gives a code
//! next (see [`super::totp`]). Signing out ends this session; "everywhere" ends them all.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use maud::html;
use serde::Deserialize;

use super::guard;
use crate::domain::Email;
use crate::models::staff::Staff;
use crate::models::staff_session::{self, LiveSession};
use crate::routes::client_ip;
use crate::state::AppState;
use crate::web::csrf::CsrfToken;
use crate::web::error::PageError;
use crate::web::layout::{Errors, Input, csrf_field};

/// The sign-in form.
#[derive(Debug, Default, Deserialize)]
pub struct SignInForm {
    /// Staff email.
    #[serde(default)]
    pub email: String,
    /// Password.
    #[serde(default)]
    pub password: String,
}

/// Where to go after signing in.
#[derive(Debug, Default, Deserialize)]
pub struct Next {
    /// A console path.
    #[serde(default)]
    pub next: Option<String>,
    /// Set after signing out.
    #[serde(default)]
    pub signed_out: Option<String>,
}

/// Only console paths: never another site.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(p) if super::is_console(p) && !p.starts_with("//") && !p.contains('\\') => p,
        _ => "/console",
    }
}

fn render(form: &SignInForm, next: &Next, errors: &Errors, csrf: &CsrfToken) -> HttpResponse {
    let action = match &next.next {
        Some(n) => format!(
            "/console/sign-in?next={}",
            url::form_urlencoded::byte_serialize(safe_next(Some(n)).as_bytes()).collect::<String>()
        ),
        None => "/console/sign-in".to_owned(),
    };
    let body = html! {
        (errors.summary())
        @if next.signed_out.is_some() {
            div class="notice" role="status" { p { "You are signed out." } }
        }
        form method="post" action=(action) novalidate {
            (csrf_field(&csrf.0))
            (Input::text("email", "Email").kind("email").autocomplete("username").render(&form.email, errors))
            (Input::text("password", "Password").kind("password").autocomplete("current-password").render("", errors))
            button type="submit" { "Sign in" }
        }
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    };
    super::public_page(
        status,
        "Sign in to the Lethe console",
        !errors.is_empty(),
        body,
    )
}

/// `GET /console/sign-in`.
pub async fn form(next: web::Query<Next>, csrf: CsrfToken) -> HttpResponse {
    render(&SignInForm::default(), &next, &Errors::default(), &csrf)
}

/// `POST /console/sign-in`.
pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    next: web::Query<Next>,
    csrf: CsrfToken,
    form: web::Form<SignInForm>,
) -> Result<HttpResponse, PageError> {
    state.limits.verify_ip(client_ip(&req, &state))?;
    let form = form.into_inner();
    let web = &state.settings.web;
    let refused = |form: &SignInForm| {
        let mut errors = Errors::default();
        errors.add(
            "email",
            format!(
                "The email or password is not right. After {} failed attempts in a row an account is locked for {} minutes.",
                web.sign_in_max_failures, web.sign_in_lock_minutes
            ),
        );
        Ok(render(form, &next, &errors, &csrf))
    };
    let mut conn = state.db.get().await?;
    let found = match Email::try_from(form.email.trim()) {
        Ok(email) => Staff::find_by_email(&mut conn, &email).await?,
        Err(_) => None,
    };
    let found = found.filter(|s| s.disabled_at.is_none());
    let locked = found
        .as_ref()
        .is_some_and(|s| s.locked_until.is_some_and(|until| until > Utc::now()));
    // The same Argon2id work whatever the case, so timing tells nothing.
    let candidate = if locked { None } else { found.clone() };
    let signed_in = Staff::sign_in(candidate, form.password.clone()).await;
    let Some(staff) = signed_in else {
        if let (Some(staff), false) = (&found, locked) {
            let lock = chrono::Duration::minutes(i64::from(web.sign_in_lock_minutes));
            if staff_session::failed(&mut conn, staff.id, web.sign_in_max_failures, lock).await? {
                tracing::warn!(staff_id = %staff.id, "console account locked after failed sign-ins");
            }
        }
        return refused(&form);
    };
    staff_session::succeeded(&mut conn, staff.id).await?;
    // Sessions that can no longer be used are dropped as others sign in.
    staff_session::sweep(&mut conn, guard::lifetimes(&state).idle).await?;
    let needs_code = staff.totp_enabled_at.is_some();
    let token = staff_session::start(
        &mut conn,
        &state.keyed,
        staff.id,
        guard::lifetimes(&state),
        !needs_code,
    )
    .await?;
    tracing::info!(staff_id = %staff.id, "signed in to the console");
    let to = if needs_code {
        "/console/sign-in/code"
    } else {
        safe_next(next.next.as_deref())
    };
    let mut response = super::see_other(to);
    response
        .add_cookie(&guard::cookie(&state, token))
        .map_err(|e| PageError::Internal(e.to_string()))?;
    Ok(response)
}

/// `POST /console/sign-out`: ends this session.
pub async fn sign_out(
    state: web::Data<AppState>,
    session: LiveSession,
) -> Result<HttpResponse, PageError> {
    let mut conn = state.db.get().await?;
    staff_session::end(&mut conn, session.id).await?;
    signed_out(&state)
}

/// `POST /console/sign-out-everywhere`: ends every session of the member.
pub async fn sign_out_everywhere(
    state: web::Data<AppState>,
    session: LiveSession,
) -> Result<HttpResponse, PageError> {
    let mut conn = state.db.get().await?;
    let ended = staff_session::end_all(&mut conn, session.staff.id).await?;
    tracing::info!(staff_id = %session.staff.id, sessions = ended, "signed out everywhere");
    signed_out(&state)
}

fn signed_out(state: &AppState) -> Result<HttpResponse, PageError> {
    let mut response = super::see_other("/console/sign-in?signed_out=1");
    response
        .add_cookie(&guard::removal(state))
        .map_err(|e| PageError::Internal(e.to_string()))?;
    Ok(response)
}
