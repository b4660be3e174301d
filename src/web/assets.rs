//! The one stylesheet of the pages, compiled into the binary.

use actix_web::{HttpResponse, get};

const STYLESHEET: &str = include_str!("lethe.css");

/// `GET /assets/lethe.css`.
#[get("/assets/lethe.css")]
pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((
            actix_web::http::header::CACHE_CONTROL,
            "public, max-age=3600",
        ))
        .body(STYLESHEET)
}
