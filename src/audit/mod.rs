//! The audit log: append-only and hash-chained. Entries are made only through the named
//! constructors of [`AuditEntry`], carry counts and ids (never contents or PII), and are
//! written by [`append`] inside the same transaction as the state change they record.
//!
//! Chain: `hash = SHA-256(prev_hash || seq || at || request_id || actor || action || details)`
//! with `details` in canonical JSON (sorted keys). `lethe audit verify` recomputes it.

use chrono::{DateTime, SubsecRound, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::schema::audit_log;

mod entries;
mod likeness_entries;
mod report_entries;

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
