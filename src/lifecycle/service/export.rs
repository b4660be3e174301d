//! Exports as the control plane sees them: claiming an access request's run, completing
//! it (the archive recorded, the requester mailed a link) and finding expired archives.

use std::time::Duration;

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use lethe_jobs::export::ExportReport;
use lethe_jobs::lifecycle::{ExportClaim, Run};
use lethe_jobs::storage::ObjectRef;
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::domain::{RequestKind, RequestStatus};
use crate::lifecycle::claim::claim_run;
use crate::mail;
use crate::models::request::Request;
use crate::schema::requests;

use super::ServiceLifecycle;

/// Claims an access request's export run; its archive goes to
/// [`ServiceLifecycle::archive_ref`].
pub(super) async fn claim(
    svc: &ServiceLifecycle,
    request_id: Uuid,
    lease: Duration,
) -> anyhow::Result<Option<ExportClaim>> {
    let mut conn = svc.db.get().await?;
    let destination = svc.archive_ref(request_id);
    let lease = chrono::Duration::from_std(lease)?;
    let claim = conn
        .transaction::<_, anyhow::Error, _>(async |c| {
            let Some((_, lookup, run)) =
                claim_run(c, request_id, &[RequestKind::Access], lease, svc.max_runs).await?
            else {
                return Ok(None);
            };
            Ok(Some(ExportClaim {
                run,
                lookup,
                destination,
            }))
        })
        .await?;
    Ok(claim)
}

/// Completes an export: the request records its archive and the requester is mailed a link.
pub(super) async fn done(
    svc: &ServiceLifecycle,
    run: Run,
    report: &ExportReport,
    archive: &ObjectRef,
) -> anyhow::Result<()> {
    let request_id = run.request_id;
    let mut conn = svc.db.get().await?;
    let expires = Utc::now() + svc.export_ttl;
    let result = serde_json::to_value(report)?;
    let ttl = (expires - Utc::now()).to_std().unwrap_or_default();
    let link = svc.storage.presign_get(archive, ttl).await?;
    conn.transaction::<_, anyhow::Error, _>(async |c| {
        let request = Request::held_by(c, run).await?;
        diesel::update(requests::table.find(request_id))
            .set((
                requests::status.eq(RequestStatus::Completed.as_str()),
                requests::completed_at.eq(Utc::now()),
                requests::lease_until.eq(None::<chrono::DateTime<Utc>>),
                requests::export_key.eq(&archive.key),
                requests::export_bytes.eq(i64::try_from(report.archive_bytes).ok()),
                requests::export_expires_at.eq(expires),
                requests::result.eq(&result),
                requests::failure.eq(None::<String>),
            ))
            .execute(c)
            .await?;
        audit::append(c, &[AuditEntry::export_completed(request_id, report)]).await?;
        svc.outbox
            .put_to_requester(
                c,
                request_id,
                request.email.as_deref(),
                "export_ready",
                mail::export_ready(&link, expires, request_id),
            )
            .await?;
        anyhow::Ok(())
    })
    .await?;
    drop(conn);
    svc.outbox.wake();
    Ok(())
}

/// Export archives past their expiry, not yet deleted.
pub(super) async fn expired(svc: &ServiceLifecycle) -> anyhow::Result<Vec<(Uuid, ObjectRef)>> {
    let mut conn = svc.db.get().await?;
    let rows: Vec<(Uuid, Option<String>)> = requests::table
        .filter(requests::export_key.is_not_null())
        .filter(requests::export_deleted_at.is_null())
        .filter(requests::export_expires_at.lt(Utc::now()))
        .select((requests::id, requests::export_key))
        .limit(500)
        .load(&mut conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, key)| {
            Some((
                id,
                ObjectRef {
                    bucket: svc.exports_bucket.clone(),
                    key: key?,
                },
            ))
        })
        .collect())
}
