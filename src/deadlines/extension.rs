//! Extending a request's response deadline. A reviewer (or admin) may extend it once, with
//! a reason, while the request is open and its requester proved, where the rule of its
//! regime and kind allows an extension, and before the deadline has passed (the law wants
//! the notice within the first period). One transaction moves the deadline, writes the
//! audit entry and queues the mail telling the requester the new date and the reason.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::domain::{Regime, RequestStatus};
use crate::error::ApiError;
use crate::mail;
use crate::models::Request;
use crate::models::staff::Staff;
use crate::schema::requests;
use crate::state::AppState;

/// The outcome of an extension.
pub struct Extended {
    /// The request after it.
    pub request: Request,
    /// The deadline before it.
    pub previous_due_at: DateTime<Utc>,
    /// Whether a mail to the requester was queued (Lethe still holds an address).
    pub requester_notified: bool,
}

/// Extends the response deadline of request `request_id` by its rule's extension.
/// `reason` is already checked ([`crate::routes::text_field`]).
pub async fn extend(
    state: &AppState,
    request_id: Uuid,
    staff: &Staff,
    reason: &str,
) -> Result<Extended, ApiError> {
    let deadlines = &state.settings.deadlines;
    let calendar = deadlines.calendar();
    let mut conn = state.db.get().await?;
    let extended = conn
        .transaction::<_, ApiError, _>(async |c| {
            let request = Request::find_for_update(c, request_id)
                .await?
                .ok_or(ApiError::NotFound)?;
            let status = request.status();
            if !super::running(status) {
                return Err(ApiError::Conflict(
                    "only an open request's deadline can be extended",
                ));
            }
            if status == RequestStatus::PendingVerification {
                return Err(ApiError::Conflict(
                    "the requester has not proved their address yet",
                ));
            }
            if request.extended_at.is_some() {
                return Err(ApiError::Conflict(
                    "this request's deadline was already extended; it can be extended once",
                ));
            }
            let regime = Regime::parse(&request.regime).ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!("a request of an unknown regime"))
            })?;
            let Some(due_at) = deadlines
                .rule(regime, request.kind())
                .extended(&calendar, request.due_at)
            else {
                return Err(ApiError::Conflict(
                    "the deadline rule of this request's regime and kind allows no extension",
                ));
            };
            let now = Utc::now();
            if request.due_at <= now {
                return Err(ApiError::Conflict(
                    "the response deadline has passed; an extension must be noticed before it",
                ));
            }
            diesel::update(requests::table.find(request_id))
                .set((
                    requests::due_at.eq(due_at),
                    requests::extended_at.eq(now),
                    requests::extension_reason.eq(reason),
                    requests::extended_by.eq(staff.id),
                ))
                .execute(c)
                .await?;
            audit::append(
                c,
                &[AuditEntry::deadline_extended(
                    request_id,
                    staff.id,
                    request.due_at,
                    due_at,
                )],
            )
            .await?;
            let requester_notified = request
                .email
                .as_deref()
                .is_some_and(|e| crate::domain::Email::try_from(e).is_ok());
            state
                .outbox
                .put_to_requester(
                    c,
                    request_id,
                    request.email.as_deref(),
                    "deadline_extended",
                    mail::deadline_extended(request_id, due_at, reason),
                )
                .await?;
            Ok(Extended {
                request: Request::find(c, request_id)
                    .await?
                    .ok_or(ApiError::NotFound)?,
                previous_due_at: request.due_at,
                requester_notified,
            })
        })
        .await?;
    drop(conn);
    state.outbox.wake();
    Ok(extended)
}
