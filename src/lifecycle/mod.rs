//! The request lifecycle: every state change a request goes through, each one transaction
//! with its audit entry; mail and enqueue happen after commit.
//!
//! ```text
//! pending_verification --code/assertion--> verified --policy or staff--> approved
//!        |       |                                                         |
//!        |       +--code, while the person has one open--> merged          |
//!        +--(48 h)--> expired                    processing <--worker------+
//!                                                     |        |
//!                  completed (export expires,  <------+        +--> failed --staff retry--> verified
//!                  then PII scrubbed)                                 |
//!                                                                     +--staff abort--> aborted
//! ```
//!
//! A deletion is approved on a clean dry run (a rehearsal, [`rehearsal`]); if the map or
//! the platform schema changed by the time the purge starts, it goes back to `verified`.

mod claim;
pub mod evidence;
pub mod failure;
pub mod intake;
pub mod likeness;
pub mod own_copies;
pub mod recovery;
pub mod rehearsal;
pub mod reports;
mod retention;
pub mod review;
pub mod service;
mod subject;
mod unsubscribing;
pub mod verify;

use crate::state::AppState;

/// Enqueues the job of a request that was just approved (a deletion's only after its
/// grace period), then records the enqueue. A failure is only logged: the request stays
/// approved with no enqueue time, and the maintenance sweep's reconciler enqueues it
/// within a minute.
pub async fn enqueue_after_commit(state: &AppState, request: &crate::models::Request) {
    let request_id = request.id;
    let enqueued = match request.kind() {
        crate::domain::RequestKind::Deletion | crate::domain::RequestKind::ChildReport => {
            let delay = request
                .grace_until
                .and_then(|until| (until - chrono::Utc::now()).to_std().ok());
            state.queue.enqueue_purge(request_id, delay).await
        }
        crate::domain::RequestKind::Unsubscribe => {
            state.queue.enqueue_unsubscribe(request_id).await
        }
        crate::domain::RequestKind::Likeness => state.queue.enqueue_likeness(request_id).await,
        _ => state.queue.enqueue_export(request_id).await,
    };
    match enqueued {
        Ok(()) => {
            let recorded = match state.db.get().await {
                Ok(mut conn) => crate::models::Request::mark_enqueued(&mut conn, &[request_id])
                    .await
                    .map_err(anyhow::Error::from),
                Err(error) => Err(error.into()),
            };
            if let Err(error) = recorded {
                tracing::warn!(%request_id, error = crate::telemetry::loggable(&error), "enqueued, but recording it failed");
            }
        }
        Err(error) => {
            tracing::warn!(%request_id, error = crate::telemetry::loggable(&error), "enqueue failed; the reconciler will retry");
        }
    }
}
