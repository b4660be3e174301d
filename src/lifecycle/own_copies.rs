//! Erasure of Lethe's own copies of a person. When a deletion completes, the person's
//! other requests lose what Lethe holds about them: live export archives are deleted from
//! the exports bucket (their links stop working), closed requests lose their contact data,
//! and filings never verified expire. Each gets an audit entry naming the deletion.
//!
//! A person's other requests are found by identity: the deletion's own identity hash, the
//! keyed hash of its email, the keyed hash of the platform subject (as named by an
//! assertion, or as located by the purge), and the located subject key itself. For a
//! confirmed child report the person is the child: only the subject counts, never the
//! reporter.

use chrono::Utc;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Nullable};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use lethe_jobs::storage::Storage;
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::db::DbPool;
use crate::domain::{Email, RequestKind, RequestStatus};
use crate::models::request::Request;
use crate::schema::{requests, verification_codes};
use crate::secrets::{Keyed, label};

/// Statuses of requests that are over: their contact data is no longer needed.
const CLOSED: [&str; 7] = [
    "completed",
    "denied",
    "cancelled",
    "expired",
    "aborted",
    "merged",
    "dismissed",
];

/// The identity hashes under which the person behind `deletion` may have filed. For a
/// child report that person is the child (by the located key), never the reporter.
fn identities(keyed: &Keyed, deletion: &Request) -> Vec<Vec<u8>> {
    let mut hashes = Vec::new();
    if deletion.kind() != RequestKind::ChildReport {
        hashes.push(deletion.email_hash.clone());
        if let Some(email) = deletion
            .email
            .as_deref()
            .and_then(|e| Email::try_from(e).ok())
        {
            hashes.push(keyed.hash(label::EMAIL, &email.normalized()));
        }
    }
    for subject in [&deletion.subject_ref, &deletion.subject_key]
        .into_iter()
        .flatten()
    {
        hashes.push(keyed.hash(label::SUBJECT, subject));
    }
    hashes.sort();
    hashes.dedup();
    hashes
}

/// The person's other requests.
fn others<'a>(
    hashes: &'a [Vec<u8>],
    deletion: &'a Request,
) -> Box<dyn BoxableExpression<requests::table, diesel::pg::Pg, SqlType = Nullable<Bool>> + 'a> {
    let not_this = requests::id.ne(deletion.id);
    match &deletion.subject_key {
        Some(key) => Box::new(
            not_this.and(
                requests::email_hash
                    .eq_any(hashes)
                    .or(requests::subject_key.eq(key)),
            ),
        ),
        None => Box::new(not_this.and(requests::email_hash.eq_any(hashes)).nullable()),
    }
}

/// Deletes the live export archives of the person's other requests, each then marked
/// deleted with an `export.erased` entry. Idempotent: an archive already gone is skipped,
/// and one deleted before a crash is marked on the next call.
pub async fn erase_archives(
    db: &DbPool,
    storage: &Storage,
    keyed: &Keyed,
    exports_bucket: &str,
    deletion: &Request,
) -> anyhow::Result<usize> {
    let hashes = identities(keyed, deletion);
    let mut conn = db.get().await?;
    let archives: Vec<(Uuid, Option<String>)> = requests::table
        .filter(others(&hashes, deletion))
        .filter(requests::export_key.is_not_null())
        .filter(requests::export_deleted_at.is_null())
        .select((requests::id, requests::export_key))
        .load(&mut conn)
        .await?;
    for (request_id, key) in &archives {
        if let Some(key) = key {
            storage
                .delete_keys(exports_bucket, std::slice::from_ref(key))
                .await?;
        }
        mark_archive_deleted(
            &mut conn,
            *request_id,
            AuditEntry::export_erased(*request_id, deletion.id),
        )
        .await?;
    }
    Ok(archives.len())
}

/// Records that a request's archive was deleted from the bucket, with `entry`, once
/// (a second call finds it recorded and writes nothing).
pub async fn mark_archive_deleted(
    conn: &mut AsyncPgConnection,
    request_id: Uuid,
    entry: AuditEntry,
) -> anyhow::Result<()> {
    conn.transaction::<_, anyhow::Error, _>(async |c| {
        let updated = diesel::update(
            requests::table
                .find(request_id)
                .filter(requests::export_deleted_at.is_null()),
        )
        .set(requests::export_deleted_at.eq(Utc::now()))
        .execute(c)
        .await?;
        if updated > 0 {
            audit::append(c, &[entry]).await?;
        }
        Ok(())
    })
    .await
}

/// Inside the completing transaction: closed requests of the person lose their contact
/// data and subject references, filings never verified expire (their codes go), each
/// with an audit entry. Open, proved requests keep their email until they close (they
/// still have to mail their requester); the retention sweep takes it then.
pub async fn scrub_others(
    c: &mut AsyncPgConnection,
    keyed: &Keyed,
    deletion: &Request,
    entries: &mut Vec<AuditEntry>,
) -> anyhow::Result<()> {
    let hashes = identities(keyed, deletion);
    let now = Utc::now();
    let pending: Vec<Uuid> = diesel::update(
        requests::table
            .filter(others(&hashes, deletion))
            .filter(requests::status.eq(RequestStatus::PendingVerification.as_str())),
    )
    .set(requests::status.eq(RequestStatus::Expired.as_str()))
    .returning(requests::id)
    .get_results(c)
    .await?;
    if !pending.is_empty() {
        diesel::delete(
            verification_codes::table.filter(verification_codes::request_id.eq_any(&pending)),
        )
        .execute(c)
        .await?;
        entries.extend(pending.iter().map(|id| AuditEntry::expired(*id)));
    }
    let closed: Vec<Uuid> = diesel::update(
        requests::table
            .filter(others(&hashes, deletion))
            .filter(requests::status.eq_any(CLOSED))
            .filter(
                requests::email
                    .is_not_null()
                    .or(requests::subject_ref.is_not_null())
                    .or(requests::subject_key.is_not_null()),
            ),
    )
    .set((
        requests::email.eq(None::<String>),
        requests::subject_ref.eq(None::<String>),
        requests::subject_key.eq(None::<String>),
        requests::pii_scrubbed_at.eq(now),
        requests::purge_identities.eq(None::<Vec<u8>>),
    ))
    .returning(requests::id)
    .get_results(c)
    .await?;
    entries.extend(
        closed
            .iter()
            .map(|id| AuditEntry::requester_data_erased(*id, deletion.id)),
    );
    Ok(())
}
