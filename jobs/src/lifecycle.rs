//! The control plane as the jobs see it. Jobs do the data-plane work; every request state
//! change, audit entry and email goes through this trait, which the `lethe` crate
//! implements over its service database. Each method is one transaction there.

use std::time::Duration;

use uuid::Uuid;

use crate::export::ExportReport;
use crate::platform::SubjectLookup;
use crate::purge::{Checkpoint, PurgeReport};
use crate::storage::ObjectRef;

/// An export the control plane has handed to this run.
#[derive(Debug, Clone)]
pub struct ExportClaim {
    /// How to find the subject in the platform database.
    pub lookup: SubjectLookup,
    /// Where the archive goes.
    pub destination: ObjectRef,
}

/// Which job a stranded request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrandedKind {
    /// An access export.
    Export,
    /// A deletion purge.
    Purge,
}

/// A deletion the control plane has handed to this run.
#[derive(Debug, Clone)]
pub struct PurgeClaim {
    /// How to find the subject, the first time.
    pub lookup: SubjectLookup,
    /// The subject's key, once located: re-runs after the subject row is gone use it.
    pub subject_key: Option<String>,
    /// Progress of an earlier run.
    pub checkpoint: Option<Checkpoint>,
    /// The requester's email, if still held (one of the identity strings to redact).
    pub requester_email: Option<String>,
}

/// The request lifecycle, from the jobs' side.
#[async_trait::async_trait]
pub trait Lifecycle: Send + Sync + 'static {
    /// Takes a lease on an approved access request for `lease`. `None` when there is
    /// nothing to do: already completed, cancelled, or leased by another live run.
    async fn claim_export(
        &self,
        request_id: Uuid,
        lease: Duration,
    ) -> anyhow::Result<Option<ExportClaim>>;

    /// Extends this run's lease while it is still working (a heartbeat): a crashed run's
    /// lease then lapses within one lease period and another run may take over.
    async fn renew_lease(&self, request_id: Uuid, lease: Duration) -> anyhow::Result<()>;

    /// Records a finished export and tells the requester. Only a request this run still
    /// holds moves to `completed`; a second call changes nothing.
    async fn export_done(
        &self,
        request_id: Uuid,
        report: &ExportReport,
        archive: &ObjectRef,
    ) -> anyhow::Result<()>;

    /// Takes a lease on an approved deletion whose grace period is over.
    async fn claim_purge(
        &self,
        request_id: Uuid,
        lease: Duration,
    ) -> anyhow::Result<Option<PurgeClaim>>;

    /// Remembers the located subject (or that none matched).
    async fn record_subject(
        &self,
        request_id: Uuid,
        subject_key: Option<&str>,
    ) -> anyhow::Result<()>;

    /// Saves purge progress and audits the step's counts.
    async fn purge_checkpoint(
        &self,
        request_id: Uuid,
        checkpoint: &Checkpoint,
        step: &str,
    ) -> anyhow::Result<()>;

    /// Records a verified purge: `completed`, the requester told, and only a receipt kept.
    async fn purge_done(&self, request_id: Uuid, report: &PurgeReport) -> anyhow::Result<()>;

    /// Marks a request `failed` for staff (e.g. verification kept finding data).
    async fn fail(&self, request_id: Uuid, code: &str) -> anyhow::Result<()>;

    /// Releases the lease after a failed run so that a retry can start at once, and records
    /// the failure code (never a message that could carry data).
    async fn run_failed(&self, request_id: Uuid, code: &str) -> anyhow::Result<()>;

    /// Requests that are approved or processing, with no live lease and no recent enqueue:
    /// what a crash between commit and enqueue (or a lost job) left behind.
    async fn stranded(&self) -> anyhow::Result<Vec<(Uuid, StrandedKind)>>;

    /// Marks requests as enqueued now.
    async fn mark_enqueued(&self, request_ids: &[Uuid]) -> anyhow::Result<()>;

    /// Exports whose download link has expired and whose archive is still stored.
    async fn expired_exports(&self) -> anyhow::Result<Vec<(Uuid, ObjectRef)>>;

    /// Records that an expired archive was deleted.
    async fn export_deleted(&self, request_id: Uuid) -> anyhow::Result<()>;

    /// Drops requester data that finished requests no longer need (emails of closed
    /// requests past retention, unverified requests past their code's life).
    async fn retention_sweep(&self) -> anyhow::Result<u64>;
}
