//! Data categories, which group exports for people and counts for staff.

use serde::{Deserialize, Serialize};

/// Data categories, used to group exports for people and counts for staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Account and profile details.
    Account,
    /// Sign-in, sessions, keys and tokens.
    Security,
    /// Payments, purchases, payouts, billing.
    Payments,
    /// Reports, reviews and moderation.
    Moderation,
    /// What the person made: images, models, posts, comments.
    Content,
    /// Interactions: reactions, follows, notifications, views.
    Activity,
    /// Devices, IP addresses, locations.
    DeviceLocation,
    /// Communication and privacy preferences.
    Preferences,
}

impl Category {
    /// Every category, in display order.
    pub const ALL: [Category; 8] = [
        Self::Account,
        Self::Security,
        Self::Payments,
        Self::Moderation,
        Self::Content,
        Self::Activity,
        Self::DeviceLocation,
        Self::Preferences,
    ];

    /// A heading for people.
    pub fn title(self) -> &'static str {
        match self {
            Self::Account => "Account and profile",
            Self::Security => "Sign-in and security",
            Self::Payments => "Payments",
            Self::Moderation => "Reports and moderation",
            Self::Content => "Content",
            Self::Activity => "Activity",
            Self::DeviceLocation => "Devices and locations",
            Self::Preferences => "Preferences",
        }
    }

    /// The stable machine name, as in the map.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::Security => "security",
            Self::Payments => "payments",
            Self::Moderation => "moderation",
            Self::Content => "content",
            Self::Activity => "activity",
            Self::DeviceLocation => "device_location",
            Self::Preferences => "preferences",
        }
    }
}
