//! Likeness removal. A verified request's listings are looked up on the platform by a
//! worker; staff decide per resource found (remove or keep, with a reason), and a decision
//! also settles the same resource in other open requests; removed resources are
//! unpublished at once and their files deleted after `requests.likeness_file_hold_days`;
//! the evidence file ([`super::evidence`]) goes as soon as every listing is settled, and
//! the requester is told which resources were removed and which were not. Each change is one transaction with
//! its audit entries; jobs are enqueued and mail sent after commit.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use lethe_jobs::lifecycle::{LikenessWork, ResourceItem};
use uuid::Uuid;

use super::service::ServiceLifecycle;
use crate::audit::{self, AuditEntry};
use crate::domain::{ListingState, RequestKind, RequestStatus, ResourceDecision};
use crate::error::ApiError;
use crate::models::staff::Staff;
use crate::models::{Listing, Request};
use crate::schema::{likeness_resources, requests};
use crate::state::AppState;

/// One staff decision.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The listing.
    pub listing: Uuid,
    /// Remove or keep.
    pub decision: ResourceDecision,
    /// Why.
    pub reason: String,
}

/// Locks a likeness request awaiting decisions.
pub(crate) async fn open_request(
    c: &mut AsyncPgConnection,
    request_id: Uuid,
) -> Result<Request, ApiError> {
    let request = Request::find_for_update(c, request_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if request.kind() != RequestKind::Likeness {
        return Err(ApiError::Conflict("only likeness requests list resources"));
    }
    if request.status() != RequestStatus::Verified {
        return Err(ApiError::Conflict("the request is not awaiting decisions"));
    }
    Ok(request)
}

/// Records staff decisions on listings found on the platform. Each also settles the same
/// resource in other open requests that have not decided it. The affected requests'
/// work is enqueued after commit.
pub async fn decide(
    state: &AppState,
    request_id: Uuid,
    staff: &Staff,
    decisions: &[Decision],
) -> Result<Vec<Listing>, ApiError> {
    let mut conn = state.db.get().await?;
    let affected = conn
        .transaction::<_, ApiError, _>(async |c| {
            open_request(c, request_id).await?;
            let now = Utc::now();
            let mut entries = Vec::new();
            let mut affected = vec![request_id];
            for d in decisions {
                let listing = Listing::find_for_update(c, d.listing)
                    .await?
                    .filter(|l| l.request_id == request_id)
                    .ok_or_else(|| {
                        ApiError::field("decisions", "names a resource this request does not list")
                    })?;
                if listing.state != ListingState::Found {
                    return Err(ApiError::Conflict(
                        "only resources found on the platform are decided",
                    ));
                }
                if listing.decision.is_some() {
                    return Err(ApiError::Conflict("a resource is decided already"));
                }
                diesel::update(likeness_resources::table.find(listing.id))
                    .set((
                        likeness_resources::decision.eq(d.decision),
                        likeness_resources::reason.eq(&d.reason),
                        likeness_resources::decided_by.eq(staff.id),
                        likeness_resources::decided_at.eq(now),
                    ))
                    .execute(c)
                    .await?;
                // The same resource, listed by someone else and not decided yet.
                let followers: Vec<(Uuid, Uuid)> = diesel::update(
                    likeness_resources::table
                        .filter(likeness_resources::resource.eq(&listing.resource))
                        .filter(likeness_resources::resource_key.eq(&listing.resource_key))
                        .filter(likeness_resources::decision.is_null())
                        .filter(likeness_resources::state.eq(ListingState::Found))
                        .filter(likeness_resources::request_id.ne(request_id))
                        .filter(
                            likeness_resources::request_id.eq_any(
                                requests::table
                                    .filter(requests::kind.eq(RequestKind::Likeness.as_str()))
                                    .filter(requests::status.eq(RequestStatus::Verified.as_str()))
                                    .select(requests::id),
                            ),
                        ),
                )
                .set((
                    likeness_resources::decision.eq(d.decision),
                    likeness_resources::reason.eq(&d.reason),
                    likeness_resources::decided_by.eq(staff.id),
                    likeness_resources::decided_at.eq(now),
                    likeness_resources::decided_with.eq(request_id),
                ))
                .returning((likeness_resources::id, likeness_resources::request_id))
                .get_results(c)
                .await?;
                entries.push(AuditEntry::likeness_decided(
                    request_id,
                    staff.id,
                    listing.id,
                    d.decision.as_str(),
                    followers.len(),
                ));
                for (id, other) in followers {
                    entries.push(AuditEntry::likeness_followed(
                        other,
                        id,
                        request_id,
                        d.decision.as_str(),
                    ));
                    affected.push(other);
                }
            }
            audit::append(c, &entries).await?;
            affected.sort();
            affected.dedup();
            Ok(affected)
        })
        .await?;
    let listings = Listing::of_request(&mut conn, request_id).await?;
    drop(conn);
    for id in affected {
        enqueue(state, id).await;
    }
    Ok(listings)
}

/// Enqueues a likeness request's work; a failure is only logged (the reconciler retries).
pub async fn enqueue(state: &AppState, request_id: Uuid) {
    match state.queue.enqueue_likeness(request_id).await {
        Ok(()) => {
            if let Ok(mut conn) = state.db.get().await {
                let _ = Request::mark_enqueued(&mut conn, &[request_id]).await;
            }
        }
        Err(error) => {
            tracing::warn!(%request_id, error = crate::telemetry::loggable(&error), "enqueue failed; the reconciler will retry");
        }
    }
}

pub(super) fn item(listing: &Listing) -> Option<ResourceItem> {
    Some(ResourceItem {
        id: listing.id,
        resource: listing.resource.clone()?,
        key: listing.resource_key.clone()?,
    })
}

/// What is left to do on the platform for a request awaiting decisions.
pub(crate) async fn work(svc: &ServiceLifecycle, request_id: Uuid) -> anyhow::Result<LikenessWork> {
    let mut conn = svc.db.get().await?;
    let Some(request) = Request::find(&mut conn, request_id).await? else {
        return Ok(LikenessWork::default());
    };
    if request.kind() != RequestKind::Likeness || request.status() != RequestStatus::Verified {
        return Ok(LikenessWork::default());
    }
    let listings = Listing::of_request(&mut conn, request_id).await?;
    Ok(LikenessWork {
        check: listings
            .iter()
            .filter(|l| l.state == ListingState::Listed)
            .filter_map(item)
            .collect(),
        unpublish: listings
            .iter()
            .filter(|l| {
                l.state == ListingState::Found
                    && l.decision == Some(ResourceDecision::Remove)
                    && l.unpublished_at.is_none()
            })
            .filter_map(item)
            .collect(),
    })
}

/// Records a look-up: not found; already removed on an earlier request; or found (and,
/// when another open request already decided the same resource, that decision followed).
pub(crate) async fn checked(
    svc: &ServiceLifecycle,
    listing_id: Uuid,
    key: Option<&str>,
) -> anyhow::Result<()> {
    let mut conn = svc.db.get().await?;
    conn.transaction::<_, anyhow::Error, _>(async |c| {
        let Some(listing) = Listing::find_for_update(c, listing_id).await? else {
            return Ok(());
        };
        if listing.state != ListingState::Listed {
            return Ok(());
        }
        let (state, key) = match key {
            None => (ListingState::NotFound, listing.resource_key.clone()),
            Some(key) => {
                let same = likeness_resources::table
                    .filter(likeness_resources::resource.eq(&listing.resource))
                    .filter(likeness_resources::resource_key.eq(key))
                    .filter(likeness_resources::id.ne(listing.id));
                let removed: i64 = same
                    .filter(likeness_resources::unpublished_at.is_not_null())
                    .count()
                    .get_result(c)
                    .await?;
                if removed > 0 {
                    (ListingState::AlreadyRemoved, Some(key.to_owned()))
                } else {
                    (ListingState::Found, Some(key.to_owned()))
                }
            }
        };
        diesel::update(likeness_resources::table.find(listing_id))
            .set((
                likeness_resources::state.eq(state),
                likeness_resources::resource_key.eq(&key),
            ))
            .execute(c)
            .await?;
        let mut entries = vec![AuditEntry::likeness_checked(
            listing.request_id,
            listing_id,
            state.as_str(),
        )];
        if state == ListingState::Found {
            // Another open request already decided to remove it: no second decision.
            let pending: Option<(Uuid, ResourceDecision, Option<String>, Option<Uuid>)> =
                likeness_resources::table
                    .filter(likeness_resources::resource.eq(&listing.resource))
                    .filter(likeness_resources::resource_key.eq(&key))
                    .filter(likeness_resources::id.ne(listing.id))
                    .filter(likeness_resources::decision.eq(ResourceDecision::Remove))
                    .select((
                        likeness_resources::request_id,
                        likeness_resources::decision.assume_not_null(),
                        likeness_resources::reason,
                        likeness_resources::decided_by,
                    ))
                    .first(c)
                    .await
                    .optional()?;
            if let Some((with, decision, reason, by)) = pending {
                diesel::update(likeness_resources::table.find(listing_id))
                    .set((
                        likeness_resources::decision.eq(decision),
                        likeness_resources::reason.eq(reason),
                        likeness_resources::decided_by.eq(by),
                        likeness_resources::decided_at.eq(Utc::now()),
                        likeness_resources::decided_with.eq(with),
                    ))
                    .execute(c)
                    .await?;
                entries.push(AuditEntry::likeness_followed(
                    listing.request_id,
                    listing_id,
                    with,
                    decision.as_str(),
                ));
            }
        }
        audit::append(c, &entries).await?;
        Ok(())
    })
    .await
}

/// Records an unpublished resource and when its files fall due.
pub(crate) async fn unpublished(
    svc: &ServiceLifecycle,
    listing_id: Uuid,
    rows: u64,
) -> anyhow::Result<()> {
    let mut conn = svc.db.get().await?;
    let now = Utc::now();
    let due = now + svc.likeness_hold;
    conn.transaction::<_, anyhow::Error, _>(async |c| {
        let updated: Vec<Uuid> = diesel::update(
            likeness_resources::table
                .find(listing_id)
                .filter(likeness_resources::unpublished_at.is_null()),
        )
        .set((
            likeness_resources::unpublished_at.eq(now),
            likeness_resources::files_due_at.eq(due),
        ))
        .returning(likeness_resources::request_id)
        .get_results(c)
        .await?;
        if let Some(request_id) = updated.into_iter().next() {
            audit::append(
                c,
                &[AuditEntry::likeness_unpublished(
                    request_id, listing_id, rows,
                )],
            )
            .await?;
        }
        Ok(())
    })
    .await
}

mod close;
pub(crate) use close::{files_deleted, files_due, settle};
