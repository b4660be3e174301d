//! Flagging requests whose clock ran out: the first time the watch finds a request on the
//! clock past its response (or, unacknowledged, its acknowledgement) deadline, it sets
//! `overdue_flagged_at` (or `ack_overdue_flagged_at`) and writes one audit entry, in one
//! transaction. Several processes may flag at once: each UPDATE re-checks that the flag
//! is still unset on every row it had to wait for, so each request is flagged once.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::RUNNING;
use crate::audit::{self, AuditEntry};
use crate::schema::requests;

/// How many requests one pass flagged, per clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flagged {
    /// Past their response deadline.
    pub response: usize,
    /// Past their acknowledgement deadline, unacknowledged.
    pub acknowledgement: usize,
}

/// Flags what ran out by `now` and was not flagged yet.
pub async fn flag(conn: &mut AsyncPgConnection, now: DateTime<Utc>) -> QueryResult<Flagged> {
    conn.transaction(async |c| {
        let late: Vec<(Uuid, DateTime<Utc>)> = diesel::update(
            requests::table
                .filter(requests::status.eq_any(RUNNING))
                .filter(requests::due_at.lt(now))
                .filter(requests::overdue_flagged_at.is_null()),
        )
        .set(requests::overdue_flagged_at.eq(now))
        .returning((requests::id, requests::due_at))
        .get_results(c)
        .await?;
        let unacknowledged: Vec<(Uuid, Option<DateTime<Utc>>)> = diesel::update(
            requests::table
                .filter(requests::status.eq_any(RUNNING))
                .filter(requests::acknowledged_at.is_null())
                .filter(requests::ack_due_at.lt(now))
                .filter(requests::ack_overdue_flagged_at.is_null()),
        )
        .set(requests::ack_overdue_flagged_at.eq(now))
        .returning((requests::id, requests::ack_due_at))
        .get_results(c)
        .await?;
        let entries: Vec<AuditEntry> = late
            .iter()
            .map(|(id, due)| AuditEntry::deadline_overdue(*id, "response", *due))
            .chain(unacknowledged.iter().filter_map(|(id, due)| {
                due.map(|due| AuditEntry::deadline_overdue(*id, "acknowledgement", due))
            }))
            .collect();
        audit::append(c, &entries).await?;
        Ok(Flagged {
            response: late.len(),
            acknowledgement: unacknowledged.len(),
        })
    })
    .await
}
