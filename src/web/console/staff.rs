//! `/console/staff` (admins): every staff account, adding one, changing a role, and
//! disabling an account (its sessions end and its tokens stop working) or enabling it.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use crate::domain::{Email, Role};
use crate::models::staff::Staff;
use crate::models::staff_session::LiveSession;
use crate::state::AppState;
use crate::web::csrf::CsrfToken;
use crate::web::error::PageError;
use crate::web::layout::{Errors, Input, csrf_field, day};

/// The new-account form and the role change.
#[derive(Debug, Default, Deserialize)]
pub struct StaffForm {
    /// Email of a new account.
    #[serde(default)]
    pub email: String,
    /// Role (new account, or change).
    #[serde(default)]
    pub role: String,
    /// Initial password of a new account (at least 12 characters).
    #[serde(default)]
    pub password: String,
}

const ROLES: [Role; 4] = [Role::Viewer, Role::Reviewer, Role::Admin, Role::Mailer];

async fn render(
    state: &AppState,
    session: &LiveSession,
    csrf: &CsrfToken,
    form: &StaffForm,
    errors: &Errors,
) -> Result<HttpResponse, PageError> {
    let mut conn = state.db.get().await?;
    let all = Staff::all(&mut conn).await?;
    let role_error = errors.of("role");
    let body = html! {
        (errors.summary())
        table {
            thead { tr { th scope="col" { "Email" } th scope="col" { "Role" } th scope="col" { "Since" } th scope="col" { "State" } } }
            tbody {
                @for s in &all {
                    tr {
                        td { (s.email) }
                        td {
                            form class="inline" method="post" action={ "/console/staff/" (s.id) "/role" } {
                                (csrf_field(&csrf.0))
                                label class="skip" for={ "role-" (s.id) } { "Role of " (s.email) }
                                select id={ "role-" (s.id) } name="role" {
                                    @for r in ROLES { option value=(r.as_str()) selected[s.role == r.as_str()] { (r.as_str()) } }
                                }
                                button type="submit" class="secondary" { "Change" }
                            }
                        }
                        td { (day(s.created_at)) }
                        td {
                            form class="inline" method="post" action={ "/console/staff/" (s.id) @if s.disabled_at.is_some() { "/enable" } @else { "/disable" } } {
                                (csrf_field(&csrf.0))
                                @if s.disabled_at.is_some() {
                                    "disabled " button type="submit" class="secondary" { "Enable" }
                                } @else if s.id != session.staff.id {
                                    "active " button type="submit" class="danger" { "Disable" }
                                } @else { "active (you)" }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Add a staff member" }
        form method="post" action="/console/staff" novalidate {
            (csrf_field(&csrf.0))
            (Input::text("email", "Email").kind("email").render(&form.email, errors))
            div class={ "field" @if role_error.is_some() { " invalid" } } {
                label for="role" { "Role" }
                @if let Some(e) = role_error { p class="error" id="role-error" { (e) } }
                select id="role" name="role" {
                    @for r in ROLES { option value=(r.as_str()) selected[form.role == r.as_str()] { (r.as_str()) } }
                }
            }
            (Input::text("password", "First password").kind("password").autocomplete("new-password")
                .hint("At least 12 characters; tell it to them in person.").render("", errors))
            button type="submit" { "Add" }
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
        "Staff",
        !errors.is_empty(),
        body,
    ))
}

/// `GET /console/staff`.
pub async fn show(
    state: web::Data<AppState>,
    session: LiveSession,
    csrf: CsrfToken,
) -> Result<HttpResponse, PageError> {
    render(
        &state,
        &session,
        &csrf,
        &StaffForm::default(),
        &Errors::default(),
    )
    .await
}

/// `POST /console/staff`: adds an account.
pub async fn create(
    state: web::Data<AppState>,
    session: LiveSession,
    csrf: CsrfToken,
    form: web::Form<StaffForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    let mut errors = Errors::default();
    let email = Email::try_from(form.email.trim()).ok();
    if email.is_none() {
        errors.add("email", "Enter an email address like name@example.com");
    }
    let role = Role::parse(&form.role);
    if role.is_none() {
        errors.add("role", "Choose a role");
    }
    if form.password.chars().count() < 12 {
        errors.add("password", "The password must be at least 12 characters");
    }
    let (Some(email), Some(role), true) = (email, role, errors.is_empty()) else {
        return render(&state, &session, &csrf, &form, &errors).await;
    };
    let mut conn = state.db.get().await?;
    if Staff::find_by_email(&mut conn, &email).await?.is_some() {
        errors.add("email", "There is already an account with this email");
        return render(&state, &session, &csrf, &form, &errors).await;
    }
    let added = Staff::create(&mut conn, &email, role, &form.password)
        .await
        .map_err(|e| PageError::Internal(crate::telemetry::loggable(&e)))?;
    tracing::info!(staff_id = %added.id, by = %session.staff.id, "staff account added");
    Ok(super::see_other("/console/staff"))
}

/// `POST /console/staff/{id}/{role|disable|enable}`.
pub async fn act(
    state: web::Data<AppState>,
    session: LiveSession,
    path: web::Path<(String, String)>,
    form: web::Form<StaffForm>,
) -> Result<HttpResponse, PageError> {
    let (id, action) = path.into_inner();
    let id = Uuid::parse_str(&id).map_err(|_| PageError::NotFound)?;
    let mut conn = state.db.get().await?;
    let changed = match action.as_str() {
        "role" => {
            let role = Role::parse(&form.role).ok_or(PageError::NotFound)?;
            // An admin cannot take away their own admin role (someone must remain).
            if id == session.staff.id && role != Role::Admin {
                return Err(PageError::Forbidden);
            }
            Staff::set_role(&mut conn, id, role).await?
        }
        "disable" if id != session.staff.id => Staff::set_disabled(&mut conn, id, true).await?,
        "enable" => Staff::set_disabled(&mut conn, id, false).await?,
        _ => return Err(PageError::NotFound),
    };
    if !changed {
        return Err(PageError::NotFound);
    }
    tracing::info!(staff_id = %id, by = %session.staff.id, action, "staff account changed");
    Ok(super::see_other("/console/staff"))
}
