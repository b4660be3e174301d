//! `GET /privacy`: what a person can ask for.

use actix_web::HttpResponse;
use maud::html;

use super::kinds;
use crate::web::layout::{Site, page};

/// The start page.
pub async fn start() -> HttpResponse {
    let body = html! {
        p { "You can ask us for the following. Each request takes a few minutes: we email you a code to make sure the request is yours." }
        ul class="choices" {
            @for kind in kinds::ALL {
                li {
                    a href={ "/privacy/new/" (kinds::slug(kind)) } {
                        (kinds::title(kind))
                        span { (kinds::summary(kind)) }
                    }
                }
            }
        }
        p { "We answer within the time the law gives us, and tell you the date when you make your request." }
    };
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(page(Site::Privacy, "Your privacy choices", false, body).into_string())
}
