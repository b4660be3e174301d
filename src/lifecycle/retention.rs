//! The retention sweep: what finished requests no longer need goes (unverified filings
//! past their life, requester data of closed requests past retention, codes of requests
//! no longer waiting, used assertions past replay).

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::db::DbPool;
use crate::domain::RequestStatus;
use crate::schema::{requests, verification_codes};

/// Runs the sweep; how many requests it expired or scrubbed.
pub(crate) async fn sweep(
    db: &DbPool,
    unverified_expiry: chrono::Duration,
    retention: chrono::Duration,
) -> anyhow::Result<u64> {
    let mut conn = db.get().await?;
    let now = Utc::now();
    // Used assertions are kept only until they could no longer be replayed.
    diesel::delete(
        crate::schema::used_assertions::table
            .filter(crate::schema::used_assertions::expires_at.lt(now)),
    )
    .execute(&mut conn)
    .await?;
    conn.transaction::<_, anyhow::Error, _>(async |c| {
        let expired: Vec<Uuid> = diesel::update(
            requests::table
                .filter(requests::status.eq(RequestStatus::PendingVerification.as_str()))
                .filter(requests::created_at.lt(now - unverified_expiry)),
        )
        .set((
            requests::status.eq(RequestStatus::Expired.as_str()),
            requests::email.eq(None::<String>),
            requests::pii_scrubbed_at.eq(now),
        ))
        .returning(requests::id)
        .get_results(c)
        .await?;
        // Codes of requests no longer waiting for one (expired now, or left behind).
        diesel::delete(
            verification_codes::table.filter(
                verification_codes::request_id.ne_all(
                    requests::table
                        .filter(requests::status.eq(RequestStatus::PendingVerification.as_str()))
                        .select(requests::id),
                ),
            ),
        )
        .execute(c)
        .await?;
        let scrubbed: Vec<Uuid> = diesel::update(
            requests::table
                .filter(requests::status.eq_any([
                    "completed",
                    "denied",
                    "cancelled",
                    "expired",
                    "aborted",
                    "dismissed",
                ]))
                .filter(requests::pii_scrubbed_at.is_null())
                .filter(
                    requests::completed_at
                        .lt(now - retention)
                        .or(requests::completed_at.is_null()),
                )
                .filter(requests::created_at.lt(now - retention))
                .filter(
                    requests::export_key
                        .is_null()
                        .or(requests::export_deleted_at.is_not_null()),
                ),
        )
        .set((
            requests::email.eq(None::<String>),
            requests::subject_ref.eq(None::<String>),
            requests::pii_scrubbed_at.eq(now),
            requests::purge_identities.eq(None::<Vec<u8>>),
        ))
        .returning(requests::id)
        .get_results(c)
        .await?;
        // What reports said about an account, and what likeness requests listed, goes
        // with the requester's contact data.
        for ids in [&expired, &scrubbed] {
            crate::models::ChildReport::scrub(c, ids).await?;
            diesel::update(
                crate::schema::likeness_resources::table
                    .filter(crate::schema::likeness_resources::request_id.eq_any(ids)),
            )
            .set(crate::schema::likeness_resources::given.eq(None::<String>))
            .execute(c)
            .await?;
        }
        let mut entries: Vec<AuditEntry> =
            expired.iter().map(|id| AuditEntry::expired(*id)).collect();
        entries.extend(
            scrubbed
                .iter()
                .map(|id| AuditEntry::requester_data_scrubbed(*id)),
        );
        audit::append(c, &entries).await?;
        Ok((expired.len() + scrubbed.len()) as u64)
    })
    .await
}
