//! The end of a likeness request: closing it once every listing is settled (evidence
//! deleted, counts, what was listed forgotten, the requester told), and the deletion of a
//! removed resource's files after the hold.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use lethe_jobs::lifecycle::ResourceItem;
use uuid::Uuid;

use super::super::service::ServiceLifecycle;
use super::item;
use crate::audit::{self, AuditEntry};
use crate::domain::{ListingState, RequestKind, RequestStatus, ResourceDecision};
use crate::mail;
use crate::models::{Evidence, Listing, Request};
use crate::schema::{evidence, likeness_resources, requests};

/// Closes a request whose listings are all settled: its evidence is deleted, it is
/// `completed` with counts, what was listed is forgotten, and the requester is told.
pub(crate) async fn settle(svc: &ServiceLifecycle, request_id: Uuid) -> anyhow::Result<()> {
    let mut conn = svc.db.get().await?;
    let listings = Listing::of_request(&mut conn, request_id).await?;
    let Some(request) = Request::find(&mut conn, request_id).await? else {
        return Ok(());
    };
    if request.kind() != RequestKind::Likeness
        || request.status() != RequestStatus::Verified
        || listings.is_empty()
        || !listings.iter().all(Listing::settled)
    {
        return Ok(());
    }
    // The evidence goes first: a crash after it re-runs this and finds it gone.
    if let Some(file) = Evidence::find(&mut conn, request_id)
        .await?
        .filter(|e| e.deleted_at.is_none())
    {
        svc.storage
            .delete_keys(&svc.evidence_bucket, std::slice::from_ref(&file.object_key))
            .await?;
    }
    let closed = conn
        .transaction::<_, anyhow::Error, _>(async |c| {
            let Some(request) = Request::find_for_update(c, request_id).await? else {
                return Ok(false);
            };
            if request.status() != RequestStatus::Verified {
                return Ok(false);
            }
            let listings = Listing::of_request(c, request_id).await?;
            if !listings.iter().all(Listing::settled) {
                return Ok(false);
            }
            let mut entries = Vec::new();
            let deleted = diesel::update(
                evidence::table
                    .find(request_id)
                    .filter(evidence::deleted_at.is_null()),
            )
            .set(evidence::deleted_at.eq(Utc::now()))
            .execute(c)
            .await?;
            if deleted > 0 {
                entries.push(AuditEntry::evidence_deleted(request_id));
            }
            let count = |f: &dyn Fn(&Listing) -> bool| listings.iter().filter(|l| f(l)).count();
            let counts = serde_json::json!({
                "removed": count(&|l| l.decision == Some(ResourceDecision::Remove)),
                "kept": count(&|l| l.decision == Some(ResourceDecision::Keep)),
                "already_removed": count(&|l| l.state == ListingState::AlreadyRemoved),
                "not_found": count(&|l| l.state == ListingState::NotFound),
            });
            diesel::update(requests::table.find(request_id))
                .set((
                    requests::status.eq(RequestStatus::Completed.as_str()),
                    requests::completed_at.eq(Utc::now()),
                    requests::result.eq(&counts),
                ))
                .execute(c)
                .await?;
            diesel::update(
                likeness_resources::table.filter(likeness_resources::request_id.eq(request_id)),
            )
            .set(likeness_resources::given.eq(None::<String>))
            .execute(c)
            .await?;
            entries.push(AuditEntry::likeness_completed(request_id, &counts));
            audit::append(c, &entries).await?;
            let outcome: Vec<(String, &'static str)> = listings
                .iter()
                .map(|l| {
                    let said = match (l.state, l.decision) {
                        (ListingState::AlreadyRemoved, _) => "already removed",
                        (_, Some(ResourceDecision::Remove)) => "removed",
                        _ => "not removed",
                    };
                    (l.given.clone().unwrap_or_default(), said)
                })
                .collect();
            svc.outbox
                .put_to_requester(
                    c,
                    request_id,
                    request.email.as_deref(),
                    "likeness_outcome",
                    mail::likeness_outcome(request_id, &outcome),
                )
                .await?;
            Ok(true)
        })
        .await?;
    drop(conn);
    if closed {
        svc.outbox.wake();
    }
    Ok(())
}

/// Removed resources whose hold is over and whose files are still stored.
pub(crate) async fn files_due(svc: &ServiceLifecycle) -> anyhow::Result<Vec<ResourceItem>> {
    let mut conn = svc.db.get().await?;
    let due: Vec<Listing> = likeness_resources::table
        .filter(likeness_resources::files_due_at.le(Utc::now()))
        .filter(likeness_resources::files_deleted_at.is_null())
        .select(Listing::as_select())
        .limit(100)
        .load(&mut conn)
        .await?;
    Ok(due.iter().filter_map(item).collect())
}

/// Records deleted files, once.
pub(crate) async fn files_deleted(
    svc: &ServiceLifecycle,
    listing_id: Uuid,
    objects: u64,
) -> anyhow::Result<()> {
    let mut conn = svc.db.get().await?;
    conn.transaction::<_, anyhow::Error, _>(async |c| {
        let updated: Vec<Uuid> = diesel::update(
            likeness_resources::table
                .find(listing_id)
                .filter(likeness_resources::files_deleted_at.is_null()),
        )
        .set((
            likeness_resources::files_deleted_at.eq(Utc::now()),
            likeness_resources::files_deleted.eq(i64::try_from(objects).unwrap_or(i64::MAX)),
        ))
        .returning(likeness_resources::request_id)
        .get_results(c)
        .await?;
        if let Some(request_id) = updated.into_iter().next() {
            audit::append(
                c,
                &[AuditEntry::likeness_files_deleted(
                    request_id, listing_id, objects,
                )],
            )
            .await?;
        }
        Ok(())
    })
    .await
}
