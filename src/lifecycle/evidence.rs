//! The evidence file of a likeness request: checked by its content, stored in the private
//! evidence bucket under a random key (replacing an earlier one), deleted once every
//! listing is settled ([`super::likeness`]) or, for a request that closed unsettled, by
//! the maintenance sweep.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use lethe_jobs::storage::ObjectRef;
use uuid::Uuid;

use super::likeness::open_request;
use super::service::ServiceLifecycle;
use crate::audit::{self, AuditEntry};
use crate::domain::{RequestKind, RequestStatus};
use crate::error::ApiError;
use crate::models::{Evidence, Request};
use crate::schema::{evidence, requests};
use crate::state::AppState;

/// What a file's content says it is, if it is evidence Lethe accepts.
pub fn evidence_type(bytes: &[u8]) -> Option<&'static str> {
    const ACCEPTED: [&str; 5] = [
        "image/png",
        "image/jpeg",
        "image/webp",
        "image/gif",
        "application/pdf",
    ];
    infer::get(bytes)
        .map(|kind| kind.mime_type())
        .filter(|mime| ACCEPTED.contains(mime))
}

/// Stores the evidence file of a request whose requester was authorized (replacing an
/// earlier one) in the evidence bucket under a random key. `content_type` was read from
/// the content.
pub async fn store_evidence(
    state: &AppState,
    request_id: Uuid,
    content_type: &'static str,
    bytes: bytes::Bytes,
) -> Result<Evidence, ApiError> {
    let bucket = state.settings.storage.evidence_bucket.clone();
    let key = format!("evidence/{}", crate::secrets::new_token());
    let size = bytes.len() as u64;
    let mut conn = state.db.get().await?;
    {
        // Refuse before storing anything.
        let request = Request::find(&mut conn, request_id)
            .await?
            .ok_or(ApiError::NotFound)?;
        if request.kind() != RequestKind::Likeness || request.status() != RequestStatus::Verified {
            return Err(ApiError::Conflict(
                "evidence goes with a verified likeness request awaiting decisions",
            ));
        }
    }
    let object = ObjectRef {
        bucket: bucket.clone(),
        key: key.clone(),
    };
    state
        .storage
        .put_bytes(&object, bytes.to_vec(), content_type)
        .await
        .map_err(ApiError::Internal)?;
    let stored = conn
        .transaction::<_, ApiError, _>(async |c| {
            open_request(c, request_id).await?;
            let previous = Evidence::find(c, request_id).await?;
            diesel::insert_into(evidence::table)
                .values((
                    evidence::request_id.eq(request_id),
                    evidence::object_key.eq(&key),
                    evidence::content_type.eq(content_type),
                    evidence::bytes.eq(i64::try_from(size).unwrap_or(i64::MAX)),
                    evidence::uploaded_at.eq(Utc::now()),
                    evidence::deleted_at.eq(None::<chrono::DateTime<Utc>>),
                ))
                .on_conflict(evidence::request_id)
                .do_update()
                .set((
                    evidence::object_key.eq(&key),
                    evidence::content_type.eq(content_type),
                    evidence::bytes.eq(i64::try_from(size).unwrap_or(i64::MAX)),
                    evidence::uploaded_at.eq(Utc::now()),
                    evidence::deleted_at.eq(None::<chrono::DateTime<Utc>>),
                ))
                .execute(c)
                .await?;
            audit::append(
                c,
                &[AuditEntry::evidence_stored(request_id, content_type, size)],
            )
            .await?;
            Ok(previous)
        })
        .await;
    let previous = match stored {
        Ok(previous) => previous,
        Err(error) => {
            // Nothing recorded: the object must not stay.
            let _ = state.storage.delete_keys(&bucket, &[key]).await;
            return Err(error);
        }
    };
    if let Some(old) = previous.filter(|e| e.deleted_at.is_none()) {
        state
            .storage
            .delete_keys(&bucket, &[old.object_key])
            .await
            .map_err(ApiError::Internal)?;
    }
    Evidence::find(&mut conn, request_id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// Evidence files of requests that closed without settling (cancelled, denied, expired):
/// still stored, to be deleted.
pub(crate) async fn orphaned(svc: &ServiceLifecycle) -> anyhow::Result<Vec<(Uuid, ObjectRef)>> {
    let mut conn = svc.db.get().await?;
    let rows: Vec<(Uuid, String)> = evidence::table
        .inner_join(requests::table)
        .filter(evidence::deleted_at.is_null())
        .filter(requests::status.ne(RequestStatus::Verified.as_str()))
        .select((evidence::request_id, evidence::object_key))
        .limit(100)
        .load(&mut conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, key)| {
            (
                id,
                ObjectRef {
                    bucket: svc.evidence_bucket.clone(),
                    key,
                },
            )
        })
        .collect())
}

/// Records that a closed request's evidence was deleted, once.
pub(crate) async fn gone(svc: &ServiceLifecycle, request_id: Uuid) -> anyhow::Result<()> {
    let mut conn = svc.db.get().await?;
    conn.transaction::<_, anyhow::Error, _>(async |c| {
        let updated = diesel::update(
            evidence::table
                .find(request_id)
                .filter(evidence::deleted_at.is_null()),
        )
        .set(evidence::deleted_at.eq(Utc::now()))
        .execute(c)
        .await?;
        if updated > 0 {
            audit::append(c, &[AuditEntry::evidence_deleted(request_id)]).await?;
        }
        Ok(())
    })
    .await
}
