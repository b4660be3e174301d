//! Protection against cross-site form posts, for every state-changing request under the
//! scopes it is mounted on (one place, so that a new form cannot be left out).
//!
//! Double-submit token: a random token lives in an HttpOnly, `SameSite=Strict` cookie
//! (`__Host-` prefixed and `Secure` over HTTPS) and every form carries it back in a
//! hidden `csrf` field (a multipart form, in its action's `csrf` query parameter). A
//! request with a method other than GET/HEAD/OPTIONS is refused with 403 unless both
//! agree and its `Origin` (or, without one, its `Referer`) is this site.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, ResponseError, web};
use futures::StreamExt;
use subtle::ConstantTimeEq;

use super::error::PageError;
use crate::state::AppState;

/// The form field (and query parameter) carrying the token.
pub const FIELD: &str = "csrf";

/// The token of the current visitor, for forms: `CsrfToken` as a handler argument.
#[derive(Debug, Clone)]
pub struct CsrfToken(pub String);

impl FromRequest for CsrfToken {
    type Error = PageError;
    type Future = std::future::Ready<Result<Self, PageError>>;

    /// What [`protect`] put there; a handler outside it cannot render a form.
    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(
            req.extensions()
                .get::<CsrfToken>()
                .cloned()
                .ok_or_else(|| PageError::Internal("a form page outside csrf::protect".into())),
        )
    }
}

/// The cookie's name: `__Host-` prefixed (bound to this host, `Secure`, path `/`) over HTTPS.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-lethe-csrf"
    } else {
        "lethe-csrf"
    }
}

fn fresh_token() -> String {
    crate::secrets::new_token()
}

fn plausible(token: &str) -> bool {
    (20..=100).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The origins this site is reached at: the configured public URL's, and the one the
/// request names itself (`Host` as seen by the server).
fn same_origin(req: &ServiceRequest, state: &AppState) -> bool {
    let origin_of = |value: &str| -> Option<String> {
        let url = url::Url::parse(value).ok()?;
        Some(url.origin().ascii_serialization())
    };
    let claimed = match req.headers().get(header::ORIGIN) {
        Some(origin) => origin.to_str().ok().and_then(origin_of),
        None => req
            .headers()
            .get(header::REFERER)
            .and_then(|r| r.to_str().ok())
            .and_then(origin_of),
    };
    let Some(claimed) = claimed else {
        return false;
    };
    let info = req.connection_info();
    let here = format!("{}://{}", info.scheme(), info.host());
    let public = origin_of(&state.settings.server.public_url);
    claimed == here || Some(&claimed) == public.as_ref()
}

/// The token a state-changing request carries: the `csrf` query parameter, else the
/// `csrf` field of a URL-encoded body (the body is read and put back for the handler).
async fn submitted(req: &mut ServiceRequest, limit: usize) -> Result<Option<String>, PageError> {
    if let Some(token) = url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == FIELD)
        .map(|(_, v)| v.into_owned())
    {
        return Ok(Some(token));
    }
    let form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return Ok(None);
    }
    let mut payload = req.take_payload();
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| PageError::Forged)?;
        if body.len() + chunk.len() > limit {
            return Err(PageError::Forged);
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    let token = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == FIELD)
        .map(|(_, v)| v.into_owned());
    req.set_payload(actix_web::dev::Payload::from(body));
    Ok(token)
}

/// Middleware: refuses a forged state-changing request with 403 and makes sure the
/// visitor has a token (set as a cookie on the answer when new).
pub async fn protect(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .expect("application state is registered");
    let secure = super::secure_cookies(&state);
    let name = cookie_name(secure);
    let known = req
        .cookie(name)
        .map(|c| c.value().to_owned())
        .filter(|t| plausible(t));
    let changes_state = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if changes_state {
        let limit = state.settings.server.body_limit_bytes;
        let verdict = match submitted(&mut req, limit).await {
            Ok(given) => {
                let tokens_agree = match (&known, &given) {
                    (Some(a), Some(b)) => bool::from(a.as_bytes().ct_eq(b.as_bytes())),
                    _ => false,
                };
                if tokens_agree && same_origin(&req, &state) {
                    Ok(())
                } else {
                    Err(PageError::Forged)
                }
            }
            Err(error) => Err(error),
        };
        if let Err(error) = verdict {
            tracing::warn!(path = %req.path(), "cross-site or stale form post refused");
            let response = error.error_response();
            return Ok(req.into_response(response).map_into_right_body());
        }
    }
    let token = known.clone().unwrap_or_else(fresh_token);
    req.extensions_mut().insert(CsrfToken(token.clone()));
    let mut response = next.call(req).await?;
    if known.is_none() {
        let cookie = Cookie::build(name, token)
            .path("/")
            .http_only(true)
            .secure(secure)
            .same_site(SameSite::Strict)
            .finish();
        response.response_mut().add_cookie(&cookie)?;
    }
    Ok(response.map_into_left_body())
}
