//! The control plane's side of the jobs: [`lethe_jobs::lifecycle::Lifecycle`] over the
//! service database. Each method is one transaction with its audit entries; mail goes
//! out after commit.

mod export;
mod purge;
mod runs;

use std::time::Duration;

use diesel_async::AsyncConnection;
use lethe_jobs::export::ExportReport;
use lethe_jobs::lifecycle::{
    ExportClaim, FailureOutcome, Lifecycle, LikenessWork, PurgeClaim, RehearsalClaim,
    RehearsalOutcome, ResourceItem, Run, StrandedKind, UnsubscribeClaim, UnsubscribeReport,
};
use lethe_jobs::purge::{Checkpoint, PurgeReport, StepFailure, StepReport};
use lethe_jobs::storage::{ObjectRef, Storage};
use uuid::Uuid;

use crate::audit::AuditEntry;
use crate::db::DbPool;
use crate::domain::RequestKind;
use crate::outbox::Outbox;

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

#[async_trait::async_trait]
impl Lifecycle for ServiceLifecycle {
    async fn claim_export(
        &self,
        request_id: Uuid,
        lease: Duration,
    ) -> anyhow::Result<Option<ExportClaim>> {
        export::claim(self, request_id, lease).await
    }

    async fn claim_purge(
        &self,
        request_id: Uuid,
        lease: Duration,
    ) -> anyhow::Result<Option<PurgeClaim>> {
        purge::claim(self, request_id, lease).await
    }

    async fn record_subject(&self, run: Run, subject_key: Option<&str>) -> anyhow::Result<()> {
        purge::record_subject(self, run, subject_key).await
    }

    async fn record_identities(&self, run: Run, identities: &[String]) -> anyhow::Result<()> {
        purge::record_identities(self, run, identities).await
    }

    async fn purge_checkpoint(
        &self,
        run: Run,
        checkpoint: &Checkpoint,
        step: &str,
        report: Option<&StepReport>,
    ) -> anyhow::Result<()> {
        purge::checkpoint(self, run, checkpoint, step, report).await
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
        purge::done(self, run, report).await
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
        runs::renew_lease(self, run, lease).await
    }

    async fn export_done(
        &self,
        run: Run,
        report: &ExportReport,
        archive: &ObjectRef,
    ) -> anyhow::Result<()> {
        export::done(self, run, report, archive).await
    }

    async fn run_failed(&self, run: Run, code: &str) -> anyhow::Result<()> {
        runs::failed(self, run, code).await
    }

    async fn stranded(&self) -> anyhow::Result<Vec<(Uuid, StrandedKind)>> {
        runs::stranded(self).await
    }

    async fn mark_enqueued(&self, ids: &[(Uuid, StrandedKind)]) -> anyhow::Result<()> {
        runs::mark_enqueued(self, ids).await
    }

    async fn expired_exports(&self) -> anyhow::Result<Vec<(Uuid, ObjectRef)>> {
        export::expired(self).await
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
