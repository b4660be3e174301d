//! The OpenAPI document of the API.

use actix_web::{HttpResponse, get};
use utoipa::OpenApi;

use super::{health, requests, staff};

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "Lethe", description = "Data-subject requests: file, verify, follow, download."),
    paths(
        health::healthz,
        health::readyz,
        document,
        requests::create::create,
        requests::verify::verify,
        requests::show::show,
        requests::cancel::cancel,
        staff::tokens::create,
        staff::list::list,
        staff::show::show,
        staff::dry_run::dry_run,
        staff::recover::retry,
        staff::recover::abort,
        staff::approve::approve,
        staff::deny::deny,
    ),
    components(schemas(crate::error::ErrorBody, crate::error::ErrorDetail)),
    modifiers(&BearerToken),
)]
pub struct ApiDoc;

struct BearerToken;

impl utoipa::Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        for name in ["requester_token", "staff_token"] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

/// This document.
#[utoipa::path(get, path = "/v1/openapi.json", responses((status = 200, description = "OpenAPI 3.1 document")))]
#[get("/v1/openapi.json")]
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
