//! The web faces of Lethe, server-rendered by the same actix-web process as the API: the
//! privacy center for requesters under `/privacy` and the staff console under `/console`.
//! Pages are maud templates (every value
//! is escaped by the template engine), work without JavaScript, and are protected against
//! cross-site form posts by [`csrf::protect`], mounted on the scope so that no form
//! handler under it can go unprotected.

pub mod assets;
pub mod console;
pub mod csrf;
pub mod error;
pub mod layout;
pub mod privacy;
pub mod requester;

use actix_web::middleware::{DefaultHeaders, from_fn};
use actix_web::web;

/// Registers the pages and their assets.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(assets::stylesheet)
        .service(
            web::scope("/privacy")
                .wrap(from_fn(csrf::protect))
                .configure(privacy::configure),
        )
        .configure(console::configure);
}

/// The Content-Security-Policy of every answer: nothing but this origin's stylesheet and
/// images, forms posting only here, no framing, no scripts at all.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Headers every answer carries (pages and API alike): never cached, a strict
/// Content-Security-Policy, no MIME sniffing, no referrer to other sites, no framing.
pub fn security_headers() -> DefaultHeaders {
    use actix_web::http::header;
    DefaultHeaders::new()
        .add((header::CACHE_CONTROL, "no-store"))
        .add((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "same-origin"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
}

/// Whether cookies are marked `Secure`: when Lethe is reached over HTTPS
/// (`server.public_url`).
pub fn secure_cookies(state: &crate::state::AppState) -> bool {
    state.settings.server.public_url.starts_with("https://")
}
