//! Where a request is in its life.

use serde::{Deserialize, Serialize};

/// A request's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// Waiting for the requester to prove who they are.
    PendingVerification,
    /// Identity proved; waiting for staff approval.
    Verified,
    /// Approved; waiting for a worker.
    Approved,
    /// A worker is on it.
    Processing,
    /// Done.
    Completed,
    /// Staff refused it.
    Denied,
    /// The requester withdrew it.
    Cancelled,
    /// It could not be carried out; staff must look.
    Failed,
    /// Never verified in time.
    Expired,
    /// A failed request staff gave up on; what had been applied is in its audit trail.
    Aborted,
    /// A filing verified while the same person had an open request of its kind: it joined
    /// that request (`merged_into`).
    Merged,
    /// A report staff looked into and closed without action.
    Dismissed,
}

impl RequestStatus {
    /// The stable name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingVerification => "pending_verification",
            Self::Verified => "verified",
            Self::Approved => "approved",
            Self::Processing => "processing",
            Self::Completed => "completed",
            Self::Denied => "denied",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
            Self::Expired => "expired",
            Self::Aborted => "aborted",
            Self::Merged => "merged",
            Self::Dismissed => "dismissed",
        }
    }

    /// Parses a stored name.
    pub fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "pending_verification" => Self::PendingVerification,
            "verified" => Self::Verified,
            "approved" => Self::Approved,
            "processing" => Self::Processing,
            "completed" => Self::Completed,
            "denied" => Self::Denied,
            "cancelled" => Self::Cancelled,
            "failed" => Self::Failed,
            "expired" => Self::Expired,
            "aborted" => Self::Aborted,
            "merged" => Self::Merged,
            "dismissed" => Self::Dismissed,
            _ => return None,
        })
    }

    /// Every status, in lifecycle order.
    pub const ALL: [Self; 12] = [
        Self::PendingVerification,
        Self::Verified,
        Self::Approved,
        Self::Processing,
        Self::Completed,
        Self::Denied,
        Self::Cancelled,
        Self::Failed,
        Self::Expired,
        Self::Aborted,
        Self::Merged,
        Self::Dismissed,
    ];

    /// The status in words, for staff pages.
    pub fn label(self) -> &'static str {
        match self {
            Self::PendingVerification => "waiting for code",
            Self::Verified => "to review",
            Self::Approved => "approved",
            Self::Processing => "processing",
            Self::Completed => "completed",
            Self::Denied => "denied",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
            Self::Expired => "expired",
            Self::Aborted => "aborted",
            Self::Merged => "merged",
            Self::Dismissed => "dismissed",
        }
    }
}
