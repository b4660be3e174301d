//! The keyed chain over the audit log. Appending takes no lock: an entry gets its `seq`
//! from a sequence and waits in `audit_pending`. The sealer ([`seal`], run by one process
//! at a time) chains the entries it can see in `seq` order:
//!
//! ```text
//! hash_n = SHA-256(hash_{n-1} || n || seq || at || request_id || actor || action || details)
//! mac_n  = HMAC-SHA256(audit key, hash_n)
//! ```
//!
//! and signs a checkpoint (Ed25519 over `pos || hash || at`) of the head every
//! `checkpoint_every_entries` entries or `checkpoint_every_minutes` minutes. Anyone holding
//! the public key can check hashes against checkpoints; rewriting entries past the last
//! checkpoint needs the MAC key; cutting the chain short of a checkpoint is detected.
//!
//! Entries of one request keep their order: a state change commits before the next one
//! starts, so any snapshot that sees the later entry sees the earlier one too.

use chrono::{DateTime, SubsecRound, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::config::Settings;
use crate::schema::{audit_chain, audit_checkpoints, audit_log, audit_pending};

/// Entries sealed per pass (and per transaction).
const SEAL_BATCH: i64 = 5000;
/// Taken (transaction-scoped, try-only) by a sealer pass: one sealer at a time.
const SEAL_LOCK: i64 = 0x4c45_5448_4553_4541; // "LETHESEA"

/// The audit chain's MAC key and checkpoint signing key.
pub struct AuditKeys {
    mac: SecretString,
    signing: SigningKey,
}

impl AuditKeys {
    /// From `audit.key`, or, when that is empty, from `security.secret_key`.
    pub fn from_settings(settings: &Settings) -> Self {
        let configured = settings.audit.key.expose_secret();
        let master = if configured.is_empty() {
            hex::encode(
                crate::secrets::Keyed::new(settings.security.secret_key.clone())
                    .hash(crate::secrets::label::AUDIT, "master"),
            )
        } else {
            configured.to_owned()
        };
        Self::from_master(&master)
    }

    /// From a master key (both keys are derived from it under their own labels).
    pub fn from_master(master: &str) -> Self {
        let derive = |label: &str| {
            let mut mac = Hmac::<Sha256>::new_from_slice(master.as_bytes()).expect("any key");
            mac.update(label.as_bytes());
            mac.finalize().into_bytes()
        };
        let seed: [u8; 32] = derive("lethe/audit-sign/v1").into();
        Self {
            mac: SecretString::from(hex::encode(derive("lethe/audit-mac/v1"))),
            signing: SigningKey::from_bytes(&seed),
        }
    }

    /// The key that verifies checkpoints and exports.
    pub fn public_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// The public key as 64 hex digits.
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.public_key().as_bytes())
    }

    fn mac(&self, hash: &[u8]) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.mac.expose_secret().as_bytes()).expect("any key");
        mac.update(hash);
        mac
    }

    /// Signs `message` with the checkpoint key.
    pub(super) fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.signing.sign(message).to_bytes().to_vec()
    }
}

/// Whether `signature` is `key`'s over `message`.
pub fn signature_valid(key: &VerifyingKey, message: &[u8], signature: &[u8]) -> bool {
    Signature::from_slice(signature).is_ok_and(|s| key.verify(message, &s).is_ok())
}

/// What an entry's link covers, besides its predecessor and position.
#[derive(Debug, Clone, Copy)]
pub struct LinkContent<'a> {
    /// The entry's `seq`.
    pub seq: i64,
    /// When it was written.
    pub at: DateTime<Utc>,
    /// The request concerned.
    pub request_id: Option<Uuid>,
    /// Who.
    pub actor: &'a str,
    /// What.
    pub action: &'a str,
    /// Counts and ids.
    pub details: &'a Value,
}

/// The unkeyed hash of link `pos`.
pub fn link_hash(prev_hash: &[u8], pos: i64, c: LinkContent<'_>) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(prev_hash);
    h.update(pos.to_be_bytes());
    h.update(c.seq.to_be_bytes());
    h.update(c.at.timestamp_micros().to_be_bytes());
    h.update(
        c.request_id
            .map(|id| id.as_bytes().to_vec())
            .unwrap_or_default(),
    );
    h.update([0]);
    h.update(c.actor.as_bytes());
    h.update([0]);
    h.update(c.action.as_bytes());
    h.update([0]);
    // serde_json's Value keeps object keys sorted (no preserve_order), so this is canonical.
    h.update(serde_json::to_vec(c.details).expect("JSON values serialize"));
    h.finalize().to_vec()
}

/// What a checkpoint's signature covers.
pub fn checkpoint_message(pos: i64, hash: &[u8], at: DateTime<Utc>) -> Vec<u8> {
    let mut m = b"lethe/audit-checkpoint/v1".to_vec();
    m.extend(pos.to_be_bytes());
    m.extend(hash);
    m.extend(at.timestamp_micros().to_be_bytes());
    m
}

/// When the sealer signs a checkpoint.
#[derive(Debug, Clone, Copy)]
pub struct CheckpointPolicy {
    /// After this many new entries...
    pub every_entries: i64,
    /// ...or this long, when there are new entries.
    pub every: chrono::Duration,
}

impl CheckpointPolicy {
    /// From `[audit]`.
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            every_entries: i64::from(settings.audit.checkpoint_every_entries),
            every: chrono::Duration::minutes(i64::from(settings.audit.checkpoint_every_minutes)),
        }
    }
}

/// What one sealer pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sealed {
    /// Entries chained.
    pub entries: usize,
    /// Whether it signed a checkpoint.
    pub checkpoint: bool,
    /// Whether another sealer held the lock (this pass did nothing).
    pub busy: bool,
}

#[derive(Queryable)]
struct Pending {
    seq: i64,
    at: DateTime<Utc>,
    request_id: Option<Uuid>,
    actor: String,
    action: String,
    details: Value,
}

/// One sealer pass: chains up to 5,000 visible pending entries and signs a checkpoint
/// when the policy says so, in one transaction. Does nothing while another pass runs.
pub async fn seal(
    conn: &mut AsyncPgConnection,
    keys: &AuditKeys,
    policy: CheckpointPolicy,
) -> QueryResult<Sealed> {
    conn.transaction::<_, diesel::result::Error, _>(async |c| {
        let locked: bool = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
            "pg_try_advisory_xact_lock({SEAL_LOCK})"
        )))
        .get_result(c)
        .await?;
        if !locked {
            return Ok(Sealed {
                busy: true,
                ..Sealed::default()
            });
        }
        let pending: Vec<Pending> = audit_pending::table
            .inner_join(audit_log::table.on(audit_log::seq.eq(audit_pending::seq)))
            .select((
                audit_log::seq,
                audit_log::at,
                audit_log::request_id,
                audit_log::actor,
                audit_log::action,
                audit_log::details,
            ))
            .order(audit_pending::seq.asc())
            .limit(SEAL_BATCH)
            .load(c)
            .await?;
        let head: Option<(i64, Vec<u8>)> = audit_chain::table
            .select((audit_chain::pos, audit_chain::hash))
            .order(audit_chain::pos.desc())
            .first(c)
            .await
            .optional()?;
        let (mut pos, mut prev) = head.unwrap_or((0, vec![0; 32]));
        let mut links = Vec::with_capacity(pending.len());
        for e in &pending {
            pos += 1;
            let content = LinkContent {
                seq: e.seq,
                at: e.at,
                request_id: e.request_id,
                actor: &e.actor,
                action: &e.action,
                details: &e.details,
            };
            let hash = link_hash(&prev, pos, content);
            let mac = keys.mac(&hash).finalize().into_bytes().to_vec();
            links.push((
                audit_chain::pos.eq(pos),
                audit_chain::seq.eq(e.seq),
                audit_chain::prev_hash.eq(prev),
                audit_chain::hash.eq(hash.clone()),
                audit_chain::mac.eq(mac),
            ));
            prev = hash;
        }
        // Bind parameters per statement are limited (65,535): 5 per link.
        for chunk in links.chunks(10_000) {
            diesel::insert_into(audit_chain::table)
                .values(chunk)
                .execute(c)
                .await?;
        }
        let seqs: Vec<i64> = pending.iter().map(|e| e.seq).collect();
        diesel::delete(audit_pending::table.filter(audit_pending::seq.eq_any(&seqs)))
            .execute(c)
            .await?;
        let checkpoint = checkpoint_if_due(c, keys, policy, pos, &prev).await?;
        Ok(Sealed {
            entries: pending.len(),
            checkpoint,
            busy: false,
        })
    })
    .await
}

async fn checkpoint_if_due(
    c: &mut AsyncPgConnection,
    keys: &AuditKeys,
    policy: CheckpointPolicy,
    head_pos: i64,
    head_hash: &[u8],
) -> QueryResult<bool> {
    if head_pos == 0 {
        return Ok(false);
    }
    let last: Option<(i64, DateTime<Utc>)> = audit_checkpoints::table
        .select((audit_checkpoints::pos, audit_checkpoints::at))
        .order(audit_checkpoints::pos.desc())
        .first(c)
        .await
        .optional()?;
    let now = Utc::now().trunc_subsecs(6);
    let due = match last {
        None => true,
        Some((pos, at)) => {
            head_pos > pos && (head_pos - pos >= policy.every_entries || now - at >= policy.every)
        }
    };
    if !due {
        return Ok(false);
    }
    let signature = keys.sign(&checkpoint_message(head_pos, head_hash, now));
    diesel::insert_into(audit_checkpoints::table)
        .values((
            audit_checkpoints::pos.eq(head_pos),
            audit_checkpoints::hash.eq(head_hash),
            audit_checkpoints::at.eq(now),
            audit_checkpoints::signature.eq(signature),
        ))
        .execute(c)
        .await?;
    Ok(true)
}

/// Seals until nothing visible is pending (waiting for a concurrent sealer to finish),
/// then signs a checkpoint of the head if it has none: what `lethe audit verify` and
/// `export` do first.
pub async fn seal_all(conn: &mut AsyncPgConnection, keys: &AuditKeys) -> QueryResult<usize> {
    let now = CheckpointPolicy {
        every_entries: 1,
        every: chrono::Duration::zero(),
    };
    let mut total = 0;
    loop {
        let pass = seal(conn, keys, now).await?;
        total += pass.entries;
        if pass.busy {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        } else if pass.entries == 0 {
            return Ok(total);
        }
    }
}

/// The outcome of verifying the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainCheck {
    /// Every link matches its entry, its predecessor and its MAC; every checkpoint's
    /// signature and hash match; every entry is chained or waiting for the sealer.
    Intact {
        /// Entries in the chain.
        entries: i64,
        /// Signed checkpoints checked.
        checkpoints: i64,
        /// Entries not yet sealed.
        unsealed: i64,
    },
    /// The first thing that does not.
    Broken {
        /// The chain position (or, for an entry outside the chain, its `seq`).
        pos: i64,
        /// What is wrong.
        reason: &'static str,
    },
}

#[derive(Queryable)]
struct Link {
    pos: i64,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
    mac: Vec<u8>,
    seq: i64,
    entry: Option<EntryRow>,
}

/// An entry as read back: when, who, action, request reference, details.
type EntryRow = (DateTime<Utc>, Option<Uuid>, String, String, Value);

/// A checkpoint as stored: position, head hash, when, signature.
pub(crate) type CheckpointRow = (i64, Vec<u8>, DateTime<Utc>, Vec<u8>);

/// Recomputes the whole chain in pages and checks every checkpoint.
pub async fn verify_chain(
    conn: &mut AsyncPgConnection,
    keys: &AuditKeys,
) -> QueryResult<ChainCheck> {
    let checkpoints: Vec<CheckpointRow> = audit_checkpoints::table
        .select((
            audit_checkpoints::pos,
            audit_checkpoints::hash,
            audit_checkpoints::at,
            audit_checkpoints::signature,
        ))
        .order(audit_checkpoints::pos.asc())
        .load(conn)
        .await?;
    let public = keys.public_key();
    for (pos, hash, at, signature) in &checkpoints {
        if !signature_valid(&public, &checkpoint_message(*pos, hash, *at), signature) {
            return Ok(ChainCheck::Broken {
                pos: *pos,
                reason: "a checkpoint's signature does not verify",
            });
        }
    }
    let mut next_checkpoint = checkpoints.iter().peekable();
    let mut prev = vec![0u8; 32];
    let mut expected = 1i64;
    loop {
        let page: Vec<Link> = audit_chain::table
            .left_join(audit_log::table.on(audit_log::seq.eq(audit_chain::seq)))
            .select((
                audit_chain::pos,
                audit_chain::prev_hash,
                audit_chain::hash,
                audit_chain::mac,
                audit_chain::seq,
                (
                    audit_log::at,
                    audit_log::request_id,
                    audit_log::actor,
                    audit_log::action,
                    audit_log::details,
                )
                    .nullable(),
            ))
            .filter(audit_chain::pos.ge(expected))
            .order(audit_chain::pos.asc())
            .limit(5000)
            .load(conn)
            .await?;
        if page.is_empty() {
            break;
        }
        for link in page {
            let broken = |reason| {
                Ok(ChainCheck::Broken {
                    pos: expected,
                    reason,
                })
            };
            if link.pos != expected {
                return broken("a link is missing");
            }
            let Some((at, request_id, actor, action, details)) = &link.entry else {
                return broken("the entry of a link is missing");
            };
            if link.prev_hash != prev {
                return broken("does not link to the previous entry");
            }
            let content = LinkContent {
                seq: link.seq,
                at: *at,
                request_id: *request_id,
                actor,
                action,
                details,
            };
            if link_hash(&prev, link.pos, content) != link.hash {
                return broken("content does not match its hash");
            }
            if keys.mac(&link.hash).verify_slice(&link.mac).is_err() {
                return broken("the link's MAC does not verify (rewritten without the key)");
            }
            if let Some((pos, hash, _, _)) = next_checkpoint.peek()
                && *pos == link.pos
            {
                if *hash != link.hash {
                    return broken("differs from the signed checkpoint at this position");
                }
                next_checkpoint.next();
            }
            prev = link.hash;
            expected += 1;
        }
    }
    if let Some((pos, _, _, _)) = next_checkpoint.next() {
        return Ok(ChainCheck::Broken {
            pos: *pos,
            reason: "the chain ends before a signed checkpoint (truncated)",
        });
    }
    let outside: Option<i64> = audit_log::table
        .select(audit_log::seq)
        .filter(diesel::dsl::not(diesel::dsl::exists(
            audit_chain::table.filter(audit_chain::seq.eq(audit_log::seq)),
        )))
        .filter(diesel::dsl::not(diesel::dsl::exists(
            audit_pending::table.filter(audit_pending::seq.eq(audit_log::seq)),
        )))
        .order(audit_log::seq.asc())
        .first(conn)
        .await
        .optional()?;
    if let Some(seq) = outside {
        return Ok(ChainCheck::Broken {
            pos: seq,
            reason: "an entry is neither chained nor waiting for the sealer",
        });
    }
    let unsealed: i64 = audit_pending::table.count().get_result(conn).await?;
    Ok(ChainCheck::Intact {
        entries: expected - 1,
        checkpoints: i64::try_from(checkpoints.len()).unwrap_or(i64::MAX),
        unsealed,
    })
}
