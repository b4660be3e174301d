//! `POST /v1/staff/requests/{id}/resources`: staff decide, per resource, on a likeness
//! request.

use actix_web::{HttpResponse, post, web};
use serde::Deserialize;
use uuid::Uuid;

use crate::domain::ResourceDecision;
use crate::error::ApiError;
use crate::lifecycle::likeness::{self, Decision};
use crate::state::AppState;

/// Decisions on some of the request's resources.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decisions {
    /// One per resource decided now (each resource once).
    #[schema(min_items = 1, max_items = 50)]
    pub decisions: Vec<DecisionInput>,
}

/// One decision.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionInput {
    /// The listing's id (from the request's `resources`).
    pub resource: Uuid,
    /// Remove (unpublish now, files deleted after the hold) or keep.
    #[schema(value_type = ResourceDecision)]
    pub decision: String,
    /// Why (a short note, no personal data): 1 to 200 characters, not only spaces, no
    /// control characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub reason: String,
}

/// Decides on resources of a likeness request (reviewer and up). A removed resource is
/// unpublished at once; the same resource listed by other open requests takes the same
/// decision. Answers the request's resources as staff see them.
#[utoipa::path(post, path = "/v1/staff/requests/{id}/resources", params(("id" = Uuid, Path)), request_body = Decisions, security(("staff_token" = [])),
    responses((status = 200, description = "decided; the resources"), (status = 409, body = crate::error::ErrorBody)))]
#[post("/v1/staff/requests/{id}/resources")]
pub async fn decide(
    staff: super::StaffMember,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<Decisions>,
) -> Result<HttpResponse, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    let body = body.into_inner();
    if body.decisions.is_empty() {
        return Err(ApiError::field("decisions", "decide at least one resource"));
    }
    let mut decisions: Vec<Decision> = Vec::with_capacity(body.decisions.len());
    for d in body.decisions {
        if decisions.iter().any(|x| x.listing == d.resource) {
            return Err(ApiError::field("decisions", "a resource is named twice"));
        }
        decisions.push(Decision {
            listing: d.resource,
            decision: ResourceDecision::parse(&d.decision)
                .ok_or_else(|| ApiError::field("decision", "decision must be remove or keep"))?,
            reason: super::reason(&d.reason)?.to_owned(),
        });
    }
    let listings = likeness::decide(&state, id, &staff, &decisions).await?;
    Ok(HttpResponse::Ok().json(super::show::listings_view(&listings)))
}
