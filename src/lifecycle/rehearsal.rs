//! Staff dry runs of deletions, as rehearsals run by a worker: requested by staff (one
//! transaction with its audit entry, enqueued after commit), claimed by a worker, and
//! finished with the counts, the map hash and the schema fingerprint it ran on.

use chrono::Utc;
use diesel::prelude::*;
use diesel::sql_types::{Interval, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use lethe_jobs::lifecycle::{RehearsalClaim, RehearsalOutcome};
use uuid::Uuid;

use super::service::ServiceLifecycle;
use crate::audit::{self, AuditEntry};
use crate::domain::{RehearsalStatus, RequestKind, RequestStatus};
use crate::error::ApiError;
use crate::models::staff::Staff;
use crate::models::{Rehearsal, Request};
use crate::schema::{decisions, rehearsals, requests};
use crate::state::AppState;

/// Asks for a dry run of a deletion awaiting review; returns the queued rehearsal (or the
/// one already queued or running). The worker does the work.
pub async fn request(
    state: &AppState,
    request_id: Uuid,
    staff: &Staff,
) -> Result<Rehearsal, ApiError> {
    let mut conn = state.db.get().await?;
    let (rehearsal, new) = conn
        .transaction::<_, ApiError, _>(async |c| {
            let request = Request::find_for_update(c, request_id)
                .await?
                .ok_or(ApiError::NotFound)?;
            if !matches!(
                request.kind(),
                RequestKind::Deletion | RequestKind::ChildReport
            ) {
                return Err(ApiError::Conflict(
                    "dry runs are for deletion requests and child reports",
                ));
            }
            if request.status() != RequestStatus::Verified {
                return Err(ApiError::Conflict("the request is not awaiting review"));
            }
            if super::subject::lookup(c, &request).await?.is_none() {
                return Err(ApiError::Conflict(
                    "the requester's identity is no longer held",
                ));
            }
            if let Some(open) = Rehearsal::latest(c, request_id).await?
                && matches!(
                    open.status,
                    RehearsalStatus::Queued | RehearsalStatus::Running
                )
                && open.review_round == request.review_round
            {
                return Ok((open, false));
            }
            // Approvals stand on the dry run they saw: a new dry run starts a new round of
            // approvals (the two-person rule then needs two on the new one).
            let approvals: i64 = decisions::table
                .filter(decisions::request_id.eq(request_id))
                .filter(decisions::round.eq(request.review_round))
                .count()
                .get_result(c)
                .await?;
            let round = if approvals > 0 {
                let round = request.review_round + 1;
                diesel::update(requests::table.find(request_id))
                    .set(requests::review_round.eq(round))
                    .execute(c)
                    .await?;
                round
            } else {
                request.review_round
            };
            let rehearsal = Rehearsal::queued(request_id, staff.id, round);
            rehearsal.insert(c).await?;
            audit::append(
                c,
                &[AuditEntry::rehearsal_requested(
                    request_id,
                    staff.id,
                    rehearsal.id,
                )],
            )
            .await?;
            Ok((rehearsal, true))
        })
        .await?;
    drop(conn);
    if new {
        match state.queue.enqueue_rehearsal(rehearsal.id).await {
            Ok(()) => {
                if let Ok(mut conn) = state.db.get().await {
                    let _ = mark_enqueued(&mut conn, &[rehearsal.id]).await;
                }
            }
            Err(error) => {
                tracing::warn!(rehearsal_id = %rehearsal.id, error = crate::telemetry::loggable(&error), "enqueue failed; the reconciler will retry");
            }
        }
    }
    Ok(rehearsal)
}

/// Starts a queued rehearsal (or one whose worker vanished).
pub(crate) async fn claim(
    svc: &ServiceLifecycle,
    rehearsal_id: Uuid,
    lease: chrono::Duration,
) -> anyhow::Result<Option<RehearsalClaim>> {
    let mut conn = svc.db.get().await?;
    let now = Utc::now();
    conn.transaction::<_, anyhow::Error, _>(async |c| {
        let Some(rehearsal) = Rehearsal::find_for_update(c, rehearsal_id).await? else {
            return Ok(None);
        };
        let lease_until: Option<chrono::DateTime<Utc>> = rehearsals::table
            .find(rehearsal_id)
            .select(rehearsals::lease_until)
            .first(c)
            .await?;
        // Running elsewhere until its lease lapses (its worker died, or lost it).
        let claimable = rehearsal.status == RehearsalStatus::Queued
            || (rehearsal.status == RehearsalStatus::Running
                && lease_until.is_none_or(|t| t < now));
        if !claimable {
            return Ok(None);
        }
        let Some(request) = Request::find(c, rehearsal.request_id).await? else {
            return Ok(None);
        };
        let Some(lookup) = super::subject::lookup(c, &request).await? else {
            finish(
                c,
                rehearsal_id,
                RehearsalStatus::Error,
                None,
                Some("requester_identity_missing"),
            )
            .await?;
            return Ok(None);
        };
        let owner = Uuid::now_v7();
        diesel::update(rehearsals::table.find(rehearsal_id))
            .set((
                rehearsals::status.eq(RehearsalStatus::Running),
                rehearsals::started_at.eq(now),
                rehearsals::lease_until.eq(now + lease),
                rehearsals::lease_owner.eq(owner),
            ))
            .execute(c)
            .await?;
        Ok(Some(RehearsalClaim {
            request_id: request.id,
            owner,
            lookup,
            subject_key: request.subject_key.clone(),
            requester_email: super::subject::own_email(&request),
            freeze: request.kind() == RequestKind::ChildReport,
        }))
    })
    .await
}

async fn finish(
    c: &mut AsyncPgConnection,
    rehearsal_id: Uuid,
    status: RehearsalStatus,
    report: Option<serde_json::Value>,
    error: Option<&str>,
) -> QueryResult<()> {
    diesel::update(rehearsals::table.find(rehearsal_id))
        .set((
            rehearsals::status.eq(status),
            rehearsals::finished_at.eq(Utc::now()),
            rehearsals::report.eq(report),
            rehearsals::error.eq(error),
            rehearsals::lease_until.eq(None::<chrono::DateTime<Utc>>),
        ))
        .execute(c)
        .await?;
    Ok(())
}

/// Extends a running rehearsal's lease while `owner` holds it.
pub(crate) async fn renew(
    svc: &ServiceLifecycle,
    rehearsal_id: Uuid,
    owner: Uuid,
    lease: chrono::Duration,
) -> anyhow::Result<bool> {
    let mut conn = svc.db.get().await?;
    let renewed = diesel::update(
        rehearsals::table
            .find(rehearsal_id)
            .filter(rehearsals::status.eq(RehearsalStatus::Running))
            .filter(rehearsals::lease_owner.eq(owner)),
    )
    .set(rehearsals::lease_until.eq(Utc::now() + lease))
    .execute(&mut conn)
    .await?;
    Ok(renewed == 1)
}

/// Records a finished rehearsal with what it ran on, and the located subject, if `owner`
/// still holds it.
pub(crate) async fn done(
    svc: &ServiceLifecycle,
    rehearsal_id: Uuid,
    owner: Uuid,
    outcome: &RehearsalOutcome,
) -> anyhow::Result<()> {
    let report = outcome
        .result
        .as_ref()
        .ok()
        .map(serde_json::to_value)
        .transpose()?;
    let mut conn = svc.db.get().await?;
    conn.transaction::<_, anyhow::Error, _>(async |c| {
        let Some(rehearsal) = Rehearsal::find_for_update(c, rehearsal_id).await? else {
            return Ok(());
        };
        let holder: Option<Uuid> = rehearsals::table
            .find(rehearsal_id)
            .select(rehearsals::lease_owner)
            .first(c)
            .await?;
        if rehearsal.status != RehearsalStatus::Running || holder != Some(owner) {
            return Ok(());
        }
        let (status, error) = match &outcome.result {
            Ok(_) => (RehearsalStatus::Done, None),
            Err(code) => (RehearsalStatus::Error, Some(code.as_str())),
        };
        finish(c, rehearsal_id, status, report.clone(), error).await?;
        diesel::update(rehearsals::table.find(rehearsal_id))
            .set((
                rehearsals::map_hash.eq(&outcome.pinned.map_hash),
                rehearsals::schema_fingerprint.eq(&outcome.pinned.schema_fingerprint),
            ))
            .execute(c)
            .await?;
        if outcome.result.is_ok() {
            diesel::update(
                requests::table
                    .find(rehearsal.request_id)
                    .filter(requests::status.eq(RequestStatus::Verified.as_str())),
            )
            .set(requests::subject_key.eq(outcome.subject_key.as_deref()))
            .execute(c)
            .await?;
        }
        audit::append(
            c,
            &[AuditEntry::rehearsal_finished(
                rehearsal.request_id,
                rehearsal_id,
                &outcome.pinned,
                &outcome.result,
            )],
        )
        .await?;
        Ok(())
    })
    .await
}

/// Rehearsals queued with no recent enqueue (a crash or a lost job), and running ones whose
/// lease lapsed (their worker died): at once.
pub(crate) async fn stranded(
    conn: &mut AsyncPgConnection,
    after: chrono::Duration,
) -> anyhow::Result<Vec<Uuid>> {
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
    }
    let micros = after.num_microseconds().unwrap_or(i64::MAX);
    let ids: Vec<Id> = diesel::sql_query(
        "SELECT id FROM rehearsals \
         WHERE (status = 'queued' AND (enqueued_at IS NULL OR enqueued_at < now() - $1)) \
            OR (status = 'running' AND (lease_until IS NULL OR lease_until < now())) \
         ORDER BY requested_at LIMIT 1000",
    )
    .bind::<Interval, _>(diesel::pg::data_types::PgInterval::from_microseconds(
        micros,
    ))
    .load(conn)
    .await?;
    Ok(ids.into_iter().map(|r| r.id).collect())
}

/// Records that rehearsal jobs were enqueued now.
pub(crate) async fn mark_enqueued(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    diesel::update(rehearsals::table.filter(rehearsals::id.eq_any(ids)))
        .set(rehearsals::enqueued_at.eq(Utc::now()))
        .execute(conn)
        .await?;
    Ok(())
}
