//! What a purge reports: per-step counts, dry runs, leftovers found by verification, and
//! the checkpoint a re-run resumes from. Counts only, never contents.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Step;

/// What one step did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepReport {
    /// Rows deleted or rewritten.
    pub rows: u64,
    /// Objects deleted.
    pub objects: u64,
    /// Objects kept because other rows still name them.
    pub objects_shared: u64,
    /// Objects deleted per bucket.
    #[serde(default)]
    pub buckets: BTreeMap<String, u64>,
}

/// Something the verification pass found that should be gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leftover {
    /// The step that should have removed it.
    pub step: String,
    /// How many.
    pub count: u64,
}

/// Dry-run counts: what a purge would touch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DryRun {
    /// Rows per entry, by action.
    pub rows: BTreeMap<String, EntryCount>,
    /// Objects per bucket.
    pub objects: BTreeMap<String, u64>,
    /// Whether an account matched.
    pub subject_found: bool,
}

/// Rows of one entry and what erasure does to them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryCount {
    /// `delete`, `anonymize`, `retain` or `detach`.
    pub action: String,
    /// Rows.
    pub rows: u64,
    /// Legal basis, for retained rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basis: Option<String>,
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
        let total = self.counts.entry(label.clone()).or_default();
        total.rows += report.rows;
        total.objects += report.objects;
        total.objects_shared += report.objects_shared;
        for (bucket, n) in &report.buckets {
            *total.buckets.entry(bucket.clone()).or_default() += n;
        }
        if !self.done.contains(&label) {
            self.done.push(label);
        }
    }

    /// Whether a step is done in this pass.
    pub fn is_done(&self, step: &Step) -> bool {
        self.done.contains(&step.label())
    }
}

/// The outcome of a purge, for the control plane.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeReport {
    /// Whether an account matched.
    pub subject_found: bool,
    /// Totals per step.
    pub counts: BTreeMap<String, StepReport>,
    /// Rows deleted or rewritten, all steps.
    pub rows: u64,
    /// Objects deleted, all steps.
    pub objects: u64,
    /// Objects deleted per bucket.
    #[serde(default)]
    pub buckets: BTreeMap<String, u64>,
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
            counts: checkpoint.counts.clone(),
        }
    }
}
