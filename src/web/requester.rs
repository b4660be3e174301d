//! The requester's session on the privacy center: after the mailed code is entered, a
//! short-lived cookie, encrypted and authenticated (actix-web's private cookie jar under a
//! purpose key derived from the deployment secret), HttpOnly, `SameSite=Lax`, `Secure`
//! over HTTPS, scoped to the request's own pages. It carries the request id, the
//! requester token (checked exactly as the API checks a bearer token) and its expiry;
//! the token never appears in a URL.

use actix_web::cookie::{Cookie, CookieJar, Key, SameSite};
use actix_web::{FromRequest, HttpRequest, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::PageError;
use crate::lifecycle::verify as verification;
use crate::models::Request;
use crate::secrets::label;
use crate::state::AppState;

/// The cookie's name.
const NAME: &str = "lethe-request";

#[derive(Serialize, Deserialize)]
struct Sealed {
    /// Request id.
    r: Uuid,
    /// Requester token.
    t: String,
    /// Unix time it ends.
    e: i64,
}

fn key(state: &AppState) -> Key {
    Key::derive_from(&state.keyed.hash(label::REQUESTER_COOKIE, "cookie-key"))
}

/// The path the cookie is sent to: the request's pages only.
pub fn path(id: Uuid) -> String {
    format!("/privacy/requests/{id}")
}

/// The cookie opening request `id`'s pages with `token` for
/// `web.requester_session_minutes`.
pub fn cookie(state: &AppState, id: Uuid, token: &str) -> Cookie<'static> {
    let minutes = i64::from(state.settings.web.requester_session_minutes);
    let ends = Utc::now() + chrono::Duration::minutes(minutes);
    let value = serde_json::to_string(&Sealed {
        r: id,
        t: token.to_owned(),
        e: ends.timestamp(),
    })
    .expect("plain fields serialize");
    let mut jar = CookieJar::new();
    jar.private_mut(&key(state)).add(
        Cookie::build(NAME, value)
            .path(path(id))
            .http_only(true)
            .secure(super::secure_cookies(state))
            .same_site(SameSite::Lax)
            .max_age(actix_web::cookie::time::Duration::minutes(minutes))
            .finish(),
    );
    jar.get(NAME).cloned().expect("just added")
}

/// A requester signed in to one request's pages: the request as stored and the token.
pub struct RequesterSession {
    /// The request.
    pub request: Request,
    /// The requester token (for lifecycle calls that check it).
    pub token: String,
    /// When the session ends.
    pub ends: DateTime<Utc>,
}

impl RequesterSession {
    async fn open(req: HttpRequest) -> Result<Self, PageError> {
        let state = req
            .app_data::<web::Data<AppState>>()
            .cloned()
            .ok_or_else(|| PageError::Internal("no application state".into()))?;
        let id: Uuid = req
            .match_info()
            .get("id")
            .and_then(|id| Uuid::parse_str(id).ok())
            .ok_or(PageError::NotFound)?;
        let Some(raw) = req.cookie(NAME) else {
            return Err(PageError::SessionOver);
        };
        let mut jar = CookieJar::new();
        jar.add_original(raw);
        let sealed: Sealed = jar
            .private(&key(&state))
            .get(NAME)
            .and_then(|c| serde_json::from_str(c.value()).ok())
            .ok_or(PageError::SessionOver)?;
        let ends = DateTime::from_timestamp(sealed.e, 0).ok_or(PageError::SessionOver)?;
        if sealed.r != id || ends <= Utc::now() {
            return Err(PageError::SessionOver);
        }
        let request = verification::authorize(&state, id, &sealed.t)
            .await
            .map_err(|_| PageError::SessionOver)?;
        Ok(Self {
            request,
            token: sealed.t,
            ends,
        })
    }
}

impl FromRequest for RequesterSession {
    type Error = PageError;
    type Future = futures::future::LocalBoxFuture<'static, Result<Self, PageError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        Box::pin(Self::open(req.clone()))
    }
}
