//! The audit log: append-only and hash-chained. Entries are made only through the named
//! constructors of [`AuditEntry`], carry counts and ids (never contents or PII), and are
//! written by [`append`] inside the same transaction as the state change they record.
//!
//! Appending takes no lock; [`chain`] seals entries into a keyed, signed chain in the
//! background, and [`export`] writes a selection with its proofs for anyone to verify.

use chrono::{DateTime, SubsecRound, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use uuid::Uuid;

use crate::schema::audit_log;

pub use chain::{AuditKeys, ChainCheck, verify_chain};

pub mod chain;
mod deadline_entries;
mod entries;
pub mod export;
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
}

/// Appends entries. Call inside the transaction of the state change they record. Takes
/// no lock: each entry's `seq` comes from a sequence, and the sealer ([`chain::seal`])
/// chains committed entries in the background. Takes the connection shared, so it can be
/// pipelined with other statements of the transaction.
pub async fn append(mut conn: &AsyncPgConnection, entries: &[AuditEntry]) -> QueryResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let at = Utc::now().trunc_subsecs(6);
    let rows: Vec<_> = entries
        .iter()
        .map(|entry| {
            (
                audit_log::at.eq(at),
                audit_log::request_id.eq(entry.request_id),
                audit_log::actor.eq(entry.actor.as_str()),
                audit_log::action.eq(entry.action),
                audit_log::details.eq(&entry.details),
            )
        })
        .collect();
    diesel::insert_into(audit_log::table)
        .values(&rows)
        .execute(&mut conn)
        .await?;
    Ok(())
}
