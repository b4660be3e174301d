//! `GET /v1/staff/requests`: open child reports first, then requests by due date, with
//! what is overdue.

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{RequestKind, RequestStatus};
use crate::error::ApiError;
use crate::models::Request;
use crate::schema::requests;
use crate::state::AppState;

/// Filters.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// Only this status.
    #[param(value_type = Option<RequestStatus>)]
    pub status: Option<String>,
    /// Only this kind.
    #[param(value_type = Option<RequestKind>)]
    pub kind: Option<String>,
    /// Only open requests past their response deadline.
    #[serde(default)]
    pub overdue: bool,
}

/// One line of the list.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Summary {
    /// Id.
    pub id: Uuid,
    /// Kind.
    pub kind: RequestKind,
    /// Status.
    pub status: RequestStatus,
    /// Received.
    pub created_at: DateTime<Utc>,
    /// Acknowledgement deadline, where the request's rule has one.
    pub ack_due_at: Option<DateTime<Utc>>,
    /// When the mail confirming receipt was queued.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Response deadline (moved by an extension).
    pub due_at: DateTime<Utc>,
    /// When staff extended the response deadline.
    pub extended_at: Option<DateTime<Utc>>,
    /// Why (the requester was mailed it).
    pub extension_reason: Option<String>,
    /// Open and past the response deadline.
    pub overdue: bool,
    /// Open, unacknowledged and past the acknowledgement deadline.
    pub ack_overdue: bool,
}

/// The statuses of a request not yet closed (the default filter of lists and the console's queue).
pub const OPEN: [&str; 4] = ["pending_verification", "verified", "approved", "processing"];

/// Lists requests: open child reports first, then soonest due first (viewer and up).
#[utoipa::path(get, path = "/v1/staff/requests", params(Filter), security(("staff_token" = [])),
    responses((status = 200, body = [Summary]), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
#[get("/v1/staff/requests")]
pub async fn list(
    _staff: super::StaffMember,
    state: web::Data<AppState>,
    filter: web::Query<Filter>,
) -> Result<HttpResponse, ApiError> {
    let mut query = requests::table
        .select(Request::as_select())
        // Open child reports come first (triage), then everything by due date.
        .order((
            requests::kind
                .eq(RequestKind::ChildReport.as_str())
                .and(requests::status.eq_any(OPEN))
                .desc(),
            requests::due_at.asc(),
        ))
        .limit(500)
        .into_boxed();
    if let Some(status) = &filter.status {
        let status = RequestStatus::parse(status)
            .ok_or_else(|| ApiError::field("status", "unknown status"))?;
        query = query.filter(requests::status.eq(status.as_str()));
    }
    if let Some(kind) = &filter.kind {
        let kind = RequestKind::parse(kind).map_err(|e| ApiError::field("kind", e.to_string()))?;
        query = query.filter(requests::kind.eq(kind.as_str()));
    }
    let now = Utc::now();
    if filter.overdue {
        query = query
            .filter(requests::status.eq_any(crate::deadlines::RUNNING))
            .filter(requests::due_at.lt(now));
    }
    let rows: Vec<Request> = query.load(&mut state.db.get().await?).await?;
    let list: Vec<Summary> = rows
        .iter()
        .map(|r| {
            let standing = crate::deadlines::Standing::of(r, now);
            Summary {
                id: r.id,
                kind: r.kind(),
                status: r.status(),
                created_at: r.created_at,
                ack_due_at: r.ack_due_at,
                acknowledged_at: r.acknowledged_at,
                due_at: r.due_at,
                extended_at: r.extended_at,
                extension_reason: r.extension_reason.clone(),
                overdue: standing.overdue,
                ack_overdue: standing.ack_overdue,
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(list))
}
