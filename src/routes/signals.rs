//! `POST /v1/signals/gpc`: the platform forwards a signed-in user's Global Privacy Control
//! signal (`Sec-GPC: 1`) with its assertion; Lethe records an opt-out of the sale or
//! sharing of that user's data, once.

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::state::AppState;

/// The user the signal is for.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Signal {
    /// The platform's assertion naming the signed-in user (HS256 JWT, single use).
    #[schema(min_length = 1)]
    pub assertion: String,
}

/// Whether this signal was new.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Recorded {
    /// `true` the first time for this user; `false` after (nothing more is written).
    pub recorded: bool,
}

/// Records the opt-out; the platform's preference is turned off by a worker through the
/// data map's `[sale_sharing]`. Needs the header `Sec-GPC: 1`.
#[utoipa::path(post, path = "/v1/signals/gpc", request_body = Signal,
    params(("Sec-GPC" = String, Header, description = "must be `1`", pattern = "^1$")),
    responses((status = 200, body = Recorded),
              (status = 400, description = "no `Sec-GPC: 1`", body = crate::error::ErrorBody),
              (status = 401, description = "invalid assertion", body = crate::error::ErrorBody)))]
#[post("/v1/signals/gpc")]
pub async fn gpc(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Signal>,
) -> Result<HttpResponse, ApiError> {
    let signalled = req
        .headers()
        .get("sec-gpc")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() == "1");
    if !signalled {
        return Err(ApiError::field(
            "Sec-GPC",
            "the header Sec-GPC: 1 is required",
        ));
    }
    let asserted = state.assertions.verify(&body.assertion)?;
    let recorded = crate::unsubscribe::gpc::record(&state, &asserted).await?;
    Ok(HttpResponse::Ok().json(Recorded { recorded }))
}
