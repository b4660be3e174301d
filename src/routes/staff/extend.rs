//! `POST /v1/staff/requests/{id}/extend`: extending a request's response deadline.

use actix_web::{HttpResponse, post, web};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::deadlines::extension;
use crate::error::ApiError;
use crate::state::AppState;

/// Why the answer takes longer.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Extension {
    /// Why more time is needed, in words for the requester (they are mailed it): 1 to
    /// 2000 characters, not only spaces, no control characters.
    #[serde(default)]
    #[schema(
        required = true,
        value_type = String,
        min_length = 1,
        max_length = 2000,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub reason: Option<String>,
}

/// Extends the response deadline once by what the rule of the request's regime and kind
/// allows (reviewer and up): only an open request whose requester proved their address,
/// only before the deadline passes. The requester is mailed the new date and the reason.
#[utoipa::path(post, path = "/v1/staff/requests/{id}/extend", params(("id" = Uuid, Path)), request_body = Extension, security(("staff_token" = [])),
    responses((status = 200, description = "extended: `due_at` is the new response deadline"), (status = 409, body = crate::error::ErrorBody)))]
#[post("/v1/staff/requests/{id}/extend")]
pub async fn extend(
    staff: super::StaffMember,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<Extension>,
) -> Result<HttpResponse, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    let reason = crate::routes::text_field("reason", body.reason.as_deref().unwrap_or(""), 2000)?;
    let done = extension::extend(&state, id, &staff, reason).await?;
    let r = &done.request;
    Ok(HttpResponse::Ok().json(json!({
        "id": r.id,
        "status": r.status(),
        "due_at": r.due_at,
        "previous_due_at": done.previous_due_at,
        "extended_at": r.extended_at,
        "extension_reason": r.extension_reason,
        "requester_notified": done.requester_notified,
    })))
}

#[cfg(test)]
mod tests {
    use utoipa::OpenApi;

    #[test]
    fn the_document_requires_a_bounded_reason() {
        let doc = serde_json::to_value(crate::routes::openapi::ApiDoc::openapi()).unwrap();
        let schema = &doc["components"]["schemas"]["Extension"];
        assert_eq!(schema["required"], serde_json::json!(["reason"]));
        assert_eq!(schema["properties"]["reason"]["maxLength"], 2000);
        assert_eq!(schema["additionalProperties"], false);
        assert!(
            doc["paths"]["/v1/staff/requests/{id}/extend"]["post"]["responses"]["409"].is_object()
        );
    }
}
