//! A staff dry run of a deletion and the queries over it.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::domain::RehearsalStatus;
use crate::schema::rehearsals;

/// A rehearsal as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = rehearsals, check_for_backend(diesel::pg::Pg))]
pub struct Rehearsal {
    /// Id (UUIDv7).
    pub id: Uuid,
    /// The deletion request it rehearses.
    pub request_id: Uuid,
    /// Where it is.
    pub status: RehearsalStatus,
    /// The staff member who asked for it.
    pub requested_by: Uuid,
    /// The request's review round it belongs to.
    pub review_round: i32,
    /// When.
    pub requested_at: DateTime<Utc>,
    /// Last enqueue.
    pub enqueued_at: Option<DateTime<Utc>>,
    /// When a worker started it.
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// Content hash of the data map it ran on.
    pub map_hash: Option<String>,
    /// Fingerprint of the platform schema it ran on.
    pub schema_fingerprint: Option<String>,
    /// Counts per table and bucket ([`lethe_jobs::purge::Rehearsal`]).
    pub report: Option<serde_json::Value>,
    /// Why it could not run (a code).
    pub error: Option<String>,
}

impl Rehearsal {
    /// A new queued rehearsal.
    pub fn queued(request_id: Uuid, staff_id: Uuid, review_round: i32) -> Self {
        Self {
            id: Uuid::now_v7(),
            request_id,
            status: RehearsalStatus::Queued,
            requested_by: staff_id,
            review_round,
            requested_at: Utc::now(),
            enqueued_at: None,
            started_at: None,
            finished_at: None,
            map_hash: None,
            schema_fingerprint: None,
            report: None,
            error: None,
        }
    }

    /// Inserts it.
    pub async fn insert(&self, conn: &mut AsyncPgConnection) -> QueryResult<()> {
        diesel::insert_into(rehearsals::table)
            .values(self)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Loads one, locked for the rest of the transaction.
    pub async fn find_for_update(
        conn: &mut AsyncPgConnection,
        id: Uuid,
    ) -> QueryResult<Option<Self>> {
        rehearsals::table
            .find(id)
            .select(Self::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()
    }

    /// The latest rehearsal of a request.
    pub async fn latest(
        conn: &mut AsyncPgConnection,
        request_id: Uuid,
    ) -> QueryResult<Option<Self>> {
        rehearsals::table
            .filter(rehearsals::request_id.eq(request_id))
            .order((rehearsals::requested_at.desc(), rehearsals::id.desc()))
            .select(Self::as_select())
            .first(conn)
            .await
            .optional()
    }

    /// Loads one.
    pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Self>> {
        rehearsals::table
            .find(id)
            .select(Self::as_select())
            .first(conn)
            .await
            .optional()
    }

    /// The parsed report, when it finished.
    pub fn parsed(&self) -> Option<lethe_jobs::purge::Rehearsal> {
        self.report
            .as_ref()
            .and_then(|r| serde_json::from_value(r.clone()).ok())
    }

    /// Whether staff may approve on the strength of it: it finished, ran every step, and
    /// found no failure.
    pub fn approvable(&self) -> bool {
        self.status == RehearsalStatus::Done
            && self
                .parsed()
                .is_some_and(|r| r.complete && r.failure.is_none())
    }
}
