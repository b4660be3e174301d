//! The kinds of data-subject request Lethe handles.

use serde::{Deserialize, Serialize};

/// A request kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// "Send me a copy of my data."
    Access,
    /// "Delete my account and data."
    Deletion,
    /// "Stop sending me marketing mail."
    Unsubscribe,
    /// "A child under 13 gave you personal data."
    ChildReport,
    /// "Remove resources made to reproduce my likeness."
    Likeness,
}

/// The kind is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KindError {
    /// Not a kind at all.
    #[error("kind must be one of: access, deletion, unsubscribe, child_report, likeness")]
    Unknown,
}

impl RequestKind {
    /// The stable name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Deletion => "deletion",
            Self::Unsubscribe => "unsubscribe",
            Self::ChildReport => "child_report",
            Self::Likeness => "likeness",
        }
    }

    /// Parses a stored or submitted name.
    pub fn parse(value: &str) -> Result<Self, KindError> {
        Ok(match value {
            "access" => Self::Access,
            "deletion" => Self::Deletion,
            "unsubscribe" => Self::Unsubscribe,
            "child_report" => Self::ChildReport,
            "likeness" => Self::Likeness,
            _ => return Err(KindError::Unknown),
        })
    }

    /// The kind in words, for staff pages.
    pub fn label(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Deletion => "deletion",
            Self::Unsubscribe => "unsubscribe",
            Self::ChildReport => "child report",
            Self::Likeness => "likeness removal",
        }
    }
}
