//! The control plane as the jobs see it. Jobs do the data-plane work; every request state
//! change, audit entry and email goes through this trait, which the `lethe` crate
//! implements over its service database. Each method is one transaction there.

use std::time::Duration;

use uuid::Uuid;

use crate::export::ExportReport;
use crate::platform::SubjectLookup;
use crate::purge::{Checkpoint, PurgeReport, Rehearsal, StepFailure, StepReport};
use crate::storage::ObjectRef;

/// One run's hold on a request: the request, and the fencing token its claim set. Every
/// write of the run is conditional on the token: once another claim took the request
/// (after this run's lease lapsed), this run's writes are refused with [`LeaseLost`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// The request.
    pub request_id: Uuid,
    /// The token of this run's claim.
    pub owner: Uuid,
}

/// The run no longer holds its request: another claim took it over. The run stops
/// without writing anything more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this run no longer holds the request's lease")]
pub struct LeaseLost;

/// An export the control plane has handed to this run.
#[derive(Debug, Clone)]
pub struct ExportClaim {
    /// This run's hold on the request.
    pub run: Run,
    /// How to find the subject in the platform database.
    pub lookup: SubjectLookup,
    /// Where the archive goes.
    pub destination: ObjectRef,
}

/// Which job a stranded request (or rehearsal) needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StrandedKind {
    /// An access export.
    Export,
    /// A deletion purge.
    Purge,
    /// A staff dry run (the id is the rehearsal's).
    Rehearsal,
    /// An unsubscribe from marketing mail.
    Unsubscribe,
    /// Pending likeness-removal work (checks, unpublishing).
    Likeness,
}

/// One listed resource of a likeness request, as the map names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceItem {
    /// The listing's id (Lethe's).
    pub id: Uuid,
    /// The map's resource kind.
    pub resource: String,
    /// Its key, as listed (checked) or as read from the platform (found).
    pub key: String,
}

/// What a likeness run has to do.
#[derive(Debug, Clone, Default)]
pub struct LikenessWork {
    /// Listings to look up on the platform.
    pub check: Vec<ResourceItem>,
    /// Resources staff decided to remove, not yet unpublished.
    pub unpublish: Vec<ResourceItem>,
}

/// What an unsubscribe run needs.
#[derive(Debug, Clone)]
pub struct UnsubscribeClaim {
    /// This run's hold on the request.
    pub run: Run,
    /// How to find the subject in the platform database.
    pub lookup: SubjectLookup,
    /// The marketing categories to opt out of; `None`: every category.
    pub categories: Option<Vec<String>>,
}

/// What an unsubscribe run did.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct UnsubscribeReport {
    /// The categories opted out of (`None`: every category).
    pub categories: Option<Vec<String>>,
    /// Whether an account matched.
    pub subject_found: bool,
    /// Preference rows written.
    pub rows: u64,
}

/// The map and schema a purge was rehearsed on and approved with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinned {
    /// [`crate::datamap::DataMap::content_hash`] of the map.
    pub map_hash: String,
    /// [`crate::datamap::Catalog::fingerprint`] of the platform schema.
    pub schema_fingerprint: String,
}

/// A rehearsal the control plane has handed to this run.
#[derive(Debug, Clone)]
pub struct RehearsalClaim {
    /// The deletion request it rehearses.
    pub request_id: Uuid,
    /// The token of this claim: renewals and the result apply only while the rehearsal
    /// carries it.
    pub owner: Uuid,
    /// How to find the subject.
    pub lookup: SubjectLookup,
    /// The subject's key, if already located.
    pub subject_key: Option<String>,
    /// The requester's email, if still held (an identity string to redact).
    pub requester_email: Option<String>,
    /// Whether the rehearsal also rehearses the map's `[freeze]` (a child report).
    pub freeze: bool,
}

/// How a rehearsal ended.
#[derive(Debug, Clone)]
pub struct RehearsalOutcome {
    /// The counts, or why it could not run at all (a code, never a message).
    pub result: Result<Rehearsal, String>,
    /// The map and schema it ran on.
    pub pinned: Pinned,
    /// The located subject's key (`None`: no account matched).
    pub subject_key: Option<String>,
}

/// Whether a failed purge run will be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureOutcome {
    /// Retried with backoff.
    Retry,
    /// Attempts exhausted: the request is `failed` for staff.
    Failed,
}

/// A deletion the control plane has handed to this run.
#[derive(Debug, Clone)]
pub struct PurgeClaim {
    /// This run's hold on the request.
    pub run: Run,
    /// How to find the subject, the first time.
    pub lookup: SubjectLookup,
    /// The subject's key, once located: re-runs after the subject row is gone use it.
    pub subject_key: Option<String>,
    /// Progress of an earlier run.
    pub checkpoint: Option<Checkpoint>,
    /// The requester's email, if still held (one of the identity strings to redact).
    pub requester_email: Option<String>,
    /// The identity strings an earlier run of this purge recorded (see
    /// [`Lifecycle::record_identities`]): a re-run after the subject's row is gone still
    /// redacts them.
    pub identities: Vec<String>,
    /// The map and schema the approved rehearsal ran on.
    pub pinned: Option<Pinned>,
    /// A confirmed child report not yet frozen: freeze the account first.
    pub freeze: bool,
    /// A parent's copy to make before the purge (where it goes), if one is due.
    pub parent_copy: Option<ObjectRef>,
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
    /// lease then lapses within one lease period and another run may take over. `false`
    /// when the run no longer holds the request.
    async fn renew_lease(&self, run: Run, lease: Duration) -> anyhow::Result<bool>;

    /// Records a finished export and tells the requester. Only a request this run still
    /// holds moves to `completed`; a second call changes nothing.
    async fn export_done(
        &self,
        run: Run,
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
    async fn record_subject(&self, run: Run, subject_key: Option<&str>) -> anyhow::Result<()>;

    /// Keeps the identity strings the purge redacts, sealed, until the purge completes
    /// (or the request is aborted or scrubbed).
    async fn record_identities(&self, run: Run, identities: &[String]) -> anyhow::Result<()>;

    /// Saves purge progress and audits what the step did (when it did anything).
    async fn purge_checkpoint(
        &self,
        run: Run,
        checkpoint: &Checkpoint,
        step: &str,
        report: Option<&StepReport>,
    ) -> anyhow::Result<()>;

    /// Records that a reported child's account was frozen (`rows` written or deleted).
    async fn frozen(&self, run: Run, rows: u64) -> anyhow::Result<()>;

    /// Records a parent's copy of a reported child's data and sends its link to the
    /// parent's verified address. Only while this run holds the request.
    async fn parent_copy_done(
        &self,
        run: Run,
        report: &ExportReport,
        archive: &ObjectRef,
    ) -> anyhow::Result<()>;

    /// Records a verified purge: `completed`, the requester told, and only a receipt kept.
    async fn purge_done(&self, run: Run, report: &PurgeReport) -> anyhow::Result<()>;

    /// Marks a request `failed` for staff (e.g. verification kept finding data), with a
    /// sanitised detail (names and counts, never values), and tells the requester.
    async fn fail(&self, run: Run, code: &str, detail: serde_json::Value) -> anyhow::Result<()>;

    /// Records a failed purge run. Below `max_attempts` failures the lease is released for
    /// a retry; at it the request becomes `failed` with the failure for staff.
    async fn purge_failed(
        &self,
        run: Run,
        failure: &StepFailure,
        max_attempts: u32,
    ) -> anyhow::Result<FailureOutcome>;

    /// The map or schema changed since the approved rehearsal: nothing was touched; the
    /// request goes back to review and needs a new dry run.
    async fn purge_stale(&self, run: Run, what: &str) -> anyhow::Result<()>;

    /// Starts a queued rehearsal. `None` when it is finished or running elsewhere.
    async fn claim_rehearsal(
        &self,
        rehearsal_id: Uuid,
        lease: Duration,
    ) -> anyhow::Result<Option<RehearsalClaim>>;

    /// Extends the claim `owner` holds on a running rehearsal; `false` once another claim
    /// took it over (this run then stops).
    async fn renew_rehearsal(
        &self,
        rehearsal_id: Uuid,
        owner: Uuid,
        lease: Duration,
    ) -> anyhow::Result<bool>;

    /// Records a finished rehearsal, if `owner` still holds it.
    async fn rehearsal_done(
        &self,
        rehearsal_id: Uuid,
        owner: Uuid,
        outcome: &RehearsalOutcome,
    ) -> anyhow::Result<()>;

    /// Releases the lease after a failed run so that a retry can start at once, and records
    /// the failure code (never a message that could carry data).
    async fn run_failed(&self, run: Run, code: &str) -> anyhow::Result<()>;

    /// What a crash between commit and enqueue, a lost job or a dead run left behind:
    /// approved requests with no recent enqueue; processing ones whose lease lapsed (at
    /// once) or whose failed run's retry did not come within two minutes; queued dry runs
    /// with no recent enqueue and running ones whose lease lapsed.
    async fn stranded(&self) -> anyhow::Result<Vec<(Uuid, StrandedKind)>>;

    /// Marks requests (and rehearsals) as enqueued now.
    async fn mark_enqueued(&self, ids: &[(Uuid, StrandedKind)]) -> anyhow::Result<()>;

    /// Exports whose download link has expired and whose archive is still stored.
    async fn expired_exports(&self) -> anyhow::Result<Vec<(Uuid, ObjectRef)>>;

    /// Records that an expired archive was deleted.
    async fn export_deleted(&self, request_id: Uuid) -> anyhow::Result<()>;

    /// Starts an unsubscribe run. `None` when it is finished or leased elsewhere.
    async fn claim_unsubscribe(
        &self,
        request_id: Uuid,
        lease: Duration,
    ) -> anyhow::Result<Option<UnsubscribeClaim>>;

    /// Records an applied unsubscribe: `completed`, audited with the time it took effect,
    /// and only a receipt kept. `false` (nothing recorded) when the request's categories
    /// grew while the run was applying the old ones: run again.
    async fn unsubscribe_done(&self, run: Run, report: &UnsubscribeReport) -> anyhow::Result<bool>;

    /// What is left to do for a likeness request (nothing once it is closed).
    async fn likeness_work(&self, request_id: Uuid) -> anyhow::Result<LikenessWork>;

    /// Records whether a listed resource exists (`key`: as the platform has it).
    async fn resource_checked(&self, id: Uuid, key: Option<&str>) -> anyhow::Result<()>;

    /// Records that a removed resource was unpublished (`rows` written); its files are
    /// due for deletion after the hold.
    async fn resource_unpublished(&self, id: Uuid, rows: u64) -> anyhow::Result<()>;

    /// Closes a likeness request whose every listing is settled: the evidence file is
    /// deleted and the requester told which resources were removed. A no-op otherwise.
    async fn likeness_settle(&self, request_id: Uuid) -> anyhow::Result<()>;

    /// Removed resources whose hold is over and whose files are still stored.
    async fn resource_files_due(&self) -> anyhow::Result<Vec<ResourceItem>>;

    /// Records that a removed resource's files were deleted (`objects` deleted).
    async fn resource_files_deleted(&self, id: Uuid, objects: u64) -> anyhow::Result<()>;

    /// Evidence files of likeness requests that closed without settling (cancelled,
    /// denied), still stored.
    async fn orphaned_evidence(&self) -> anyhow::Result<Vec<(Uuid, ObjectRef)>>;

    /// Records that such an evidence file was deleted.
    async fn evidence_deleted(&self, request_id: Uuid) -> anyhow::Result<()>;

    /// Drops requester data that finished requests no longer need (emails of closed
    /// requests past retention, unverified requests past their code's life).
    async fn retention_sweep(&self) -> anyhow::Result<u64>;
}
