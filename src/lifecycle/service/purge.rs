//! Purges as the control plane sees them: claiming a deletion's run, recording what it
//! found and how far it got, and completing it (Lethe's own copies erased, the requester
//! told, then only a receipt kept).

use std::time::Duration;

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use lethe_jobs::lifecycle::{Pinned, PurgeClaim, Run};
use lethe_jobs::purge::{Checkpoint, PurgeReport, StepReport};
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::domain::{RequestKind, RequestStatus};
use crate::lifecycle::claim::claim_run;
use crate::mail;
use crate::models::request::Request;
use crate::schema::requests;

use super::ServiceLifecycle;

/// Claims a purge run: its checkpoint, pinned rehearsal, freeze and the identities to
/// redact.
pub(super) async fn claim(
    svc: &ServiceLifecycle,
    request_id: Uuid,
    lease: Duration,
) -> anyhow::Result<Option<PurgeClaim>> {
    let mut conn = svc.db.get().await?;
    let lease = chrono::Duration::from_std(lease)?;
    conn.transaction::<_, anyhow::Error, _>(async |c| {
        let Some((request, lookup, run)) = claim_run(
            c,
            request_id,
            &[RequestKind::Deletion, RequestKind::ChildReport],
            lease,
            svc.max_runs,
        )
        .await?
        else {
            return Ok(None);
        };
        let checkpoint = request
            .purge_checkpoint
            .clone()
            .map(serde_json::from_value::<Checkpoint>)
            .transpose()?;
        let pinned = match request.rehearsal_id {
            Some(id) => crate::models::Rehearsal::find(c, id).await?.and_then(|r| {
                Some(Pinned {
                    map_hash: r.map_hash?,
                    schema_fingerprint: r.schema_fingerprint?,
                })
            }),
            None => None,
        };
        let (freeze, parent_copy) = match crate::models::ChildReport::find(c, request_id).await? {
            Some(report) => (
                report.frozen_at.is_none(),
                (report.copy_confirmed() && request.export_key.is_none())
                    .then(|| svc.archive_ref(request_id)),
            ),
            None => (false, None),
        };
        let identities = match &request.purge_identities {
            Some(sealed) => svc
                .identity_key
                .open(sealed)
                .and_then(|plain| serde_json::from_slice(&plain).ok())
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "the purge's recorded identities cannot be opened (another secret key?)"
                    )
                })?,
            None => Vec::new(),
        };
        Ok(Some(PurgeClaim {
            run,
            lookup,
            subject_key: request.subject_key.clone(),
            checkpoint,
            requester_email: crate::lifecycle::subject::own_email(&request),
            identities,
            pinned,
            freeze,
            parent_copy,
        }))
    })
    .await
}

/// Records the subject key the purge located (or that there is none).
pub(super) async fn record_subject(
    svc: &ServiceLifecycle,
    run: Run,
    subject_key: Option<&str>,
) -> anyhow::Result<()> {
    let request_id = run.request_id;
    let mut conn = svc.db.get().await?;
    conn.transaction::<_, anyhow::Error, _>(async |c| {
        Request::held_by(c, run).await?;
        diesel::update(requests::table.find(request_id))
            .set(requests::subject_key.eq(subject_key))
            .execute(c)
            .await?;
        audit::append(
            c,
            &[AuditEntry::subject_located(
                request_id,
                subject_key.is_some(),
            )],
        )
        .await?;
        Ok(())
    })
    .await
}

/// Records the identities the purge redacts, sealed.
pub(super) async fn record_identities(
    svc: &ServiceLifecycle,
    run: Run,
    identities: &[String],
) -> anyhow::Result<()> {
    let sealed = svc.identity_key.seal(&serde_json::to_vec(identities)?);
    let mut conn = svc.db.get().await?;
    conn.transaction::<_, anyhow::Error, _>(async |c| {
        Request::held_by(c, run).await?;
        diesel::update(requests::table.find(run.request_id))
            .set(requests::purge_identities.eq(sealed))
            .execute(c)
            .await?;
        Ok(())
    })
    .await
}

/// Records the purge's checkpoint, with an audit entry for a step that touched anything.
pub(super) async fn checkpoint(
    svc: &ServiceLifecycle,
    run: Run,
    checkpoint: &Checkpoint,
    step: &str,
    report: Option<&StepReport>,
) -> anyhow::Result<()> {
    let request_id = run.request_id;
    let mut conn = svc.db.get().await?;
    let value = serde_json::to_value(checkpoint)?;
    let touched = report.filter(|r| r.rows > 0 || r.objects > 0 || !r.tables.is_empty());
    conn.transaction::<_, anyhow::Error, _>(async |c| {
        Request::held_by(c, run).await?;
        diesel::update(requests::table.find(request_id))
            .set(requests::purge_checkpoint.eq(&value))
            .execute(c)
            .await?;
        if let Some(report) = touched {
            audit::append(c, &[AuditEntry::purge_step(request_id, step, report)]).await?;
        }
        Ok(())
    })
    .await
}

/// Completes a purge: Lethe's own copies erased, the requester told, then only a receipt
/// kept.
pub(super) async fn done(
    svc: &ServiceLifecycle,
    run: Run,
    report: &PurgeReport,
) -> anyhow::Result<()> {
    let request_id = run.request_id;
    let mut conn = svc.db.get().await?;
    let Some(request) = Request::find(&mut conn, request_id).await? else {
        return Ok(());
    };
    if request.status() != RequestStatus::Processing || request.lease_owner != Some(run.owner) {
        return Err(lethe_jobs::lifecycle::LeaseLost.into());
    }
    // Lethe's own copies go first: the person's other export archives. A crash here
    // re-runs the (idempotent) purge and comes back.
    crate::lifecycle::own_copies::erase_archives(
        &svc.db,
        &svc.storage,
        &svc.keyed,
        &svc.exports_bucket,
        &request,
    )
    .await?;
    let result = serde_json::to_value(report)?;
    let keyed = svc.keyed.clone();
    conn.transaction::<_, anyhow::Error, _>(async |c| {
        let request = Request::held_by(c, run).await?;
        diesel::update(requests::table.find(request_id))
            .set((
                requests::status.eq(RequestStatus::Completed.as_str()),
                requests::completed_at.eq(Utc::now()),
                requests::lease_until.eq(None::<chrono::DateTime<Utc>>),
                requests::result.eq(&result),
                requests::failure.eq(None::<String>),
                requests::purge_identities.eq(None::<Vec<u8>>),
            ))
            .execute(c)
            .await?;
        let mut entries = vec![AuditEntry::purge_completed(request_id, report)];
        crate::lifecycle::own_copies::scrub_others(c, &keyed, &request, &mut entries).await?;
        audit::append(c, &entries).await?;
        let message = match (request.kind(), report.subject_found) {
            (RequestKind::ChildReport, acted) => mail::report_concluded(request_id, acted),
            (_, true) => mail::erasure_completed(request_id),
            (_, false) => mail::erasure_no_account(request_id),
        };
        svc.outbox
            .put_to_requester(
                c,
                request_id,
                request.email.as_deref(),
                "erasure_completed",
                message,
            )
            .await?;
        Ok(request)
    })
    .await?;
    svc.outbox.wake();
    // Keep only a receipt: id, dates, counts and the keyed hash of the identity.
    conn.transaction::<_, anyhow::Error, _>(async |c| {
        diesel::update(requests::table.find(request_id))
            .set((
                requests::email.eq(None::<String>),
                requests::subject_ref.eq(None::<String>),
                requests::subject_key.eq(None::<String>),
                requests::pii_scrubbed_at.eq(Utc::now()),
            ))
            .execute(c)
            .await?;
        crate::models::ChildReport::scrub(c, &[request_id]).await?;
        audit::append(c, &[AuditEntry::requester_data_scrubbed(request_id)]).await?;
        Ok(())
    })
    .await
}
