//! The audit entries of deadlines: a receipt acknowledged by mail, a deadline extended,
//! a clock that ran out, a digest sent to staff. Dates and counts only.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;
use uuid::Uuid;

use super::{Actor, AuditEntry};

impl AuditEntry {
    /// The mail confirming receipt of a request filed by the platform's assertion was queued.
    pub fn acknowledged(request_id: Uuid) -> Self {
        Self::new(
            request_id,
            Actor::System,
            "request.acknowledged",
            json!({ "by": "mail" }),
        )
    }

    /// A staff member extended the response deadline (the reason stays on the request).
    pub fn deadline_extended(
        request_id: Uuid,
        staff: Uuid,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Self {
        Self::new(
            request_id,
            Actor::Staff(staff),
            "deadline.extended",
            json!({ "from": from.to_rfc3339(), "to": to.to_rfc3339() }),
        )
    }

    /// The deadline watch found a clock (`response` or `acknowledgement`) run out.
    pub fn deadline_overdue(request_id: Uuid, clock: &str, due_at: DateTime<Utc>) -> Self {
        Self::new(
            request_id,
            Actor::System,
            "deadline.overdue",
            json!({ "clock": clock, "due_at": due_at.to_rfc3339() }),
        )
    }

    /// The day's deadline digest went out.
    pub fn deadline_digest(
        day: NaiveDate,
        recipients: usize,
        due_soon: usize,
        overdue: usize,
    ) -> Self {
        Self::new_optional(
            None,
            Actor::System,
            "deadline.digest",
            json!({
                "day": day.to_string(),
                "recipients": recipients,
                "due_soon": due_soon,
                "overdue": overdue,
            }),
        )
    }
}
