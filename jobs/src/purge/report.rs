//! What a purge and a rehearsal report: per-table counts (as the database counted them,
//! cascades and trigger writes included), per-step counts, leftovers found by
//! verification, sanitised failures, and the checkpoint a re-run resumes from. Counts
//! only, never contents.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Step;

/// Row operations on one table, as PostgreSQL counted them (statements, cascades and
/// triggers alike).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableCounts {
    /// Rows deleted.
    pub deleted: u64,
    /// Row updates (a row updated twice counts twice).
    pub updated: u64,
    /// Rows inserted.
    pub inserted: u64,
}

impl TableCounts {
    /// Adds another count.
    pub fn add(&mut self, other: &TableCounts) {
        self.deleted += other.deleted;
        self.updated += other.updated;
        self.inserted += other.inserted;
    }

    /// Whether nothing happened.
    pub fn is_empty(&self) -> bool {
        self.deleted == 0 && self.updated == 0 && self.inserted == 0
    }
}

/// Adds per-table counts into a total.
pub fn add_tables(total: &mut BTreeMap<String, TableCounts>, more: &BTreeMap<String, TableCounts>) {
    for (table, counts) in more {
        total.entry(table.clone()).or_default().add(counts);
    }
}

/// What one step did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepReport {
    /// Rows the step's own statements deleted or rewrote.
    pub rows: u64,
    /// Objects deleted.
    pub objects: u64,
    /// Objects kept because other rows still name them.
    pub objects_shared: u64,
    /// Objects deleted per bucket.
    #[serde(default)]
    pub buckets: BTreeMap<String, u64>,
    /// Row operations per table while the step ran, cascades and triggers included.
    #[serde(default)]
    pub tables: BTreeMap<String, TableCounts>,
}

impl StepReport {
    /// Adds another report of the same step.
    pub fn add(&mut self, other: &StepReport) {
        self.rows += other.rows;
        self.objects += other.objects;
        self.objects_shared += other.objects_shared;
        for (bucket, n) in &other.buckets {
            *self.buckets.entry(bucket.clone()).or_default() += n;
        }
        add_tables(&mut self.tables, &other.tables);
    }
}

/// Something the verification pass found that should be gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leftover {
    /// The step that should have removed it, or `identity:table.column` for the subject's
    /// email or username still found in a redacted column.
    pub step: String,
    /// How many.
    pub count: u64,
}

/// Why a step failed, sanitised for staff: names, never values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepFailure {
    /// The step's label.
    pub step: String,
    /// What went wrong: `check_violation`, `unique_violation`, `foreign_key_violation`,
    /// `not_null_violation`, `serialization_failure`, `deadlock`,
    /// `trigger_or_other_database_error`, `timeout`, `storage`, `bucket_missing`,
    /// `connection`, `other`.
    pub kind: String,
    /// The table PostgreSQL named, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// The constraint PostgreSQL named, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraint: Option<String>,
    /// The column PostgreSQL named, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// The bucket that does not exist, for `bucket_missing`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
}

impl std::fmt::Display for StepFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "step {} failed: {}", self.step, self.kind)?;
        if let Some(t) = &self.table {
            write!(f, " on table {t}")?;
        }
        if let Some(c) = &self.constraint {
            write!(f, " (constraint {c})")?;
        }
        if let Some(c) = &self.column {
            write!(f, " (column {c})")?;
        }
        if let Some(b) = &self.bucket {
            write!(f, " (bucket {b})")?;
        }
        Ok(())
    }
}

impl std::error::Error for StepFailure {}

impl StepFailure {
    /// Whether the step lost to a concurrent transaction (PostgreSQL broke a deadlock or a
    /// serialization conflict by aborting it): the same statements may well succeed when
    /// run again.
    pub fn contended(&self) -> bool {
        matches!(self.kind.as_str(), "deadlock" | "serialization_failure")
    }
}

impl StepFailure {
    /// Classifies an error of the step labelled `step`, keeping only names from a
    /// database error.
    pub fn from_error(step: &str, error: &anyhow::Error) -> Self {
        let mut failure = Self {
            step: step.to_owned(),
            kind: "other".into(),
            table: None,
            constraint: None,
            column: None,
            bucket: None,
        };
        if let Some(missing) = crate::storage::MissingBucket::find(error) {
            failure.kind = "bucket_missing".into();
            failure.bucket = Some(missing.bucket.clone());
            return failure;
        }
        for cause in error.chain() {
            if let Some(diesel::result::Error::DatabaseError(kind, info)) =
                cause.downcast_ref::<diesel::result::Error>()
            {
                use diesel::result::DatabaseErrorKind as K;
                failure.kind = match kind {
                    K::CheckViolation => "check_violation",
                    K::UniqueViolation => "unique_violation",
                    K::ForeignKeyViolation => "foreign_key_violation",
                    K::NotNullViolation => "not_null_violation",
                    K::SerializationFailure => "serialization_failure",
                    K::ClosedConnection => "connection",
                    _ if info.message().contains("statement timeout") => "timeout",
                    _ if info.message().contains("deadlock detected") => "deadlock",
                    _ => "trigger_or_other_database_error",
                }
                .into();
                failure.table = info.table_name().map(str::to_owned);
                failure.constraint = info.constraint_name().map(str::to_owned);
                failure.column = info.column_name().map(str::to_owned);
                return failure;
            }
            if cause.downcast_ref::<aws_sdk_s3::Error>().is_some()
                || cause.to_string().starts_with("object storage")
            {
                failure.kind = "storage".into();
                return failure;
            }
            if cause
                .downcast_ref::<diesel_async::pooled_connection::deadpool::PoolError>()
                .is_some()
            {
                failure.kind = "connection".into();
                return failure;
            }
        }
        failure
    }
}

/// A rehearsal: the whole plan run in a transaction that is rolled back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rehearsal {
    /// Whether an account matched.
    pub subject_found: bool,
    /// Whether every step ran (false when a budget stopped it or a step failed).
    pub complete: bool,
    /// Why it stopped early, if it did: `row_budget` or `time_budget`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// The step that failed, if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<StepFailure>,
    /// Per table: what the map does to it and the exact row operations.
    pub tables: BTreeMap<String, TableSummary>,
    /// Objects that would be deleted, per bucket.
    pub objects: BTreeMap<String, u64>,
    /// Objects that would be kept because other rows still name them.
    pub objects_shared: u64,
    /// Rows the plan's own statements touched, per step label (steps touching none are left out).
    pub steps: BTreeMap<String, u64>,
    /// Milliseconds the rehearsal took.
    pub elapsed_ms: u64,
}

/// One table in a rehearsal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSummary {
    /// What the map does to the table's rows (`delete`, `retain`, `detach`, …).
    pub actions: Vec<String>,
    /// The legal basis of retained rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basis: Option<String>,
    /// Rows kept under a legal basis.
    #[serde(default)]
    pub retained: u64,
    /// Row operations, as the database counted them.
    #[serde(flatten)]
    pub counts: TableCounts,
    /// Of those, the ones the database did by itself (cascades, SET NULL, triggers).
    pub by_database: TableCounts,
}

/// Progress of a purge: the steps done in this pass and what every step did so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Labels of the steps finished in the current pass.
    pub done: Vec<String>,
    /// Totals per step label, across passes and re-runs.
    pub counts: BTreeMap<String, StepReport>,
    /// Passes that ended in a verification finding leftovers.
    pub failed_verifications: u32,
}

impl Checkpoint {
    /// Records a finished step.
    pub fn record(&mut self, step: &Step, report: &StepReport) {
        let label = step.label();
        self.counts.entry(label.clone()).or_default().add(report);
        if !self.done.contains(&label) {
            self.done.push(label);
        }
    }

    /// Adds what a step did before it failed, without marking it done (a re-run repeats
    /// it and finds the finished part gone).
    pub fn record_partial(&mut self, label: &str, report: &StepReport) {
        self.counts.entry(label.to_owned()).or_default().add(report);
    }

    /// Whether a step is done in this pass.
    pub fn is_done(&self, step: &Step) -> bool {
        self.done.contains(&step.label())
    }

    /// Row operations per table over every step so far.
    pub fn tables(&self) -> BTreeMap<String, TableCounts> {
        let mut total = BTreeMap::new();
        for report in self.counts.values() {
            add_tables(&mut total, &report.tables);
        }
        total
    }
}

/// The outcome of a purge, for the control plane.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeReport {
    /// Whether an account matched.
    pub subject_found: bool,
    /// Totals per step.
    pub counts: BTreeMap<String, StepReport>,
    /// Rows the plan's statements deleted or rewrote, all steps.
    pub rows: u64,
    /// Objects deleted, all steps.
    pub objects: u64,
    /// Objects deleted per bucket.
    #[serde(default)]
    pub buckets: BTreeMap<String, u64>,
    /// Row operations per table, cascades and triggers included.
    #[serde(default)]
    pub tables: BTreeMap<String, TableCounts>,
}

impl PurgeReport {
    /// Builds the report from a finished checkpoint.
    pub fn from_checkpoint(checkpoint: &Checkpoint) -> Self {
        Self {
            subject_found: true,
            rows: checkpoint.counts.values().map(|c| c.rows).sum(),
            objects: checkpoint.counts.values().map(|c| c.objects).sum(),
            buckets: checkpoint.counts.values().flat_map(|c| &c.buckets).fold(
                BTreeMap::new(),
                |mut all, (bucket, n)| {
                    *all.entry(bucket.clone()).or_default() += n;
                    all
                },
            ),
            tables: checkpoint.tables(),
            counts: checkpoint.counts.clone(),
        }
    }
}
