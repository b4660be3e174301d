//! `GET` and `POST /v1/unsubscribe/{token}`: RFC 8058 one-click unsubscribe. `POST` with
//! the body `List-Unsubscribe=One-Click` unsubscribes at once (no login, no cookie, no
//! redirect). `GET` (a person, a link scanner, a preview) changes nothing: it shows a page
//! whose button makes that `POST` (a plain HTML form, no JavaScript).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use maud::{Markup, html};
use serde::Deserialize;

use crate::error::ApiError;
use crate::state::AppState;
use crate::unsubscribe::token::Link;

/// The one-click body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OneClick {
    /// Must be `One-Click`.
    #[serde(rename = "List-Unsubscribe")]
    #[schema(rename = "List-Unsubscribe", pattern = "^One-Click$")]
    pub list_unsubscribe: String,
}

/// The link a token seals, if it is valid and not expired.
fn open(state: &AppState, token: &str) -> Result<Link, ApiError> {
    let link = state.links.open(token).ok_or(ApiError::NotFound)?;
    let age = chrono::Utc::now().date_naive() - link.issued;
    if age.num_days() > i64::from(state.settings.requests.unsubscribe_link_ttl_days) {
        return Err(ApiError::Gone("this unsubscribe link has expired"));
    }
    Ok(link)
}

/// The page in the privacy center's shell (its stylesheet and header).
fn page(status: StatusCode, title: &str, body: Markup) -> HttpResponse {
    let markup = crate::web::layout::page(crate::web::layout::Site::Privacy, title, false, body);
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(markup.into_string())
}

/// The confirmation page; changes nothing.
#[utoipa::path(get, path = "/v1/unsubscribe/{token}", params(("token" = String, Path)),
    responses((status = 200, description = "a page whose button unsubscribes", content_type = "text/html"),
              (status = 404, description = "not a valid link", content_type = "text/html"),
              (status = 410, description = "the link has expired", content_type = "text/html")))]
#[get("/v1/unsubscribe/{token}")]
pub async fn confirm(state: web::Data<AppState>, token: web::Path<String>) -> HttpResponse {
    match open(&state, &token) {
        Ok(link) => {
            let what = link.category.as_deref().map_or_else(
                || "all our marketing emails".to_owned(),
                |c| format!("“{c}” emails"),
            );
            page(
                StatusCode::OK,
                "Unsubscribe",
                html! {
                    p { "Stop receiving " (what) "? Emails about your account and your requests will still reach you." }
                    form method="post" {
                        input type="hidden" name="List-Unsubscribe" value="One-Click";
                        button type="submit" { "Unsubscribe" }
                    }
                },
            )
        }
        Err(ApiError::Gone(_)) => page(
            StatusCode::GONE,
            "This link has expired",
            html! { p { "Use the unsubscribe link in a more recent email." } },
        ),
        Err(_) => page(
            StatusCode::NOT_FOUND,
            "This link is not valid",
            html! { p { "Check that the whole link was copied from the email." } },
        ),
    }
}

/// Unsubscribes at once: the address is suppressed now and the platform's preference is
/// turned off by a worker within moments.
#[utoipa::path(post, path = "/v1/unsubscribe/{token}", params(("token" = String, Path)),
    request_body(content(
        (OneClick = "multipart/form-data"),
        (OneClick = "application/x-www-form-urlencoded"),
    )),
    responses((status = 200, description = "unsubscribed", content_type = "text/plain"),
              (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody),
              (status = 410, body = crate::error::ErrorBody)))]
#[post("/v1/unsubscribe/{token}")]
pub async fn unsubscribe(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    if !one_click_body(&req, body).await {
        return Err(ApiError::field(
            "List-Unsubscribe",
            "the body must be List-Unsubscribe=One-Click",
        ));
    }
    let link = open(&state, &token)?;
    let request_id = crate::unsubscribe::by_link(&state, &link).await?;
    tracing::info!(%request_id, "unsubscribed by link");
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("You are unsubscribed.\n"))
}

/// Whether the body says `List-Unsubscribe=One-Click`, as a form (`multipart/form-data`,
/// which RFC 8058 asks mail clients for, or `application/x-www-form-urlencoded`).
async fn one_click_body(req: &actix_web::HttpRequest, body: web::Bytes) -> bool {
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if let Ok(boundary) = multer::parse_boundary(content_type) {
        let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(body) });
        let mut multipart = multer::Multipart::new(stream, boundary);
        while let Ok(Some(field)) = multipart.next_field().await {
            if field.name() == Some("List-Unsubscribe") {
                return field.text().await.is_ok_and(|t| t.trim() == "One-Click");
            }
        }
        return false;
    }
    content_type.starts_with("application/x-www-form-urlencoded")
        && serde_urlencoded::from_bytes::<OneClick>(&body)
            .is_ok_and(|form| form.list_unsubscribe == "One-Click")
}
