//! Erasure: a subject's rows and objects removed, rewritten or reassigned exactly as the
//! data map's walk says, in bounded batches, in an order derived from the platform's
//! foreign keys; then a verification pass that must find nothing erasable left.
//!
//! Every step selects the subject's rows afresh, and again after working through a set
//! too large for one batch (picked once, each batch re-checked against the subject), so
//! rows written after the rehearsal are caught. Each batch touches at most `batch_size`
//! rows in one short transaction whose exact
//! per-table counts (cascades and trigger writes included) are read from PostgreSQL, and
//! is idempotent: killed at any instant or run twice, a re-run converges to the same end
//! state. Objects named by rows are deleted *before* their rows, so a crash can never
//! leave an object whose key is lost. Kept rows are unlinked before anything is deleted,
//! so no cascade can take a retained row.

mod delete;
pub(crate) mod objects;
mod pick;
mod plan;
mod rehearse;
mod report;
mod rewrite;
mod stats;
mod steps;
mod unbatched;
mod verify;

pub use plan::{Plan, Step, plan};
pub use rehearse::Budget;
pub use report::{
    Checkpoint, Leftover, PurgeReport, Rehearsal, StepFailure, StepReport, TableCounts,
    TableSummary,
};
pub use rewrite::identity_pattern;
pub(crate) use stats::Tables as CountedTables;

use std::collections::BTreeMap;

use anyhow::Context;
use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::AsyncPgConnection;
use sha2::{Digest, Sha256};

use crate::datamap::{BoundMap, SubjectKey};
use crate::platform::PlatformPool;
use crate::storage::Storage;
pub(crate) use objects::TableObjects;

/// What a failed step had already done (counts), carried in its error: the rows and
/// objects of its finished batches are gone, whatever happened next.
#[derive(Debug, Clone)]
pub struct PartialStep(pub StepReport);

impl std::fmt::Display for PartialStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} rows and {} objects done before the failure",
            self.0.rows, self.0.objects
        )
    }
}

/// Who is being erased, as the purge needs it.
#[derive(Clone)]
pub struct Target {
    /// The subject's key.
    pub subject: SubjectKey,
    /// Identity strings removed from text by `redact` rules (email, username).
    pub identities: Vec<String>,
    /// Key for `hash` rules and tombstone names.
    pub hash_key: String,
}

impl Target {
    fn patterns(&self) -> (String, String) {
        // A pattern that never matches stands in when there is nothing to redact.
        let never = "(?!)".to_owned();
        (
            identity_pattern(&self.identities, false).unwrap_or_else(|| never.clone()),
            identity_pattern(&self.identities, true).unwrap_or(never),
        )
    }

    fn redacts(&self) -> bool {
        identity_pattern(&self.identities, false).is_some()
    }

    /// The `{hash}` of the subject's tombstone: a keyed hash of its key.
    fn tombstone_hash(&self) -> String {
        let digest = Sha256::digest(format!(
            "{}:tombstone:{}",
            self.hash_key,
            self.subject.as_str()
        ));
        hex::encode(&digest[..8])
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
pub(crate) struct TextRow {
    #[diesel(sql_type = Text)]
    pub(crate) v: String,
}

/// Runs purges (and rehearsals) for one map.
pub struct Purger<'a> {
    /// Platform database.
    pub platform: &'a PlatformPool,
    /// The bound map.
    pub map: &'a BoundMap,
    /// Object storage.
    pub storage: &'a Storage,
    /// Rows per statement.
    pub batch_size: usize,
    /// Objects per DeleteObjects call (at most 1,000).
    pub object_batch: usize,
    /// Test hook: the purge fails at the n-th operation boundary (each batch statement,
    /// each object-deletion call, between a batch's objects and its rows). `None` in
    /// production.
    pub fault: Option<&'a std::sync::atomic::AtomicI64>,
    /// Set when the run lost its lease: the purge stops at the next operation boundary
    /// with [`crate::lifecycle::LeaseLost`], before writing anything more.
    pub stop: Option<&'a std::sync::atomic::AtomicBool>,
}

type Boxed<'q> =
    diesel::query_builder::BoxedSqlQuery<'q, diesel::pg::Pg, diesel::query_builder::SqlQuery>;

impl Purger<'_> {
    /// A purger with production settings.
    pub fn new<'a>(
        platform: &'a PlatformPool,
        map: &'a BoundMap,
        storage: &'a Storage,
        batch_size: usize,
    ) -> Purger<'a> {
        Purger {
            platform,
            map,
            storage,
            batch_size: batch_size.max(1),
            object_batch: 1000,
            fault: None,
            stop: None,
        }
    }

    /// An operation boundary: where a run that lost its lease stops, and where the fault
    /// hook may strike.
    fn boundary(&self) -> anyhow::Result<()> {
        if self
            .stop
            .is_some_and(|stop| stop.load(std::sync::atomic::Ordering::SeqCst))
        {
            return Err(crate::lifecycle::LeaseLost.into());
        }
        if let Some(fault) = self.fault
            && fault.fetch_sub(1, std::sync::atomic::Ordering::SeqCst) <= 1
        {
            anyhow::bail!("injected fault");
        }
        Ok(())
    }

    async fn conn(
        &self,
    ) -> anyhow::Result<diesel_async::pooled_connection::deadpool::Object<AsyncPgConnection>> {
        self.platform
            .get()
            .await
            .context("connecting to the platform database")
    }

    /// Runs one step to completion, batch by batch. A failure carries a [`StepFailure`]
    /// (names only) as context.
    pub async fn run_step(&self, step: &Step, target: &Target) -> anyhow::Result<StepReport> {
        // Steps add to one report as they go, so that a failure still says what the step
        // had already done (a [`PartialStep`] in the error).
        let mut report = StepReport::default();
        let outcome = match step {
            Step::Tombstone => self.tombstone(target, Some(&mut report)).await.map(drop),
            Step::Rewrite(edge) => self.rewrite(edge, target, &mut report).await,
            Step::Delete(table) => self.delete(table, target, &mut report).await,
            Step::Subject => self.subject(target, &mut report).await,
        };
        match outcome {
            Ok(()) => Ok(report),
            Err(error) => {
                let failure = StepFailure::from_error(&step.label(), &error);
                Err(error.context(PartialStep(report)).context(failure))
            }
        }
    }

    /// Binds the rewrite parameters: `$1` hash key, `$2`/`$3` identity patterns.
    fn bind_rewrite<'q>(query: Boxed<'q>, target: &Target) -> Boxed<'q> {
        let (text, json) = target.patterns();
        query
            .bind::<Text, _>(target.hash_key.clone())
            .bind::<Text, _>(text)
            .bind::<Text, _>(json)
    }
}

/// Per-table counts a plan's own statements made, for telling them from what the database
/// did by itself.
pub(crate) fn planned_counts(
    map: &BoundMap,
    step: &Step,
    rows: u64,
) -> BTreeMap<String, TableCounts> {
    let mut out = BTreeMap::new();
    let (table, counts) = match step {
        Step::Tombstone => (
            map.map.subject.table.clone(),
            TableCounts {
                inserted: rows,
                ..Default::default()
            },
        ),
        Step::Rewrite(label) => match map.edge(label) {
            Some((edge, _)) => (
                edge.table.clone(),
                TableCounts {
                    updated: rows,
                    ..Default::default()
                },
            ),
            None => return out,
        },
        Step::Delete(table) => (
            table.clone(),
            TableCounts {
                deleted: rows,
                ..Default::default()
            },
        ),
        Step::Subject => (
            map.map.subject.table.clone(),
            TableCounts {
                deleted: rows,
                ..Default::default()
            },
        ),
    };
    if rows > 0 {
        out.insert(table, counts);
    }
    out
}
