//! A data-subject request and the queries over it.

use chrono::{DateTime, Utc};
use diesel::PgExpressionMethods;
use diesel::prelude::*;
use diesel::sql_types::{Bytea, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::domain::{RequestKind, RequestStatus};
use crate::schema::requests;

/// A request as stored.
#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = requests, check_for_backend(diesel::pg::Pg))]
pub struct Request {
    /// Id (UUIDv7).
    pub id: Uuid,
    /// Kind, as stored.
    pub kind: String,
    /// Status, as stored.
    pub status: String,
    /// Requester email while still needed.
    pub email: Option<String>,
    /// Keyed hash of the requester identity.
    pub email_hash: Vec<u8>,
    /// Platform subject id from an assertion.
    pub subject_ref: Option<String>,
    /// How identity was proved.
    pub verified_via: Option<String>,
    /// Keyed hash of the requester token.
    pub token_hash: Option<Vec<u8>>,
    /// Legal regime.
    pub regime: String,
    /// Received.
    pub created_at: DateTime<Utc>,
    /// Legal due date.
    pub due_at: DateTime<Utc>,
    /// Identity proved.
    pub verified_at: Option<DateTime<Utc>>,
    /// Approved.
    pub approved_at: Option<DateTime<Utc>>,
    /// First run started.
    pub started_at: Option<DateTime<Utc>>,
    /// Completed.
    pub completed_at: Option<DateTime<Utc>>,
    /// A worker's lease.
    pub lease_until: Option<DateTime<Utc>>,
    /// Last enqueue.
    pub enqueued_at: Option<DateTime<Utc>>,
    /// Runs started.
    pub run_attempts: i32,
    /// Export archive key.
    pub export_key: Option<String>,
    /// Export archive size.
    pub export_bytes: Option<i64>,
    /// When the export link and archive expire.
    pub export_expires_at: Option<DateTime<Utc>>,
    /// When the archive was deleted.
    pub export_deleted_at: Option<DateTime<Utc>>,
    /// Counts of what was done.
    pub result: Option<serde_json::Value>,
    /// Failure code.
    pub failure: Option<String>,
    /// When requester data was erased from this row.
    pub pii_scrubbed_at: Option<DateTime<Utc>>,
    /// The subject's key in the platform, once located (deletions).
    pub subject_key: Option<String>,
    /// End of the grace period in which the requester may still cancel (deletions).
    pub grace_until: Option<DateTime<Utc>>,
    /// Purge progress: steps done and their counts.
    pub purge_checkpoint: Option<serde_json::Value>,
    /// Why staff denied it (a short code or note, no personal data).
    pub decision_reason: Option<String>,
    /// The dry run the approval bound (deletions).
    pub rehearsal_id: Option<Uuid>,
    /// Sanitised failure detail for staff (step, table, constraint).
    pub failure_detail: Option<serde_json::Value>,
    /// Failed purge runs since the last approval.
    pub purge_failures: i32,
    /// Review round: bumped when the request goes back to review.
    pub review_round: i32,
    /// The request this filing joined, once verified (`merged`).
    pub merged_into: Option<Uuid>,
    /// An unsubscribe's marketing categories (`None`: every category).
    pub categories: Option<Vec<String>>,
    /// Keyed hash of what the request is about, where the person alone does not say it
    /// (a report: the account reported).
    pub matter_hash: Option<Vec<u8>>,
    /// The token of the run holding the request's lease (see `lethe_jobs::lifecycle::Run`).
    pub lease_owner: Option<Uuid>,
    /// A purge's identity strings, sealed (see `lifecycle::service`), for its life.
    pub purge_identities: Option<Vec<u8>>,
    /// The acknowledgement deadline, where the request's rule has one (see
    /// [`crate::deadlines`]).
    pub ack_due_at: Option<DateTime<Utc>>,
    /// When the mail confirming receipt was queued.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// When staff extended the response deadline (once at most).
    pub extended_at: Option<DateTime<Utc>>,
    /// The reason staff gave for the extension (mailed to the requester).
    pub extension_reason: Option<String>,
    /// The staff member who extended it.
    pub extended_by: Option<Uuid>,
    /// When the deadline watch first found the response deadline passed.
    pub overdue_flagged_at: Option<DateTime<Utc>>,
    /// When the deadline watch first found the acknowledgement deadline passed.
    pub ack_overdue_flagged_at: Option<DateTime<Utc>>,
}

impl Request {
    /// The kind.
    pub fn kind(&self) -> RequestKind {
        RequestKind::parse(&self.kind).expect("the database constrains kinds")
    }

    /// The status.
    pub fn status(&self) -> RequestStatus {
        RequestStatus::parse(&self.status).expect("the database constrains statuses")
    }

    /// Whether a purge of this request already deleted or changed something (its
    /// checkpoint holds counts): such a request can only be finished or aborted, never
    /// denied or cancelled as if nothing had happened.
    pub fn partly_applied(&self) -> bool {
        self.purge_checkpoint
            .as_ref()
            .and_then(|c| serde_json::from_value::<lethe_jobs::purge::Checkpoint>(c.clone()).ok())
            .is_some_and(|c| c.counts.values().any(|r| r.rows > 0 || r.objects > 0))
    }

    /// Loads a request.
    pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Self>> {
        requests::table
            .find(id)
            .select(Self::as_select())
            .first(conn)
            .await
            .optional()
    }

    /// Loads and locks a request `run` still holds: processing, with the run's owner token.
    /// Otherwise [`lethe_jobs::lifecycle::LeaseLost`] (another claim took it over, or it
    /// was moved on).
    pub async fn held_by(
        conn: &mut AsyncPgConnection,
        run: lethe_jobs::lifecycle::Run,
    ) -> anyhow::Result<Self> {
        match Self::find_for_update(conn, run.request_id).await? {
            Some(request)
                if request.status() == RequestStatus::Processing
                    && request.lease_owner == Some(run.owner) =>
            {
                Ok(request)
            }
            _ => Err(lethe_jobs::lifecycle::LeaseLost.into()),
        }
    }

    /// Loads a request and locks it for the rest of the transaction.
    pub async fn find_for_update(
        conn: &mut AsyncPgConnection,
        id: Uuid,
    ) -> QueryResult<Option<Self>> {
        requests::table
            .find(id)
            .select(Self::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()
    }

    /// The person's open request of this kind whose identity is proved (at most one:
    /// the partial unique index), locked for the rest of the transaction.
    pub async fn find_proved_open(
        conn: &mut AsyncPgConnection,
        kind: RequestKind,
        email_hash: &[u8],
        matter_hash: Option<&[u8]>,
    ) -> QueryResult<Option<Self>> {
        requests::table
            .filter(requests::kind.eq(kind.as_str()))
            .filter(requests::email_hash.eq(email_hash))
            .filter(requests::matter_hash.is_not_distinct_from(matter_hash))
            .filter(requests::status.eq_any(["verified", "approved", "processing"]))
            .select(Self::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()
    }

    /// Records that jobs for these requests were enqueued now (the reconciler waits
    /// `worker.reenqueue_after_minutes` before enqueueing them again).
    pub async fn mark_enqueued(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<()> {
        diesel::update(requests::table.filter(requests::id.eq_any(ids)))
            .set(requests::enqueued_at.eq(Utc::now()))
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Sets the status (the caller holds the row lock and writes the audit entry).
    pub async fn set_status(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        status: RequestStatus,
    ) -> QueryResult<()> {
        diesel::update(requests::table.find(id))
            .set(requests::status.eq(status.as_str()))
            .execute(conn)
            .await?;
        Ok(())
    }
}

/// A request about to be filed.
#[derive(Debug, Clone)]
pub struct NewRequest {
    /// Id (UUIDv7).
    pub id: Uuid,
    /// Kind.
    pub kind: RequestKind,
    /// Requester email, if known.
    pub email: Option<String>,
    /// Keyed hash of the requester identity (email, or platform subject).
    pub email_hash: Vec<u8>,
    /// Platform subject id from an assertion.
    pub subject_ref: Option<String>,
    /// Legal regime name.
    pub regime: String,
    /// Received.
    pub created_at: DateTime<Utc>,
    /// Response deadline.
    pub due_at: DateTime<Utc>,
    /// Acknowledgement deadline, where the rule has one.
    pub ack_due_at: Option<DateTime<Utc>>,
    /// When the mail confirming receipt was queued (in the filing's transaction), if it was.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Keyed hash of what the request is about (reports), if anything beyond the person.
    pub matter_hash: Option<Vec<u8>>,
}

impl NewRequest {
    /// Inserts the request, waiting for verification. Filings are never merged here:
    /// each one is its own request with its own code, so a filing tells the filer nothing
    /// about other requests.
    pub async fn insert(&self, conn: &mut AsyncPgConnection) -> QueryResult<Request> {
        diesel::sql_query(
            "INSERT INTO requests (id, kind, status, email, email_hash, subject_ref, regime, created_at, due_at, matter_hash, ack_due_at, acknowledged_at) \
             VALUES ($1, $2, 'pending_verification', $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *",
        )
        .bind::<SqlUuid, _>(self.id)
        .bind::<Text, _>(self.kind.as_str())
        .bind::<Nullable<Text>, _>(self.email.as_deref())
        .bind::<Bytea, _>(&self.email_hash)
        .bind::<Nullable<Text>, _>(self.subject_ref.as_deref())
        .bind::<Text, _>(&self.regime)
        .bind::<Timestamptz, _>(self.created_at)
        .bind::<Timestamptz, _>(self.due_at)
        .bind::<Nullable<Bytea>, _>(self.matter_hash.as_deref())
        .bind::<Nullable<Timestamptz>, _>(self.ack_due_at)
        .bind::<Nullable<Timestamptz>, _>(self.acknowledged_at)
        .get_result(conn)
        .await
    }
}

/// Whether an error is the unique index of proved open requests: two proofs for the same
/// person and kind raced; the loser tries again and finds the winner's request.
pub fn is_proved_open_conflict(error: &diesel::result::Error) -> bool {
    matches!(
        error,
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            info,
        ) if info.constraint_name() == Some("requests_one_open_per_kind")
    )
}
