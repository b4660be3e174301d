//! The audit entries Lethe writes: one constructor per action, each with its actor and
//! the counts and ids it records (never contents).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Actor, AuditEntry};

impl AuditEntry {
    /// A request was filed.
    pub fn request_filed(
        request_id: Uuid,
        kind: &str,
        regime: &str,
        due_at: DateTime<Utc>,
        ack_due_at: Option<DateTime<Utc>>,
    ) -> Self {
        Self::new(
            request_id,
            Actor::Requester,
            "request.filed",
            json!({
                "kind": kind,
                "regime": regime,
                "due_at": due_at.to_rfc3339(),
                "ack_due_at": ack_due_at.map(|at| at.to_rfc3339()),
            }),
        )
    }

    /// A new verification code was sent.
    pub fn code_sent(request_id: Uuid) -> Self {
        Self::new(
            request_id,
            Actor::System,
            "verification.code_sent",
            json!({}),
        )
    }

    /// A wrong code was entered.
    pub fn code_rejected(request_id: Uuid, attempts_left: i32) -> Self {
        Self::new(
            request_id,
            Actor::Requester,
            "verification.code_rejected",
            json!({ "attempts_left": attempts_left }),
        )
    }

    /// The requester proved their identity.
    pub fn verified(request_id: Uuid, via: &str) -> Self {
        let actor = if via == "platform_assertion" {
            Actor::Platform
        } else {
            Actor::Requester
        };
        Self::new(request_id, actor, "request.verified", json!({ "via": via }))
    }

    /// The request was approved without staff (policy allows it).
    pub fn auto_approved(request_id: Uuid) -> Self {
        Self::new(
            request_id,
            Actor::System,
            "request.approved",
            json!({ "by": "policy" }),
        )
    }

    /// A worker started (or restarted) the request.
    pub fn processing_started(request_id: Uuid, run: i32) -> Self {
        Self::new(
            request_id,
            Actor::System,
            "request.processing",
            json!({ "run": run }),
        )
    }

    /// A run failed; it will be retried. `detail` names the step, table and constraint.
    pub fn run_failed(request_id: Uuid, code: &str, detail: &Value) -> Self {
        Self::new(
            request_id,
            Actor::System,
            "request.run_failed",
            json!({ "code": code, "detail": detail }),
        )
    }

    /// An export was written: counts per table, objects and bytes.
    pub fn export_completed(request_id: Uuid, report: &lethe_jobs::export::ExportReport) -> Self {
        Self::new(
            request_id,
            Actor::System,
            "export.completed",
            json!({
                "rows": report.rows,
                "rows_total": report.rows_total,
                "objects": report.objects,
                "object_bytes": report.object_bytes,
                "objects_missing": report.objects_missing,
                "archive_bytes": report.archive_bytes,
                "subject_found": report.subject_found,
            }),
        )
    }

    /// An expired export archive was deleted.
    pub fn export_deleted(request_id: Uuid) -> Self {
        Self::new(request_id, Actor::System, "export.deleted", json!({}))
    }

    /// Requester data was erased from Lethe's own records.
    pub fn requester_data_scrubbed(request_id: Uuid) -> Self {
        Self::new(request_id, Actor::System, "request.pii_scrubbed", json!({}))
    }

    /// A new requester token replaced the previous one (identity proved again).
    pub fn token_rotated(request_id: Uuid, via: &str) -> Self {
        let actor = if via == "platform_assertion" {
            Actor::Platform
        } else {
            Actor::Requester
        };
        Self::new(
            request_id,
            actor,
            "request.token_rotated",
            json!({ "via": via }),
        )
    }

    /// A verified filing joined the person's open request of the same kind.
    pub fn merged(request_id: Uuid, into: Uuid) -> Self {
        Self::new(
            request_id,
            Actor::Requester,
            "request.merged",
            json!({ "into": into }),
        )
    }

    /// A completed deletion erased one of Lethe's own copies of the person's data: the
    /// export archive of another of their requests.
    pub fn export_erased(request_id: Uuid, by_deletion: Uuid) -> Self {
        Self::new(
            request_id,
            Actor::System,
            "export.erased",
            json!({ "by_deletion": by_deletion }),
        )
    }

    /// A completed deletion erased the requester data of another of the person's requests.
    pub fn requester_data_erased(request_id: Uuid, by_deletion: Uuid) -> Self {
        Self::new(
            request_id,
            Actor::System,
            "request.pii_scrubbed",
            json!({ "by_deletion": by_deletion }),
        )
    }

    /// An unsubscribe took effect on the platform, `took_ms` after it was received.
    pub fn unsubscribe_applied(
        request_id: Uuid,
        report: &lethe_jobs::lifecycle::UnsubscribeReport,
        took_ms: i64,
    ) -> Self {
        Self::new(
            request_id,
            Actor::System,
            "unsubscribe.applied",
            json!({
                "categories": report.categories,
                "subject_found": report.subject_found,
                "rows": report.rows,
                "took_ms": took_ms,
            }),
        )
    }

    /// A privacy signal (Global Privacy Control) was recorded for the request's subject.
    pub fn privacy_signal(request_id: Uuid, signal: &str) -> Self {
        Self::new(
            request_id,
            Actor::Platform,
            "privacy_signal.recorded",
            json!({ "signal": signal }),
        )
    }

    /// An address entered the suppression list.
    pub fn suppressed(request_id: Option<Uuid>, category: &str, source: &str) -> Self {
        Self::new_optional(
            request_id,
            Actor::Requester,
            "suppression.added",
            json!({ "category": category, "source": source }),
        )
    }

    /// Staff took an address off the suppression list.
    pub fn suppression_removed(staff: Uuid, category: &str) -> Self {
        Self::new_optional(
            None,
            Actor::Staff(staff),
            "suppression.removed",
            json!({ "category": category }),
        )
    }

    /// An unverified request expired.
    pub fn expired(request_id: Uuid) -> Self {
        Self::new(request_id, Actor::System, "request.expired", json!({}))
    }

    /// Staff asked for a dry run (a rehearsal of the purge).
    pub fn rehearsal_requested(request_id: Uuid, staff: Uuid, rehearsal_id: Uuid) -> Self {
        Self::new(
            request_id,
            Actor::Staff(staff),
            "rehearsal.requested",
            json!({ "rehearsal_id": rehearsal_id }),
        )
    }

    /// A dry run finished: what it ran on and its totals (the per-table counts stay on the
    /// rehearsal).
    pub fn rehearsal_finished(
        request_id: Uuid,
        rehearsal_id: Uuid,
        pinned: &lethe_jobs::lifecycle::Pinned,
        outcome: &Result<lethe_jobs::purge::Rehearsal, String>,
    ) -> Self {
        let summary = match outcome {
            Ok(r) => json!({
                "subject_found": r.subject_found,
                "complete": r.complete,
                "stopped": r.stopped,
                "failure": r.failure,
                "tables": r.tables.len(),
                "deleted": r.tables.values().map(|t| t.counts.deleted).sum::<u64>(),
                "updated": r.tables.values().map(|t| t.counts.updated).sum::<u64>(),
                "inserted": r.tables.values().map(|t| t.counts.inserted).sum::<u64>(),
                "objects": r.objects.values().sum::<u64>(),
            }),
            Err(code) => json!({ "error": code }),
        };
        Self::new(
            request_id,
            Actor::System,
            "rehearsal.finished",
            json!({
                "rehearsal_id": rehearsal_id,
                "map_hash": pinned.map_hash,
                "schema_fingerprint": pinned.schema_fingerprint,
                "summary": summary,
            }),
        )
    }

    /// The purge found the map or the schema changed since the approved dry run, touched
    /// nothing, and sent the request back to review.
    pub fn purge_stale(request_id: Uuid, what: &str) -> Self {
        Self::new(
            request_id,
            Actor::System,
            "purge.stale",
            json!({ "changed": what }),
        )
    }

    /// Staff sent a failed request back to review for another attempt.
    pub fn retried(request_id: Uuid, staff: Uuid, round: i32) -> Self {
        Self::new(
            request_id,
            Actor::Staff(staff),
            "request.retry",
            json!({ "review_round": round }),
        )
    }

    /// Staff gave up on a failed request; `applied` is what the purge had done (counts).
    pub fn aborted(
        request_id: Uuid,
        staff: Uuid,
        applied: &lethe_jobs::purge::PurgeReport,
    ) -> Self {
        Self::new(
            request_id,
            Actor::Staff(staff),
            "request.aborted",
            json!({
                "applied": {
                    "rows": applied.rows,
                    "objects": applied.objects,
                    "buckets": applied.buckets,
                    "tables": applied.tables,
                    "steps": applied.counts.iter().map(|(k, v)| (k.clone(), json!({ "rows": v.rows, "objects": v.objects }))).collect::<serde_json::Map<String, Value>>(),
                },
            }),
        )
    }

    /// A staff member approved; `approvals` so far, `approved` whether that sufficed.
    pub fn staff_approved(request_id: Uuid, staff: Uuid, approvals: i64, approved: bool) -> Self {
        Self::new(
            request_id,
            Actor::Staff(staff),
            "request.approval",
            json!({ "approvals": approvals, "approved": approved }),
        )
    }

    /// A staff member denied the request.
    pub fn denied(request_id: Uuid, staff: Uuid) -> Self {
        Self::new(request_id, Actor::Staff(staff), "request.denied", json!({}))
    }

    /// The requester withdrew the request.
    pub fn cancelled(request_id: Uuid) -> Self {
        Self::new(request_id, Actor::Requester, "request.cancelled", json!({}))
    }

    /// The subject was located (or not) for a deletion.
    pub fn subject_located(request_id: Uuid, found: bool) -> Self {
        Self::new(
            request_id,
            Actor::System,
            "purge.located",
            json!({ "found": found }),
        )
    }

    /// One purge step finished with per-table counts as the database counted them.
    pub fn purge_step(
        request_id: Uuid,
        step: &str,
        report: &lethe_jobs::purge::StepReport,
    ) -> Self {
        Self::new(
            request_id,
            Actor::System,
            "purge.step",
            json!({ "step": step, "rows": report.rows, "objects": report.objects, "buckets": report.buckets, "tables": report.tables }),
        )
    }

    /// The purge was verified: counts per step.
    pub fn purge_completed(request_id: Uuid, report: &lethe_jobs::purge::PurgeReport) -> Self {
        let counts: serde_json::Map<String, Value> = report
            .counts
            .iter()
            .map(|(k, v)| (k.clone(), json!({ "rows": v.rows, "objects": v.objects, "objects_shared": v.objects_shared })))
            .collect();
        Self::new(
            request_id,
            Actor::System,
            "purge.completed",
            json!({
                "verified": true,
                "subject_found": report.subject_found,
                "rows": report.rows,
                "objects": report.objects,
                "buckets": report.buckets,
                "tables": report.tables,
                "steps": counts,
            }),
        )
    }

    /// The request could not be carried out; `detail` names what failed (never values).
    pub fn failed(request_id: Uuid, code: &str, detail: &Value) -> Self {
        Self::new(
            request_id,
            Actor::System,
            "request.failed",
            json!({ "code": code, "detail": detail }),
        )
    }

    pub(super) fn new(
        request_id: Uuid,
        actor: Actor,
        action: &'static str,
        details: Value,
    ) -> Self {
        Self {
            request_id: Some(request_id),
            actor,
            action,
            details,
        }
    }

    pub(super) fn new_optional(
        request_id: Option<Uuid>,
        actor: Actor,
        action: &'static str,
        details: Value,
    ) -> Self {
        Self {
            request_id,
            actor,
            action,
            details,
        }
    }

    /// The action name.
    pub fn action(&self) -> &'static str {
        self.action
    }
}
