//! The OpenAPI document of the API.

use actix_web::{HttpResponse, get};
use utoipa::OpenApi;

use super::{health, requests, signals, staff, suppressions, unsubscribe};

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
        staff::extend::extend,
        staff::reports::confirm,
        staff::reports::dismiss,
        staff::resources::decide,
        requests::evidence::upload,
        staff::suppressions::delete,
        unsubscribe::links::create,
        unsubscribe::one_click::confirm,
        unsubscribe::one_click::unsubscribe,
        suppressions::check,
        signals::gpc,
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

/// The documented routes: path templates split at `/`, with their methods.
static ROUTES: std::sync::LazyLock<Vec<(Vec<String>, Vec<actix_web::http::Method>)>> =
    std::sync::LazyLock::new(|| {
        use actix_web::http::Method;
        ApiDoc::openapi()
            .paths
            .paths
            .iter()
            .map(|(template, item)| {
                let methods = [
                    (Method::GET, item.get.is_some()),
                    (Method::POST, item.post.is_some()),
                    (Method::PUT, item.put.is_some()),
                    (Method::DELETE, item.delete.is_some()),
                    (Method::PATCH, item.patch.is_some()),
                ]
                .into_iter()
                .filter_map(|(method, present)| present.then_some(method))
                .collect();
                (template.split('/').map(str::to_owned).collect(), methods)
            })
            .collect()
    });

/// The methods documented for the route `path` falls under, if it is one (a template's
/// `{…}` segment matches any non-empty segment).
pub fn documented_methods(path: &str) -> Option<&'static [actix_web::http::Method]> {
    let segments: Vec<&str> = path.split('/').collect();
    ROUTES.iter().find_map(|(template, methods)| {
        (template.len() == segments.len()
            && template
                .iter()
                .zip(&segments)
                .all(|(t, s)| t == s || (t.starts_with('{') && t.ends_with('}') && !s.is_empty())))
        .then_some(methods.as_slice())
    })
}

/// What answers a request no route took: 405 with `Allow` on a documented path with
/// another method, else 404.
pub async fn unrouted(req: actix_web::HttpRequest) -> Result<HttpResponse, crate::error::ApiError> {
    match documented_methods(req.path()) {
        Some(methods) if !methods.contains(req.method()) => {
            Err(crate::error::ApiError::MethodNotAllowed {
                allow: methods
                    .iter()
                    .map(actix_web::http::Method::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
        }
        _ => Err(crate::error::ApiError::NotFound),
    }
}

/// This document, with the data map's marketing categories filled in.
#[utoipa::path(get, path = "/v1/openapi.json", responses((status = 200, description = "OpenAPI 3.1 document")))]
#[get("/v1/openapi.json")]
pub async fn document(state: actix_web::web::Data<crate::state::AppState>) -> HttpResponse {
    HttpResponse::Ok().json(with_categories(&state.marketing))
}

/// The document with `category` fields limited to the deployment's marketing categories
/// (and `*` where the every-category entry is meant).
pub fn with_categories(categories: &[String]) -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
    let named: Vec<serde_json::Value> = categories.iter().map(|c| c.as_str().into()).collect();
    // Optional fields may be null; the removal names the every-category entry as `*`.
    let optional: Vec<serde_json::Value> = named
        .iter()
        .cloned()
        .chain([serde_json::Value::Null])
        .collect();
    let every: Vec<serde_json::Value> = named
        .iter()
        .cloned()
        .chain([crate::unsubscribe::EVERY.into()])
        .collect();
    for (schema, list) in [
        ("LinkBody", optional.clone()),
        ("CheckBody", optional),
        ("Removal", every),
    ] {
        if let Some(field) = doc
            .pointer_mut(&format!("/components/schemas/{schema}/properties/category"))
            .and_then(serde_json::Value::as_object_mut)
        {
            field.remove("pattern");
            field.remove("minLength");
            field.remove("maxLength");
            field.insert("enum".into(), serde_json::json!(list));
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filing_body_is_one_of_its_shapes_and_kinds_are_listed() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let schemas = &doc["components"]["schemas"];
        let one_of: Vec<&str> = schemas["Filing"]["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["$ref"].as_str().unwrap())
            .collect();
        assert_eq!(
            one_of,
            [
                "#/components/schemas/ByEmail",
                "#/components/schemas/ByReporter",
                "#/components/schemas/ByLikeness",
                "#/components/schemas/ByAssertion"
            ]
        );
        for (name, fields) in [
            ("ByEmail", &["kind", "email"][..]),
            ("ByReporter", &["kind", "email", "report"][..]),
            ("ByLikeness", &["kind", "email", "resources"][..]),
            ("ByAssertion", &["kind", "assertion"][..]),
        ] {
            assert_eq!(schemas[name]["required"], serde_json::json!(fields));
            assert_eq!(schemas[name]["additionalProperties"], false);
        }
        assert_eq!(
            schemas["ReportKind"]["enum"],
            serde_json::json!(["child_report"])
        );
        assert_eq!(
            schemas["LikenessKind"]["enum"],
            serde_json::json!(["likeness"])
        );
        assert_eq!(
            schemas["FiledKind"]["enum"],
            serde_json::json!(["access", "deletion", "unsubscribe"])
        );
    }

    #[test]
    fn documented_paths_answer_their_methods_and_others_are_unknown() {
        use actix_web::http::Method;
        let id = "/v1/requests/0191d5a0-0000-7000-8000-000000000000";
        assert_eq!(documented_methods(id), Some(&[Method::GET][..]));
        assert_eq!(
            documented_methods(&format!("{id}/verify")),
            Some(&[Method::POST][..])
        );
        assert_eq!(documented_methods("/v1/requests//verify"), None);
        assert_eq!(documented_methods("/v1/nothing"), None);
    }
}
