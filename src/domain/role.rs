//! Staff roles, ordered by what they may do.

use serde::{Deserialize, Serialize};

/// A staff role. Each role may do everything the ones before it may.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The platform's mailer: mints unsubscribe links and checks suppressions; sees no
    /// request (it ranks below every reviewing role).
    Mailer,
    /// Reads requests, deadlines, dry runs and the audit trail.
    Viewer,
    /// Also runs dry runs and approves or denies requests.
    Reviewer,
    /// Also manages staff.
    Admin,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mailer => "mailer",
            Self::Viewer => "viewer",
            Self::Reviewer => "reviewer",
            Self::Admin => "admin",
        }
    }

    /// Parses a stored or given name.
    pub fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "mailer" => Self::Mailer,
            "viewer" => Self::Viewer,
            "reviewer" => Self::Reviewer,
            "admin" => Self::Admin,
            _ => return None,
        })
    }
}
