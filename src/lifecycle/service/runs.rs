//! Runs and the queue: renewing a run's lease, recording a failed run, and finding the
//! requests and rehearsals the queue owes a job (the reconciler's sweep).

use std::time::Duration;

use chrono::Utc;
use diesel::prelude::*;
use diesel::sql_types::{Interval, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, RunQueryDsl};
use lethe_jobs::lifecycle::{Run, StrandedKind};
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::domain::RequestStatus;
use crate::models::request::Request;
use crate::schema::requests;

use super::ServiceLifecycle;

fn pg_interval(d: chrono::Duration) -> diesel::pg::data_types::PgInterval {
    diesel::pg::data_types::PgInterval::from_microseconds(d.num_microseconds().unwrap_or(i64::MAX))
}

/// Extends a run's lease while the run still holds it.
pub(super) async fn renew_lease(
    svc: &ServiceLifecycle,
    run: Run,
    lease: Duration,
) -> anyhow::Result<bool> {
    let mut conn = svc.db.get().await?;
    let renewed = diesel::update(
        requests::table
            .find(run.request_id)
            .filter(requests::status.eq(RequestStatus::Processing.as_str()))
            .filter(requests::lease_owner.eq(run.owner)),
    )
    .set(requests::lease_until.eq(Utc::now() + chrono::Duration::from_std(lease)?))
    .execute(&mut conn)
    .await?;
    Ok(renewed == 1)
}

/// Records a run that failed and will be retried, unless it lost its lease.
pub(super) async fn failed(svc: &ServiceLifecycle, run: Run, code: &str) -> anyhow::Result<()> {
    let request_id = run.request_id;
    let mut conn = svc.db.get().await?;
    conn.transaction::<_, anyhow::Error, _>(async |c| {
        // A run that lost its lease writes nothing: the request is another run's.
        let updated = diesel::update(
            requests::table
                .find(request_id)
                .filter(requests::status.eq(RequestStatus::Processing.as_str()))
                .filter(requests::lease_owner.eq(run.owner)),
        )
        .set((
            requests::lease_until.eq(None::<chrono::DateTime<Utc>>),
            requests::failure.eq(code),
            // The queue owes a retry from now on (see `stranded`).
            requests::enqueued_at.eq(Utc::now()),
        ))
        .execute(c)
        .await?;
        if updated > 0 {
            audit::append(
                c,
                &[AuditEntry::run_failed(
                    request_id,
                    code,
                    &serde_json::json!({}),
                )],
            )
            .await?;
        }
        Ok(())
    })
    .await
}

/// Requests and rehearsals the queue owes a job: approved or processing with no live
/// lease, and not enqueued lately.
pub(super) async fn stranded(svc: &ServiceLifecycle) -> anyhow::Result<Vec<(Uuid, StrandedKind)>> {
    let mut conn = svc.db.get().await?;
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
        #[diesel(sql_type = diesel::sql_types::Text)]
        kind: String,
    }
    // Likeness requests await decisions as `verified`: stranded when a listing waits
    // for a look-up or an unpublish, or when every listing is settled but the request
    // is still open.
    let ids: Vec<Id> = diesel::sql_query(
        "SELECT id, kind FROM requests r \
         WHERE ((kind IN ('access', 'deletion', 'unsubscribe', 'child_report') \
                 AND status IN ('approved', 'processing') \
                 AND (lease_until IS NULL OR lease_until < now()) \
                 AND (grace_until IS NULL OR grace_until <= now())) \
             OR (kind = 'likeness' AND status = 'verified' AND ( \
                 EXISTS (SELECT 1 FROM likeness_resources l WHERE l.request_id = r.id \
                         AND (l.state = 'listed' OR (l.decision = 'remove' AND l.unpublished_at IS NULL))) \
                 OR NOT EXISTS (SELECT 1 FROM likeness_resources l WHERE l.request_id = r.id \
                         AND (l.state = 'listed' OR (l.state = 'found' AND (l.decision IS NULL \
                              OR (l.decision = 'remove' AND l.unpublished_at IS NULL)))))))) \
           AND (enqueued_at IS NULL OR enqueued_at < now() - $1 \
                OR (status = 'processing' AND lease_until < now()) \
                OR (status = 'processing' AND lease_until IS NULL \
                    AND enqueued_at < now() - interval '2 minutes')) \
         ORDER BY due_at LIMIT 1000",
    )
    .bind::<Interval, _>(pg_interval(svc.reenqueue_after))
    .load(&mut conn)
    .await?;
    let mut out: Vec<(Uuid, StrandedKind)> = ids
        .into_iter()
        .map(|r| {
            (
                r.id,
                match r.kind.as_str() {
                    "deletion" | "child_report" => StrandedKind::Purge,
                    "unsubscribe" => StrandedKind::Unsubscribe,
                    "likeness" => StrandedKind::Likeness,
                    _ => StrandedKind::Export,
                },
            )
        })
        .collect();
    out.extend(
        crate::lifecycle::rehearsal::stranded(&mut conn, svc.reenqueue_after)
            .await?
            .into_iter()
            .map(|id| (id, StrandedKind::Rehearsal)),
    );
    Ok(out)
}

/// Records that stranded requests and rehearsals were enqueued again.
pub(super) async fn mark_enqueued(
    svc: &ServiceLifecycle,
    ids: &[(Uuid, StrandedKind)],
) -> anyhow::Result<()> {
    let mut conn = svc.db.get().await?;
    let (rehearsals, requests): (Vec<_>, Vec<_>) = ids
        .iter()
        .copied()
        .partition(|(_, k)| *k == StrandedKind::Rehearsal);
    let requests: Vec<Uuid> = requests.into_iter().map(|(id, _)| id).collect();
    let rehearsals: Vec<Uuid> = rehearsals.into_iter().map(|(id, _)| id).collect();
    Request::mark_enqueued(&mut conn, &requests).await?;
    crate::lifecycle::rehearsal::mark_enqueued(&mut conn, &rehearsals).await?;
    Ok(())
}
