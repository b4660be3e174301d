//! HTTP handlers, one file per verb under a folder per resource.

pub mod health;
pub mod openapi;
pub mod requests;
pub mod signals;
pub mod staff;
pub mod suppressions;
pub mod unsubscribe;

use std::net::IpAddr;

use actix_web::{HttpRequest, web};

use crate::state::AppState;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(openapi::document)
        .service(requests::create::create)
        .service(requests::verify::verify)
        .service(requests::show::show)
        .service(requests::cancel::cancel)
        .service(requests::evidence::upload)
        .service(staff::tokens::create)
        .service(staff::list::list)
        .service(staff::show::show)
        .service(staff::dry_run::dry_run)
        .service(staff::recover::retry)
        .service(staff::recover::abort)
        .service(staff::approve::approve)
        .service(staff::deny::deny)
        .service(staff::extend::extend)
        .service(staff::reports::confirm)
        .service(staff::reports::dismiss)
        .service(staff::resources::decide)
        .service(staff::suppressions::delete)
        .service(unsubscribe::links::create)
        .service(unsubscribe::one_click::confirm)
        .service(unsubscribe::one_click::unsubscribe)
        .service(signals::gpc);
    suppressions::configure(cfg);
}

/// Middleware: a request whose body has not arrived and been answered within `limit`
/// (a client stalling mid-body, say) gets 408 and its connection is closed.
pub async fn within(
    limit: std::time::Duration,
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    use actix_web::ResponseError;
    match tokio::time::timeout(limit, next.call(req)).await {
        Ok(response) => response,
        Err(_) => {
            let error = crate::error::ApiError::Timeout;
            let mut response = error.error_response();
            response
                .head_mut()
                .set_connection_type(actix_web::http::ConnectionType::Close);
            Err(actix_web::error::InternalError::from_response(error, response).into())
        }
    }
}

/// A request as the access log shows it: the method and the path, with every segment
/// that is not a plain word, number or UUID (an unsubscribe link's token, say) replaced by
/// `{…}`, and no query string.
pub fn loggable_path(req: &actix_web::dev::ServiceRequest) -> String {
    let path: Vec<String> = req
        .path()
        .split('/')
        .map(|segment| {
            let plain = segment.len() <= 40
                && segment
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
            if plain {
                segment.to_owned()
            } else {
                "{…}".to_owned()
            }
        })
        .collect();
    format!("{} {}", req.method(), path.join("/"))
}

/// A free-text field staff type: trimmed, 1 to `max` characters, no control characters
/// (a NUL byte, say, which PostgreSQL text cannot hold); else 400 naming `field`.
pub fn text_field<'a>(
    field: &'static str,
    text: &'a str,
    max: usize,
) -> Result<&'a str, crate::error::ApiError> {
    let text = text.trim();
    let length = text.chars().count();
    if length == 0 || length > max {
        return Err(crate::error::ApiError::field(
            field,
            format!("{field} must be 1 to {max} characters"),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(crate::error::ApiError::field(
            field,
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(text)
}

/// The bearer token of a request (`Authorization: Bearer <token>`), if any: requester
/// tokens and staff tokens alike.
pub fn bearer(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The client's address: the peer, or the first `X-Forwarded-For` hop when configured to
/// trust a proxy.
pub fn client_ip(req: &HttpRequest, state: &AppState) -> IpAddr {
    let info = req.connection_info();
    let candidate = if state.settings.server.trust_forwarded_for {
        info.realip_remote_addr()
    } else {
        info.peer_addr()
    };
    candidate
        .and_then(|a| {
            a.parse::<IpAddr>()
                .ok()
                .or_else(|| a.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        })
        .unwrap_or(IpAddr::from([0, 0, 0, 0]))
}
