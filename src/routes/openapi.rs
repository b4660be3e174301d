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
    modifiers(&BearerToken, &CommonErrors),
)]
pub struct ApiDoc;

/// The error answers every operation of a shape can give, documented on each so that none
/// is forgotten: 400 (a body or query that does not parse), 408 (a body that does not
/// arrive in time) and 413 (a body too large) where there is a body, 400 where there are
/// query parameters, 401 where a token is needed, 403 on staff routes (too small a role),
/// 404 where the path names a resource.
struct CommonErrors;

impl utoipa::Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let staff = path.starts_with("/v1/staff/") && path != "/v1/staff/tokens";
            let named = path.contains('{');
            for operation in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                let has_body = operation.request_body.is_some();
                let has_query =
                    operation.parameters.iter().flatten().any(|p| {
                        matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query)
                    });
                let tokened = operation.security.is_some();
                let mut add = |status: &str, description: &str| {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error(description).into());
                };
                if has_body || has_query {
                    add("400", "invalid input (the field or parameter is named)");
                }
                if has_body {
                    add("408", "the body did not arrive in time");
                    add("413", "body too large");
                }
                if tokened {
                    add("401", "no valid token");
                }
                if staff {
                    add("403", "the staff member's role does not allow this");
                }
                if named {
                    add("404", "no such request");
                }
            }
        }
    }
}

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
