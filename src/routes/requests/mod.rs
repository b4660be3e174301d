//! `/v1/requests`: file a request, verify it, follow it.

pub mod cancel;
pub mod create;
pub mod evidence;
pub mod show;
pub mod verify;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::domain::{RequestKind, RequestStatus};
use crate::models::Request;

/// A request as its requester sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RequestView {
    /// Request id.
    pub id: Uuid,
    /// Kind.
    pub kind: RequestKind,
    /// Status.
    pub status: RequestStatus,
    /// Received.
    pub created_at: DateTime<Utc>,
    /// Legal due date.
    pub due_at: DateTime<Utc>,
    /// Completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
    /// The export, once ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export: Option<ExportView>,
}

/// An export's download.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExportView {
    /// Time-limited download link (absent once expired).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_url: Option<String>,
    /// When the link and the archive expire.
    pub expires_at: DateTime<Utc>,
    /// Archive size in bytes.
    pub bytes: Option<i64>,
    /// Whether the archive has expired and been deleted.
    pub expired: bool,
}

impl RequestView {
    /// The view of a stored request, without export details.
    pub fn from_request(request: &Request) -> Self {
        Self {
            id: request.id,
            kind: request.kind(),
            status: request.status(),
            created_at: request.created_at,
            due_at: request.due_at,
            completed_at: request.completed_at,
            export: None,
        }
    }
}
