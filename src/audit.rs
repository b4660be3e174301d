//! The audit log: append-only and hash-chained. Entries are made only through the named
//! constructors of [`AuditEntry`], carry counts and ids (never contents or PII), and are
//! written by [`append`] inside the same transaction as the state change they record.
//!
//! Chain: `hash = SHA-256(prev_hash || seq || at || request_id || actor || action || details)`
//! with `details` in canonical JSON (sorted keys). `lethe audit verify` recomputes it.

use chrono::{DateTime, SubsecRound, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::schema::audit_log;

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// The person who filed the request (proved by code, token or assertion).
    Requester,
    /// The platform, through a signed assertion.
    Platform,
    /// Lethe itself: a worker or a sweep.
    System,
    /// A staff member.
    Staff(Uuid),
}

impl Actor {
    fn as_str(&self) -> String {
        match self {
            Self::Requester => "requester".into(),
            Self::Platform => "platform".into(),
            Self::System => "system".into(),
            Self::Staff(id) => format!("staff:{id}"),
        }
    }
}

/// One audit entry, before it is chained.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    request_id: Option<Uuid>,
    actor: Actor,
    action: &'static str,
    details: Value,
}

impl AuditEntry {
    /// A request was filed.
    pub fn request_filed(
        request_id: Uuid,
        kind: &str,
        regime: &str,
        due_at: DateTime<Utc>,
    ) -> Self {
        Self::new(
            request_id,
            Actor::Requester,
            "request.filed",
            json!({ "kind": kind, "regime": regime, "due_at": due_at.to_rfc3339() }),
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

    fn new(request_id: Uuid, actor: Actor, action: &'static str, details: Value) -> Self {
        Self {
            request_id: Some(request_id),
            actor,
            action,
            details,
        }
    }

    fn new_optional(
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

/// A stored entry, as read back.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_log, check_for_backend(diesel::pg::Pg))]
pub struct StoredEntry {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// The request concerned.
    pub request_id: Option<Uuid>,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// Counts and ids.
    pub details: Value,
    /// Hash of the previous entry (32 zero bytes for the first).
    pub prev_hash: Vec<u8>,
    /// This entry's hash.
    pub hash: Vec<u8>,
}

/// The hash of an entry given its predecessor's.
pub fn chain_hash(
    prev_hash: &[u8],
    seq: i64,
    at: DateTime<Utc>,
    request_id: Option<Uuid>,
    actor: &str,
    action: &str,
    details: &Value,
) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(prev_hash);
    h.update(seq.to_be_bytes());
    h.update(at.timestamp_micros().to_be_bytes());
    h.update(
        request_id
            .map(|id| id.as_bytes().to_vec())
            .unwrap_or_default(),
    );
    h.update([0]);
    h.update(actor.as_bytes());
    h.update([0]);
    h.update(action.as_bytes());
    h.update([0]);
    // serde_json's Value keeps object keys sorted (no preserve_order), so this is canonical.
    h.update(serde_json::to_vec(details).expect("JSON values serialize"));
    h.finalize().to_vec()
}

/// Appends entries to the chain. Call inside the transaction of the state change they
/// record; the advisory lock serialises appenders so the chain has a single head.
pub async fn append(conn: &mut AsyncPgConnection, entries: &[AuditEntry]) -> QueryResult<()> {
    const AUDIT_LOCK: i64 = 0x4c45_5448_4541_5544; // "LETHEAUD"
    diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
        .bind::<diesel::sql_types::BigInt, _>(AUDIT_LOCK)
        .execute(conn)
        .await?;
    let head: Option<(i64, Vec<u8>)> = audit_log::table
        .select((audit_log::seq, audit_log::hash))
        .order(audit_log::seq.desc())
        .first(conn)
        .await
        .optional()?;
    let (mut seq, mut prev) = head.unwrap_or((0, vec![0; 32]));
    for entry in entries {
        seq += 1;
        let at = Utc::now().trunc_subsecs(6);
        let actor = entry.actor.as_str();
        let hash = chain_hash(
            &prev,
            seq,
            at,
            entry.request_id,
            &actor,
            entry.action,
            &entry.details,
        );
        diesel::insert_into(audit_log::table)
            .values((
                audit_log::seq.eq(seq),
                audit_log::at.eq(at),
                audit_log::request_id.eq(entry.request_id),
                audit_log::actor.eq(&actor),
                audit_log::action.eq(entry.action),
                audit_log::details.eq(&entry.details),
                audit_log::prev_hash.eq(&prev),
                audit_log::hash.eq(&hash),
            ))
            .execute(conn)
            .await?;
        prev = hash;
    }
    Ok(())
}

/// The outcome of verifying the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainCheck {
    /// Every entry links to its predecessor and hashes to its stored hash.
    Intact {
        /// Entries checked.
        entries: i64,
    },
    /// The first entry that does not.
    Broken {
        /// Its position.
        seq: i64,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Recomputes the whole chain in pages.
pub async fn verify_chain(conn: &mut AsyncPgConnection) -> QueryResult<ChainCheck> {
    let mut prev = vec![0u8; 32];
    let mut expected_seq = 1i64;
    loop {
        let page: Vec<StoredEntry> = audit_log::table
            .select(StoredEntry::as_select())
            .filter(audit_log::seq.ge(expected_seq))
            .order(audit_log::seq.asc())
            .limit(5000)
            .load(conn)
            .await?;
        if page.is_empty() {
            return Ok(ChainCheck::Intact {
                entries: expected_seq - 1,
            });
        }
        for e in page {
            if e.seq != expected_seq {
                return Ok(ChainCheck::Broken {
                    seq: expected_seq,
                    reason: "entry missing",
                });
            }
            if e.prev_hash != prev {
                return Ok(ChainCheck::Broken {
                    seq: e.seq,
                    reason: "does not link to the previous entry",
                });
            }
            let hash = chain_hash(
                &prev,
                e.seq,
                e.at,
                e.request_id,
                &e.actor,
                &e.action,
                &e.details,
            );
            if hash != e.hash {
                return Ok(ChainCheck::Broken {
                    seq: e.seq,
                    reason: "content does not match its hash",
                });
            }
            prev = e.hash;
            expected_seq += 1;
        }
    }
}
