//! The console half of the staff gate: the session cookie (a random token, HttpOnly,
//! `SameSite=Lax`, `__Host-` prefixed and `Secure` over HTTPS) names a server-side session
//! ([`crate::models::staff_session`]); no live session sends the browser to sign in, a
//! role too small gets a 403 page.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse};
use maud::html;

use crate::models::staff_session::{self, Lifetimes, LiveSession};
use crate::routes::staff::Need;
use crate::state::AppState;
use crate::web::error::PageError;

/// The session cookie's name.
pub fn cookie_name(state: &AppState) -> &'static str {
    if crate::web::secure_cookies(state) {
        "__Host-lethe-console"
    } else {
        "lethe-console"
    }
}

/// The session cookie carrying `token` (a session cookie: the server ends the session).
pub fn cookie(state: &AppState, token: String) -> Cookie<'static> {
    Cookie::build(cookie_name(state), token)
        .path("/")
        .http_only(true)
        .secure(crate::web::secure_cookies(state))
        .same_site(SameSite::Lax)
        .finish()
}

/// The cookie that removes the session cookie.
pub fn removal(state: &AppState) -> Cookie<'static> {
    let mut gone = cookie(state, String::new());
    gone.make_removal();
    gone
}

/// How long sessions last, from `web.console_*`.
pub fn lifetimes(state: &AppState) -> Lifetimes {
    Lifetimes {
        idle: chrono::Duration::minutes(i64::from(state.settings.web.console_idle_minutes)),
        absolute: chrono::Duration::hours(i64::from(state.settings.web.console_absolute_hours)),
    }
}

/// The live session behind the request's cookie, if any (whatever its second factor).
pub async fn session_of(
    req: &HttpRequest,
    state: &AppState,
) -> Result<Option<LiveSession>, PageError> {
    let Some(token) = req.cookie(cookie_name(state)) else {
        return Ok(None);
    };
    let mut conn = state.db.get().await?;
    Ok(staff_session::find(&mut conn, &state.keyed, token.value(), lifetimes(state)).await?)
}

/// The session of a console request if its member's role meets `need`; else the answer
/// to give: to sign in (303), to give the second factor (303), or a 403 page.
pub async fn authenticate(
    req: &HttpRequest,
    state: &AppState,
    need: Need,
) -> Result<LiveSession, HttpResponse> {
    use actix_web::ResponseError;
    let session = match session_of(req, state).await {
        Ok(session) => session,
        Err(error) => return Err(error.error_response()),
    };
    let Some(session) = session else {
        let next = if req.method() == actix_web::http::Method::GET {
            format!(
                "?next={}",
                url::form_urlencoded::byte_serialize(req.path().as_bytes()).collect::<String>()
            )
        } else {
            String::new()
        };
        return Err(super::see_other(&format!("/console/sign-in{next}")));
    };
    if session.staff.totp_enabled_at.is_some() && !session.second_factor {
        return Err(super::see_other("/console/sign-in/code"));
    }
    if !need.allows(session.staff.role()) {
        return Err(super::public_page(
            StatusCode::FORBIDDEN,
            "Your role does not allow this",
            false,
            html! { p { "Ask an admin if you need this. " a href="/console" { "Back to the dashboard" } } },
        ));
    }
    Ok(session)
}

impl FromRequest for LiveSession {
    type Error = PageError;
    type Future = std::future::Ready<Result<Self, PageError>>;

    /// Only what the gate put there: a handler outside it never gets a session.
    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(
            req.extensions()
                .get::<LiveSession>()
                .cloned()
                .ok_or(PageError::NotFound),
        )
    }
}
