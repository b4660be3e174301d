//! The TOTP second factor for admins (RFC 6238 through the `totp-rs` crate: SHA-1, six
//! digits, 30-second steps, one step of skew). An admin turns it on from
//! `/console/account/totp` by entering a first code; from then on signing in asks for a
//! code after the password, and each code is accepted once. The secret is stored sealed
//! (ChaCha20-Poly1305 under its own purpose key).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use maud::html;
use serde::Deserialize;
use totp_rs::Totp;

use super::guard;
use crate::domain::Role;
use crate::models::staff::Staff;
use crate::models::staff_session::{self, LiveSession};
use crate::routes::client_ip;
use crate::schema::staff;
use crate::secrets::{SealKey, label};
use crate::state::AppState;
use crate::web::csrf::CsrfToken;
use crate::web::error::PageError;
use crate::web::layout::{Errors, Input, csrf_field};

/// A code form.
#[derive(Debug, Default, Deserialize)]
pub struct CodeForm {
    /// Six digits from the authenticator app.
    #[serde(default)]
    pub code: String,
}

fn totp_of(secret: Vec<u8>, account: &str) -> Result<Totp, PageError> {
    totp_rs::Builder::new()
        .with_secret(secret)
        .with_account_name(account)
        .with_issuer(Some("Lethe"))
        .build()
        .map_err(|e| PageError::Internal(e.to_string()))
}

fn secret_of(state: &AppState, member: &Staff) -> Option<Vec<u8>> {
    SealKey::new(&state.keyed, label::TOTP).open(member.totp_secret.as_deref()?)
}

/// Checks `code` against the member's secret and records its step, so that it is not
/// accepted twice. `Ok(false)` for a wrong or used code.
async fn accept(state: &AppState, member: &Staff, code: &str) -> Result<bool, PageError> {
    let Some(secret) = secret_of(state, member) else {
        return Ok(false);
    };
    let totp = totp_of(secret, &member.email)?;
    let Some(step) = totp.check_current(code.trim()) else {
        return Ok(false);
    };
    let step = i64::try_from(step).unwrap_or(i64::MAX);
    let mut conn = state.db.get().await?;
    // Conditional on the step being new: two uses of one code race to one winner.
    let taken = diesel::update(
        staff::table.find(member.id).filter(
            staff::totp_last_step
                .is_null()
                .or(staff::totp_last_step.lt(step)),
        ),
    )
    .set(staff::totp_last_step.eq(step))
    .execute(&mut conn)
    .await?;
    Ok(taken == 1)
}

fn code_page(errors: &Errors, csrf: &CsrfToken) -> HttpResponse {
    let body = html! {
        (errors.summary())
        p { "Enter the 6-digit code your authenticator app shows for Lethe." }
        form method="post" action="/console/sign-in/code" novalidate {
            (csrf_field(&csrf.0))
            (Input::text("code", "Code").autocomplete("one-time-code").class("code").render("", errors))
            button type="submit" { "Continue" }
        }
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    };
    super::public_page(status, "Second step", !errors.is_empty(), body)
}

/// `GET /console/sign-in/code`: the code step of a session waiting for it.
pub async fn code_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    csrf: CsrfToken,
) -> Result<HttpResponse, PageError> {
    match guard::session_of(&req, &state).await? {
        Some(s) if !s.second_factor => Ok(code_page(&Errors::default(), &csrf)),
        Some(_) => Ok(super::see_other("/console")),
        None => Ok(super::see_other("/console/sign-in")),
    }
}

/// `POST /console/sign-in/code`.
pub async fn code_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    csrf: CsrfToken,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, PageError> {
    state.limits.verify_ip(client_ip(&req, &state))?;
    let Some(session) = guard::session_of(&req, &state).await? else {
        return Ok(super::see_other("/console/sign-in"));
    };
    if session.second_factor {
        return Ok(super::see_other("/console"));
    }
    if !accept(&state, &session.staff, &form.code).await? {
        let mut conn = state.db.get().await?;
        let web = &state.settings.web;
        let lock = chrono::Duration::minutes(i64::from(web.sign_in_lock_minutes));
        if staff_session::failed(&mut conn, session.staff.id, web.sign_in_max_failures, lock)
            .await?
        {
            // Locked: this half-open session ends too.
            staff_session::end_all(&mut conn, session.staff.id).await?;
            return Ok(super::see_other("/console/sign-in"));
        }
        let mut errors = Errors::default();
        errors.add("code", "This code is not right, or was already used");
        return Ok(code_page(&errors, &csrf));
    }
    let mut conn = state.db.get().await?;
    staff_session::second_factor_given(&mut conn, session.id).await?;
    staff_session::succeeded(&mut conn, session.staff.id).await?;
    Ok(super::see_other("/console"))
}

/// `GET /console/account/totp`: turning the second factor on (admins).
pub async fn form(
    state: web::Data<AppState>,
    session: LiveSession,
    csrf: CsrfToken,
) -> Result<HttpResponse, PageError> {
    enrol_page(&state, &session, &csrf, &Errors::default()).await
}

async fn enrol_page(
    state: &AppState,
    session: &LiveSession,
    csrf: &CsrfToken,
    errors: &Errors,
) -> Result<HttpResponse, PageError> {
    let member = &session.staff;
    if member.role() != Role::Admin {
        return Ok(super::page(
            session,
            &csrf.0,
            StatusCode::FORBIDDEN,
            "Two-step sign-in",
            false,
            html! { p { "Two-step sign-in is offered to admins." } },
        ));
    }
    if member.totp_enabled_at.is_some() {
        return Ok(super::page(
            session,
            &csrf.0,
            StatusCode::OK,
            "Two-step sign-in",
            false,
            html! { p { "Two-step sign-in is on for your account." } },
        ));
    }
    // A new secret for each visit until one is confirmed.
    let secret: [u8; 20] = rand::random();
    let mut conn = state.db.get().await?;
    diesel::update(staff::table.find(member.id))
        .set(staff::totp_secret.eq(SealKey::new(&state.keyed, label::TOTP).seal(&secret)))
        .execute(&mut conn)
        .await?;
    show_key(session, csrf, errors, secret.to_vec())
}

/// The enrolment form with the key `secret` (the one stored, awaiting its first code).
fn show_key(
    session: &LiveSession,
    csrf: &CsrfToken,
    errors: &Errors,
    secret: Vec<u8>,
) -> Result<HttpResponse, PageError> {
    let url = totp_of(secret, &session.staff.email)?
        .to_url()
        .map_err(|e| PageError::Internal(e.to_string()))?;
    let key = url::Url::parse(&url)
        .ok()
        .and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "secret")
                .map(|(_, v)| v.into_owned())
        })
        .unwrap_or_default();
    let body = html! {
        (errors.summary())
        p { "Add Lethe to your authenticator app with this key, then enter the code it shows." }
        dl class="facts" {
            dt { "Key" } dd { code id="totp-key" { (key) } }
            dt { "Or this address" } dd { code id="totp-url" { (url) } }
        }
        form method="post" action="/console/account/totp" novalidate {
            (csrf_field(&csrf.0))
            (Input::text("code", "Code").autocomplete("one-time-code").class("code").render("", errors))
            button type="submit" { "Turn on two-step sign-in" }
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
        "Two-step sign-in",
        !errors.is_empty(),
        body,
    ))
}

/// `POST /console/account/totp`: the first code turns it on.
pub async fn enable(
    state: web::Data<AppState>,
    session: LiveSession,
    csrf: CsrfToken,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, PageError> {
    if session.staff.role() != Role::Admin || session.staff.totp_enabled_at.is_some() {
        return enrol_page(&state, &session, &csrf, &Errors::default()).await;
    }
    let mut conn = state.db.get().await?;
    let member: Staff = staff::table
        .find(session.staff.id)
        .select(Staff::as_select())
        .first(&mut conn)
        .await?;
    if !accept(&state, &member, &form.code).await? {
        let mut errors = Errors::default();
        errors.add(
            "code",
            "This code is not right; check the key and try the next code",
        );
        let Some(secret) = secret_of(&state, &member) else {
            return enrol_page(&state, &session, &csrf, &errors).await;
        };
        return show_key(&session, &csrf, &errors, secret);
    }
    diesel::update(staff::table.find(member.id))
        .set(staff::totp_enabled_at.eq(Utc::now()))
        .execute(&mut conn)
        .await?;
    staff_session::second_factor_given(&mut conn, session.id).await?;
    tracing::info!(staff_id = %member.id, "two-step sign-in turned on");
    Ok(super::see_other("/console/account/totp"))
}
