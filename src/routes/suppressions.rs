//! `POST /v1/suppressions/check`: the platform's mailer (role `mailer` or `admin`) asks
//! which of up to 10,000 addresses must not get marketing mail.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::domain::Email;
use crate::error::ApiError;
use crate::routes::staff::StaffMember;
use crate::state::AppState;

/// Most addresses per call.
pub const MAX_ADDRESSES: usize = 10_000;

/// The addresses to check.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckBody {
    /// Up to 10,000 addresses (ones that are not valid addresses are never suppressed).
    #[schema(max_items = 10000)]
    pub emails: Vec<String>,
    /// A marketing category; absent: only opt-outs of every category count.
    #[serde(default)]
    pub category: Option<String>,
}

/// The suppressed ones among those given.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CheckAnswer {
    /// The addresses (as given) that are suppressed.
    pub suppressed: Vec<String>,
}

/// Compares keyed hashes of the given addresses with the list; answers only with
/// addresses it was given.
#[utoipa::path(post, path = "/v1/suppressions/check", request_body = CheckBody, security(("staff_token" = [])),
    responses((status = 200, body = CheckAnswer)))]
pub async fn check(
    _mailer: StaffMember,
    state: web::Data<AppState>,
    body: web::Json<CheckBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if body.emails.len() > MAX_ADDRESSES {
        return Err(ApiError::field(
            "emails",
            format!("at most {MAX_ADDRESSES} addresses per call"),
        ));
    }
    if let Some(category) = &body.category
        && !state.marketing.iter().any(|c| c == category)
    {
        return Err(ApiError::field(
            "category",
            "category must be one of the data map's marketing categories",
        ));
    }
    // An address that is not valid was never put on the list: it is simply not suppressed.
    let (given, emails): (Vec<usize>, Vec<Email>) = body
        .emails
        .iter()
        .enumerate()
        .filter_map(|(i, e)| Email::try_from(e.as_str()).ok().map(|e| (i, e)))
        .unzip();
    let found = crate::unsubscribe::check(&state, &emails, body.category.as_deref()).await?;
    Ok(HttpResponse::Ok().json(CheckAnswer {
        suppressed: found
            .into_iter()
            .map(|i| body.emails[given[i]].clone())
            .collect(),
    }))
}

/// Registers the route, with a body limit fit for 10,000 addresses (1 MiB).
pub fn configure(cfg: &mut web::ServiceConfig) {
    let limit = 1 << 20;
    cfg.service(
        web::resource("/v1/suppressions/check")
            .app_data(
                web::JsonConfig::default()
                    .limit(limit)
                    .error_handler(move |e, _| crate::error::json_error(e, limit)),
            )
            .route(web::post().to(check)),
    );
}
