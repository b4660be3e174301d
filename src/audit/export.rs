//! `lethe audit export` and `lethe audit verify --file`: a selection of the chain as JSON
//! Lines with its proofs, checkable by anyone holding the public key alone.
//!
//! Lines, in order: a `header`; the selected `entry` lines in chain order, each with its
//! content, position, predecessor hash and hash; the signed `checkpoint` lines from the
//! first selected position on; and a `seal`: an Ed25519 signature over the SHA-256 of
//! every byte before it and the chain's head. The verifier recomputes each entry's hash
//! from its content, checks links between consecutive positions, every checkpoint's
//! signature and the hash at its position, and the seal — so an edited, dropped,
//! reordered or cut-off line fails. A `--since` export is the contiguous chain from its
//! first entry on; a `--request` export holds that request's entries only, each bound to
//! the chain by its hash and to the export by the seal.

use std::io::Write;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::chain::{AuditKeys, LinkContent, checkpoint_message, link_hash, signature_valid};
use crate::schema::{audit_chain, audit_checkpoints, audit_log};

const FORMAT: &str = "lethe-audit-export/1";

/// Which entries to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Selection {
    /// The entries of one request.
    Request(Uuid),
    /// The chain from the first entry written at or after this instant.
    Since(DateTime<Utc>),
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum Line {
    Header {
        format: String,
        selection: Selection,
        public_key: String,
        exported_at: DateTime<Utc>,
    },
    Entry {
        pos: i64,
        seq: i64,
        at: DateTime<Utc>,
        request_id: Option<Uuid>,
        actor: String,
        action: String,
        details: Value,
        #[serde(with = "hex::serde")]
        prev_hash: Vec<u8>,
        #[serde(with = "hex::serde")]
        hash: Vec<u8>,
    },
    Checkpoint {
        pos: i64,
        #[serde(with = "hex::serde")]
        hash: Vec<u8>,
        at: DateTime<Utc>,
        #[serde(with = "hex::serde")]
        signature: Vec<u8>,
    },
    Seal {
        entries: u64,
        checkpoints: u64,
        head_pos: i64,
        #[serde(with = "hex::serde")]
        head_hash: Vec<u8>,
        #[serde(with = "hex::serde")]
        digest: Vec<u8>,
        #[serde(with = "hex::serde")]
        signature: Vec<u8>,
    },
}

fn seal_message(digest: &[u8], head_pos: i64, head_hash: &[u8]) -> Vec<u8> {
    let mut m = b"lethe/audit-export/v1".to_vec();
    m.extend(digest);
    m.extend(head_pos.to_be_bytes());
    m.extend(head_hash);
    m
}

/// What an export or a verified file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Entries.
    pub entries: u64,
    /// Signed checkpoints.
    pub checkpoints: u64,
}

type Row = (
    i64,
    Vec<u8>,
    Vec<u8>,
    (i64, DateTime<Utc>, Option<Uuid>, String, String, Value),
);

/// Writes the sealed entries of `selection` (seal pending entries first) to `out`.
pub async fn export(
    conn: &mut AsyncPgConnection,
    keys: &AuditKeys,
    selection: Selection,
    out: &mut impl Write,
) -> anyhow::Result<Summary> {
    let mut digest = Sha256::new();
    let mut write = |line: &Line| -> anyhow::Result<()> {
        let mut bytes = serde_json::to_vec(line)?;
        bytes.push(b'\n');
        digest.update(&bytes);
        out.write_all(&bytes)?;
        Ok(())
    };
    write(&Line::Header {
        format: FORMAT.into(),
        selection,
        public_key: keys.public_key_hex(),
        exported_at: Utc::now(),
    })?;
    let columns = (
        audit_chain::pos,
        audit_chain::prev_hash,
        audit_chain::hash,
        (
            audit_log::seq,
            audit_log::at,
            audit_log::request_id,
            audit_log::actor,
            audit_log::action,
            audit_log::details,
        ),
    );
    let mut entries = 0u64;
    let mut first_pos = None;
    let mut after = match selection {
        Selection::Request(_) => 0,
        // From the first link written at or after `t`, every later link.
        Selection::Since(t) => {
            let start: Option<i64> = audit_chain::table
                .inner_join(audit_log::table)
                .filter(audit_log::at.ge(t))
                .select(diesel::dsl::min(audit_chain::pos))
                .first(conn)
                .await?;
            start.map_or(i64::MAX, |p| p - 1)
        }
    };
    loop {
        let query = audit_chain::table
            .inner_join(audit_log::table)
            .select(columns)
            .filter(audit_chain::pos.gt(after))
            .order(audit_chain::pos.asc())
            .limit(5000)
            .into_boxed();
        let query = match selection {
            Selection::Request(id) => query.filter(audit_log::request_id.eq(id)),
            Selection::Since(_) => query,
        };
        let page: Vec<Row> = query.load(conn).await?;
        let Some(last) = page.last() else { break };
        after = last.0;
        for (pos, prev_hash, hash, (seq, at, request_id, actor, action, details)) in page {
            first_pos.get_or_insert(pos);
            entries += 1;
            write(&Line::Entry {
                pos,
                seq,
                at,
                request_id,
                actor,
                action,
                details,
                prev_hash,
                hash,
            })?;
        }
    }
    let checkpoints: Vec<super::chain::CheckpointRow> = audit_checkpoints::table
        .select((
            audit_checkpoints::pos,
            audit_checkpoints::hash,
            audit_checkpoints::at,
            audit_checkpoints::signature,
        ))
        .filter(audit_checkpoints::pos.ge(first_pos.unwrap_or(i64::MAX)))
        .order(audit_checkpoints::pos.asc())
        .load(conn)
        .await?;
    let checkpoint_count = checkpoints.len() as u64;
    for (pos, hash, at, signature) in checkpoints {
        write(&Line::Checkpoint {
            pos,
            hash,
            at,
            signature,
        })?;
    }
    let (head_pos, head_hash): (i64, Vec<u8>) = audit_chain::table
        .select((audit_chain::pos, audit_chain::hash))
        .order(audit_chain::pos.desc())
        .first(conn)
        .await
        .optional()?
        .unwrap_or((0, vec![0; 32]));
    let digest = digest.finalize().to_vec();
    let signature = keys.sign(&seal_message(&digest, head_pos, &head_hash));
    let seal = Line::Seal {
        entries,
        checkpoints: checkpoint_count,
        head_pos,
        head_hash,
        digest,
        signature,
    };
    let mut bytes = serde_json::to_vec(&seal)?;
    bytes.push(b'\n');
    out.write_all(&bytes)?;
    Ok(Summary {
        entries,
        checkpoints: checkpoint_count,
    })
}

/// Parses a public key: 64 hex digits.
pub fn parse_public_key(text: &str) -> anyhow::Result<VerifyingKey> {
    let bytes: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| anyhow::anyhow!("the public key must be 64 hex digits"))?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| anyhow::anyhow!("not an Ed25519 public key"))
}

/// Verifies an export with the public key alone; the error says what is wrong and where.
pub fn verify_file(text: &[u8], key: &VerifyingKey) -> anyhow::Result<Summary> {
    let body_end = match text.strip_suffix(b"\n") {
        Some(rest) => rest.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1),
        None => anyhow::bail!("the export does not end with a complete seal line (cut off?)"),
    };
    let (body, seal_line) = text.split_at(body_end);
    let Ok(Line::Seal {
        entries,
        checkpoints,
        head_pos,
        head_hash,
        digest,
        signature,
    }) = serde_json::from_slice(seal_line)
    else {
        anyhow::bail!("the last line is not the export's seal (cut off?)");
    };
    if Sha256::digest(body)[..] != digest[..] {
        anyhow::bail!("the export's lines do not match its seal (edited, removed or reordered)");
    }
    if !signature_valid(
        key,
        &seal_message(&digest, head_pos, &head_hash),
        &signature,
    ) {
        anyhow::bail!("the seal's signature does not verify with this public key");
    }
    let mut lines = body.split(|b| *b == b'\n').filter(|l| !l.is_empty());
    let contiguous = match lines.next().map(serde_json::from_slice::<Line>) {
        Some(Ok(Line::Header {
            format, selection, ..
        })) if format == FORMAT => matches!(selection, Selection::Since(_)),
        _ => anyhow::bail!("line 1 is not a {FORMAT} header"),
    };
    let mut seen = Summary {
        entries: 0,
        checkpoints: 0,
    };
    let mut last: Option<(i64, Vec<u8>)> = None;
    let mut hashes = std::collections::HashMap::new();
    for (n, line) in lines.enumerate() {
        let n = n + 2;
        let line: Line = serde_json::from_slice(line)
            .map_err(|e| anyhow::anyhow!("line {n} is not an export line: {e}"))?;
        match line {
            Line::Entry {
                pos,
                seq,
                at,
                request_id,
                actor,
                action,
                details,
                prev_hash,
                hash,
            } => {
                if seen.checkpoints > 0 {
                    anyhow::bail!("line {n}: an entry after the checkpoints");
                }
                let content = LinkContent {
                    seq,
                    at,
                    request_id,
                    actor: &actor,
                    action: &action,
                    details: &details,
                };
                if link_hash(&prev_hash, pos, content) != hash {
                    anyhow::bail!("line {n} (entry {pos}): content does not match its hash");
                }
                if let Some((last_pos, last_hash)) = &last {
                    if pos <= *last_pos {
                        anyhow::bail!("line {n} (entry {pos}): out of order");
                    }
                    if pos == last_pos + 1 && prev_hash != *last_hash {
                        anyhow::bail!("line {n} (entry {pos}): does not link to entry {last_pos}");
                    }
                    if contiguous && pos != last_pos + 1 {
                        anyhow::bail!(
                            "line {n}: entries {} to {} are missing",
                            last_pos + 1,
                            pos - 1
                        );
                    }
                }
                hashes.insert(pos, hash.clone());
                last = Some((pos, hash));
                seen.entries += 1;
            }
            Line::Checkpoint {
                pos,
                hash,
                at,
                signature,
            } => {
                if !signature_valid(key, &checkpoint_message(pos, &hash, at), &signature) {
                    anyhow::bail!("line {n} (checkpoint {pos}): signature does not verify");
                }
                if hashes.get(&pos).is_some_and(|h| *h != hash) {
                    anyhow::bail!("line {n}: entry {pos} differs from the signed checkpoint");
                }
                seen.checkpoints += 1;
            }
            Line::Header { .. } | Line::Seal { .. } => {
                anyhow::bail!("line {n}: a second header or seal")
            }
        }
    }
    if seen.entries != entries || seen.checkpoints != checkpoints {
        anyhow::bail!("the export holds other lines than its seal counts");
    }
    if let Some((pos, hash)) = &last
        && *pos == head_pos
        && *hash != head_hash
    {
        anyhow::bail!("the last entry differs from the sealed head");
    }
    Ok(seen)
}
