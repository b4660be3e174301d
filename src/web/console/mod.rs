//! The staff console under `/console`: sign-in with server-side sessions, a dashboard, the
//! request queue, each request's page with its decisions, personal API tokens, and staff
//! management for admins. Every page but sign-in is behind the one staff gate
//! ([`crate::routes::staff::gate`]), which checks the session and the role for the whole
//! `/console/` prefix before routing (see [`requirement`]), so that a page added later
//! cannot be left open; forms are protected by [`crate::web::csrf::protect`] on the scope.

pub mod actions;
pub mod dashboard;
pub mod detail;
pub mod guard;
pub mod queue;
pub mod signin;
pub mod staff;
pub mod tokens;
pub mod totp;

use actix_web::http::{Method, StatusCode};
use actix_web::middleware::from_fn;
use actix_web::{HttpResponse, web};
use maud::{Markup, html};

use crate::domain::Role;
use crate::models::staff_session::LiveSession;
use crate::routes::staff::Need;
use crate::web::layout::{csrf_field, shell};

/// Whether `path` (decoded) is a console path.
pub fn is_console(path: &str) -> bool {
    path == "/console" || path.starts_with("/console/")
}

/// The console's pages reachable without a session: signing in.
pub const PUBLIC: [&str; 2] = ["/console/sign-in", "/console/sign-in/code"];

/// What a console path needs: nothing for signing in; `admin` for staff management;
/// `viewer` to read, sign out or manage one's own tokens; `reviewer` for anything else
/// that changes state. Unknown paths under `/console/` need a session too (they answer
/// 404 only to the signed-in).
pub fn requirement(method: &Method, path: &str) -> Option<Need> {
    if PUBLIC.contains(&path) {
        return None;
    }
    let own = ["/console/sign-out", "/console/tokens", "/console/account"]
        .iter()
        .any(|p| {
            path == *p || path.starts_with(&format!("{p}/")) || path.starts_with(&format!("{p}-"))
        });
    let role = if path == "/console/staff" || path.starts_with("/console/staff/") {
        Role::Admin
    } else if matches!(*method, Method::GET | Method::HEAD) || own {
        Role::Viewer
    } else {
        Role::Reviewer
    };
    Some(Need::AtLeast(role))
}

/// Registers the console's pages under its scope.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/console")
            .wrap(from_fn(crate::web::csrf::protect))
            .service(web::resource("").route(web::get().to(dashboard::show)))
            .service(
                web::resource("/sign-in")
                    .route(web::get().to(signin::form))
                    .route(web::post().to(signin::submit)),
            )
            .service(
                web::resource("/sign-in/code")
                    .route(web::get().to(totp::code_form))
                    .route(web::post().to(totp::code_submit)),
            )
            .service(web::resource("/sign-out").route(web::post().to(signin::sign_out)))
            .service(
                web::resource("/sign-out-everywhere")
                    .route(web::post().to(signin::sign_out_everywhere)),
            )
            .service(web::resource("/requests").route(web::get().to(queue::show)))
            .service(web::resource("/requests/{id}").route(web::get().to(detail::show)))
            .service(web::resource("/requests/{id}/{action}").route(web::post().to(actions::act)))
            .service(
                web::resource("/tokens")
                    .route(web::get().to(tokens::show))
                    .route(web::post().to(tokens::create)),
            )
            .service(web::resource("/tokens/{id}/revoke").route(web::post().to(tokens::revoke)))
            .service(
                web::resource("/account/totp")
                    .route(web::get().to(totp::form))
                    .route(web::post().to(totp::enable)),
            )
            .service(
                web::resource("/staff")
                    .route(web::get().to(staff::show))
                    .route(web::post().to(staff::create)),
            )
            .service(web::resource("/staff/{id}/{action}").route(web::post().to(staff::act)))
            .default_service(web::to(not_found)),
    );
}

async fn not_found(session: LiveSession, csrf: crate::web::csrf::CsrfToken) -> HttpResponse {
    page(
        &session,
        &csrf.0,
        StatusCode::NOT_FOUND,
        "Page not found",
        false,
        html! { p { a href="/console" { "Back to the dashboard" } } },
    )
}

/// The console's header: its sections, who is signed in, and signing out.
fn nav(session: &LiveSession, csrf: &str) -> Markup {
    html! {
        a href="/console" { "Lethe console" }
        a href="/console/requests" { "Requests" }
        a href="/console/tokens" { "API tokens" }
        @if session.staff.role() == Role::Admin { a href="/console/staff" { "Staff" } }
        span class="right" { (session.staff.email) " (" (session.staff.role().as_str()) ")" }
        form class="inline" method="post" action="/console/sign-out" {
            (csrf_field(csrf))
            button type="submit" class="secondary" { "Sign out" }
        }
    }
}

/// A console page for the signed-in member.
pub fn page(
    session: &LiveSession,
    csrf: &str,
    status: StatusCode,
    title: &str,
    has_errors: bool,
    body: Markup,
) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(shell(title, has_errors, nav(session, csrf), true, body).into_string())
}

/// A console page before sign-in.
pub fn public_page(
    status: StatusCode,
    title: &str,
    has_errors: bool,
    body: Markup,
) -> HttpResponse {
    let nav = html! { a href="/console" { "Lethe console" } };
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(shell(title, has_errors, nav, false, body).into_string())
}

/// A redirect after a form (303, so the browser follows with GET).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, location.to_owned()))
        .finish()
}
