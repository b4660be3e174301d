//! The control plane's side of the jobs: [`lethe_jobs::lifecycle::Lifecycle`] over the
//! service database. Each method is one transaction with its audit entries; mail goes
//! out after commit.

use std::time::Duration;

use chrono::Utc;
use diesel::prelude::*;
use diesel::sql_types::{Interval, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, RunQueryDsl};
use lethe_jobs::export::ExportReport;
use lethe_jobs::lifecycle::{
    ExportClaim, FailureOutcome, Lifecycle, LikenessWork, Pinned, PurgeClaim, RehearsalClaim,
    RehearsalOutcome, ResourceItem, Run, StrandedKind, UnsubscribeClaim, UnsubscribeReport,
};
use lethe_jobs::purge::{Checkpoint, PurgeReport, StepFailure, StepReport};
use lethe_jobs::storage::{ObjectRef, Storage};
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::db::DbPool;
use crate::domain::{RequestKind, RequestStatus};
use crate::mail;
use crate::models::request::Request;
use crate::outbox::Outbox;
use crate::schema::requests;

use super::claim::claim_run;

/// The lifecycle over the service database.
#[derive(Clone)]
pub struct ServiceLifecycle {
    pub(crate) db: DbPool,
    pub(crate) outbox: Outbox,
    keyed: crate::secrets::Keyed,
    pub(crate) storage: Storage,
    exports_bucket: String,
    pub(crate) export_ttl: chrono::Duration,
    retention: chrono::Duration,
    unverified_expiry: chrono::Duration,
    reenqueue_after: chrono::Duration,
    pub(crate) likeness_hold: chrono::Duration,
    pub(crate) evidence_bucket: String,
    identity_key: std::sync::Arc<crate::secrets::SealKey>,
    max_runs: i32,
}

impl ServiceLifecycle {
    /// Builds it from its parts (worker processes have no HTTP state).
    pub fn from_parts(
        db: DbPool,
        outbox: Outbox,
        storage: Storage,
        settings: &crate::config::Settings,
    ) -> Self {
        let r = &settings.requests;
        Self {
            db,
            outbox,
            keyed: crate::secrets::Keyed::new(settings.security.secret_key.clone()),
            storage,
            exports_bucket: settings.storage.exports_bucket.clone(),
            export_ttl: chrono::Duration::hours(i64::from(r.export_link_ttl_hours)),
            retention: chrono::Duration::days(i64::from(r.requester_data_retention_days)),
            unverified_expiry: chrono::Duration::hours(i64::from(r.unverified_expiry_hours)),
            reenqueue_after: chrono::Duration::minutes(i64::from(
                settings.worker.reenqueue_after_minutes,
            )),
            likeness_hold: chrono::Duration::days(i64::from(r.likeness_file_hold_days)),
            evidence_bucket: settings.storage.evidence_bucket.clone(),
            identity_key: std::sync::Arc::new(crate::secrets::SealKey::new(
                &crate::secrets::Keyed::new(settings.security.secret_key.clone()),
                crate::secrets::label::PURGE_IDENTITIES,
            )),
            max_runs: i32::try_from(settings.worker.max_runs).unwrap_or(i32::MAX),
        }
    }

    /// Where a request's archive lives: fixed per request, so re-runs overwrite it.
    pub fn archive_ref(&self, request_id: Uuid) -> ObjectRef {
        ObjectRef {
            bucket: self.exports_bucket.clone(),
            key: format!("exports/{request_id}/lethe-export-{request_id}.zip"),
        }
    }
}

fn pg_interval(d: chrono::Duration) -> diesel::pg::data_types::PgInterval {
    diesel::pg::data_types::PgInterval::from_microseconds(d.num_microseconds().unwrap_or(i64::MAX))
}

#[async_trait::async_trait]
impl Lifecycle for ServiceLifecycle {
    async fn claim_export(
        &self,
        request_id: Uuid,
        lease: Duration,
    ) -> anyhow::Result<Option<ExportClaim>> {
        let mut conn = self.db.get().await?;
        let destination = self.archive_ref(request_id);
        let lease = chrono::Duration::from_std(lease)?;
        let claim = conn
            .transaction::<_, anyhow::Error, _>(async |c| {
                let Some((_, lookup, run)) =
                    claim_run(c, request_id, &[RequestKind::Access], lease, self.max_runs).await?
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

    async fn claim_purge(
        &self,
        request_id: Uuid,
        lease: Duration,
    ) -> anyhow::Result<Option<PurgeClaim>> {
        let mut conn = self.db.get().await?;
        let lease = chrono::Duration::from_std(lease)?;
        conn.transaction::<_, anyhow::Error, _>(async |c| {
            let Some((request, lookup, run)) = claim_run(
                c,
                request_id,
                &[RequestKind::Deletion, RequestKind::ChildReport],
                lease,
                self.max_runs,
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
            let (freeze, parent_copy) =
                match crate::models::ChildReport::find(c, request_id).await? {
                    Some(report) => (
                        report.frozen_at.is_none(),
                        (report.copy_confirmed() && request.export_key.is_none())
                            .then(|| self.archive_ref(request_id)),
                    ),
                    None => (false, None),
                };
            let identities = match &request.purge_identities {
                Some(sealed) => self
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
                requester_email: super::subject::own_email(&request),
                identities,
                pinned,
                freeze,
                parent_copy,
            }))
        })
        .await
    }

    async fn record_subject(&self, run: Run, subject_key: Option<&str>) -> anyhow::Result<()> {
        let request_id = run.request_id;
        let mut conn = self.db.get().await?;
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

    async fn record_identities(&self, run: Run, identities: &[String]) -> anyhow::Result<()> {
        let sealed = self.identity_key.seal(&serde_json::to_vec(identities)?);
        let mut conn = self.db.get().await?;
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

    async fn purge_checkpoint(
        &self,
        run: Run,
        checkpoint: &Checkpoint,
        step: &str,
        report: Option<&StepReport>,
    ) -> anyhow::Result<()> {
        let request_id = run.request_id;
        let mut conn = self.db.get().await?;
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

    async fn frozen(&self, run: Run, rows: u64) -> anyhow::Result<()> {
        super::reports::frozen(&self.db, run, rows).await
    }

    async fn parent_copy_done(
        &self,
        run: Run,
        report: &ExportReport,
        archive: &ObjectRef,
    ) -> anyhow::Result<()> {
        super::reports::parent_copy_done(self, run, report, archive).await
    }

    async fn purge_done(&self, run: Run, report: &PurgeReport) -> anyhow::Result<()> {
        let request_id = run.request_id;
        let mut conn = self.db.get().await?;
        let Some(request) = Request::find(&mut conn, request_id).await? else {
            return Ok(());
        };
        if request.status() != RequestStatus::Processing || request.lease_owner != Some(run.owner) {
            return Err(lethe_jobs::lifecycle::LeaseLost.into());
        }
        // Lethe's own copies go first: the person's other export archives. A crash here
        // re-runs the (idempotent) purge and comes back.
        super::own_copies::erase_archives(
            &self.db,
            &self.storage,
            &self.keyed,
            &self.exports_bucket,
            &request,
        )
        .await?;
        let result = serde_json::to_value(report)?;
        let keyed = self.keyed.clone();
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
            super::own_copies::scrub_others(c, &keyed, &request, &mut entries).await?;
            audit::append(c, &entries).await?;
            let message = match (request.kind(), report.subject_found) {
                (RequestKind::ChildReport, acted) => mail::report_concluded(request_id, acted),
                (_, true) => mail::erasure_completed(request_id),
                (_, false) => mail::erasure_no_account(request_id),
            };
            self.outbox
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
        self.outbox.wake();
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

    async fn fail(&self, run: Run, code: &str, detail: serde_json::Value) -> anyhow::Result<()> {
        super::failure::fail_and_tell(self, run, code, detail).await
    }

    async fn purge_failed(
        &self,
        run: Run,
        failure: &StepFailure,
        max_attempts: u32,
    ) -> anyhow::Result<FailureOutcome> {
        super::failure::purge_failed(self, run, failure, max_attempts).await
    }

    async fn purge_stale(&self, run: Run, what: &str) -> anyhow::Result<()> {
        super::failure::purge_stale(self, run, what).await
    }

    async fn claim_rehearsal(
        &self,
        rehearsal_id: Uuid,
        lease: Duration,
    ) -> anyhow::Result<Option<RehearsalClaim>> {
        super::rehearsal::claim(self, rehearsal_id, chrono::Duration::from_std(lease)?).await
    }

    async fn renew_rehearsal(
        &self,
        rehearsal_id: Uuid,
        owner: Uuid,
        lease: Duration,
    ) -> anyhow::Result<bool> {
        super::rehearsal::renew(
            self,
            rehearsal_id,
            owner,
            chrono::Duration::from_std(lease)?,
        )
        .await
    }

    async fn rehearsal_done(
        &self,
        rehearsal_id: Uuid,
        owner: Uuid,
        outcome: &RehearsalOutcome,
    ) -> anyhow::Result<()> {
        super::rehearsal::done(self, rehearsal_id, owner, outcome).await
    }

    async fn renew_lease(&self, run: Run, lease: Duration) -> anyhow::Result<bool> {
        let mut conn = self.db.get().await?;
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

    async fn export_done(
        &self,
        run: Run,
        report: &ExportReport,
        archive: &ObjectRef,
    ) -> anyhow::Result<()> {
        let request_id = run.request_id;
        let mut conn = self.db.get().await?;
        let expires = Utc::now() + self.export_ttl;
        let result = serde_json::to_value(report)?;
        let ttl = (expires - Utc::now()).to_std().unwrap_or_default();
        let link = self.storage.presign_get(archive, ttl).await?;
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
            self.outbox
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
        self.outbox.wake();
        Ok(())
    }

    async fn run_failed(&self, run: Run, code: &str) -> anyhow::Result<()> {
        let request_id = run.request_id;
        let mut conn = self.db.get().await?;
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

    async fn stranded(&self) -> anyhow::Result<Vec<(Uuid, StrandedKind)>> {
        let mut conn = self.db.get().await?;
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
        .bind::<Interval, _>(pg_interval(self.reenqueue_after))
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
            super::rehearsal::stranded(&mut conn, self.reenqueue_after)
                .await?
                .into_iter()
                .map(|id| (id, StrandedKind::Rehearsal)),
        );
        Ok(out)
    }

    async fn mark_enqueued(&self, ids: &[(Uuid, StrandedKind)]) -> anyhow::Result<()> {
        let mut conn = self.db.get().await?;
        let (rehearsals, requests): (Vec<_>, Vec<_>) = ids
            .iter()
            .copied()
            .partition(|(_, k)| *k == StrandedKind::Rehearsal);
        let requests: Vec<Uuid> = requests.into_iter().map(|(id, _)| id).collect();
        let rehearsals: Vec<Uuid> = rehearsals.into_iter().map(|(id, _)| id).collect();
        Request::mark_enqueued(&mut conn, &requests).await?;
        super::rehearsal::mark_enqueued(&mut conn, &rehearsals).await?;
        Ok(())
    }

    async fn expired_exports(&self) -> anyhow::Result<Vec<(Uuid, ObjectRef)>> {
        let mut conn = self.db.get().await?;
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
                        bucket: self.exports_bucket.clone(),
                        key: key?,
                    },
                ))
            })
            .collect())
    }

    async fn export_deleted(&self, request_id: Uuid) -> anyhow::Result<()> {
        let mut conn = self.db.get().await?;
        super::own_copies::mark_archive_deleted(
            &mut conn,
            request_id,
            AuditEntry::export_deleted(request_id),
        )
        .await
    }

    async fn claim_unsubscribe(
        &self,
        request_id: Uuid,
        lease: Duration,
    ) -> anyhow::Result<Option<UnsubscribeClaim>> {
        let mut conn = self.db.get().await?;
        let lease = chrono::Duration::from_std(lease)?;
        conn.transaction::<_, anyhow::Error, _>(async |c| {
            let Some((request, lookup, run)) = claim_run(
                c,
                request_id,
                &[RequestKind::Unsubscribe],
                lease,
                self.max_runs,
            )
            .await?
            else {
                return Ok(None);
            };
            Ok(Some(UnsubscribeClaim {
                run,
                lookup,
                categories: request.categories.clone(),
            }))
        })
        .await
    }

    async fn unsubscribe_done(&self, run: Run, report: &UnsubscribeReport) -> anyhow::Result<bool> {
        super::unsubscribing::done(&self.db, run, report).await
    }

    async fn likeness_work(&self, request_id: Uuid) -> anyhow::Result<LikenessWork> {
        super::likeness::work(self, request_id).await
    }

    async fn resource_checked(&self, id: Uuid, key: Option<&str>) -> anyhow::Result<()> {
        super::likeness::checked(self, id, key).await
    }

    async fn resource_unpublished(&self, id: Uuid, rows: u64) -> anyhow::Result<()> {
        super::likeness::unpublished(self, id, rows).await
    }

    async fn likeness_settle(&self, request_id: Uuid) -> anyhow::Result<()> {
        super::likeness::settle(self, request_id).await
    }

    async fn resource_files_due(&self) -> anyhow::Result<Vec<ResourceItem>> {
        super::likeness::files_due(self).await
    }

    async fn resource_files_deleted(&self, id: Uuid, objects: u64) -> anyhow::Result<()> {
        super::likeness::files_deleted(self, id, objects).await
    }

    async fn orphaned_evidence(&self) -> anyhow::Result<Vec<(Uuid, ObjectRef)>> {
        super::evidence::orphaned(self).await
    }

    async fn evidence_deleted(&self, request_id: Uuid) -> anyhow::Result<()> {
        super::evidence::gone(self, request_id).await
    }

    async fn retention_sweep(&self) -> anyhow::Result<u64> {
        super::retention::sweep(&self.db, self.unverified_expiry, self.retention).await
    }
}
