//! The privacy center: a start page in plain words, a form per kind of request, the code
//! step, and the request's own pages (status, cancel, download, evidence).

pub mod code;
pub mod file;
pub mod kinds;
pub mod start;
pub mod status;

use actix_web::web;

/// Registers the privacy center's pages under its scope.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("").route(web::get().to(start::start)))
        .service(
            web::resource("/new/{kind}")
                .route(web::get().to(file::form))
                .route(web::post().to(file::submit)),
        )
        .service(
            web::resource("/requests/{id}/code")
                .route(web::get().to(code::form))
                .route(web::post().to(code::submit)),
        )
        .service(web::resource("/requests/{id}").route(web::get().to(status::show)))
        .service(web::resource("/requests/{id}/cancel").route(web::post().to(status::cancel)))
        .service(web::resource("/requests/{id}/download").route(web::get().to(status::download)))
        .service(web::resource("/requests/{id}/evidence").route(web::post().to(status::evidence)));
}
