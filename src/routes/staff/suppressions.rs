//! `POST /v1/staff/suppressions/delete`: staff take an address off the suppression list
//! (re-subscribing is the platform's business; this undoes Lethe's side), audited.

use actix_web::{HttpResponse, post, web};
use serde::Deserialize;
use serde_json::json;

use crate::domain::Email;
use crate::error::ApiError;
use crate::state::AppState;

/// Which entry.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Removal {
    /// The address.
    #[schema(format = Email, min_length = 3, max_length = 254)]
    pub email: String,
    /// The category, or `*` for the every-category entry.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub category: String,
}

/// Removes one entry (reviewer and up); answers whether there was one.
#[utoipa::path(post, path = "/v1/staff/suppressions/delete", request_body = Removal, security(("staff_token" = [])),
    responses((status = 200, description = "`{\"removed\": bool}`")))]
#[post("/v1/staff/suppressions/delete")]
pub async fn delete(
    staff: super::StaffMember,
    state: web::Data<AppState>,
    body: web::Json<Removal>,
) -> Result<HttpResponse, ApiError> {
    let email = Email::try_from(body.email.as_str())
        .map_err(|e| ApiError::field("email", e.to_string()))?;
    let category = body.category.as_str();
    if category != crate::unsubscribe::EVERY && !state.marketing.iter().any(|c| c == category) {
        return Err(ApiError::field(
            "category",
            "category must be `*` or one of the data map's marketing categories",
        ));
    }
    let removed = crate::unsubscribe::remove(&state, staff.id, &email, category).await?;
    Ok(HttpResponse::Ok().json(json!({ "removed": removed })))
}
