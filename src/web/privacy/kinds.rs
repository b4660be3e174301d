//! How the privacy center names each kind of request, in plain words.

use crate::domain::RequestKind;

/// Every kind a person can file on the web, in the order the start page lists them.
pub const ALL: [RequestKind; 5] = [
    RequestKind::Access,
    RequestKind::Deletion,
    RequestKind::Unsubscribe,
    RequestKind::ChildReport,
    RequestKind::Likeness,
];

/// The kind's part of the form's address (`/privacy/new/{slug}`).
pub fn slug(kind: RequestKind) -> &'static str {
    match kind {
        RequestKind::Access => "access",
        RequestKind::Deletion => "deletion",
        RequestKind::Unsubscribe => "unsubscribe",
        RequestKind::ChildReport => "child-report",
        RequestKind::Likeness => "likeness",
    }
}

/// The kind named by `slug`, if any.
pub fn from_slug(slug: &str) -> Option<RequestKind> {
    ALL.into_iter().find(|k| self::slug(*k) == slug)
}

/// What the person asks for, as a heading.
pub fn title(kind: RequestKind) -> &'static str {
    match kind {
        RequestKind::Access => "Get a copy of my data",
        RequestKind::Deletion => "Delete my account and data",
        RequestKind::Unsubscribe => "Stop marketing emails",
        RequestKind::ChildReport => "Report a child under 13",
        RequestKind::Likeness => "Remove resources that reproduce my likeness",
    }
}

/// One sentence on what happens.
pub fn summary(kind: RequestKind) -> &'static str {
    match kind {
        RequestKind::Access => {
            "We collect everything we hold about you and email you a link to download it."
        }
        RequestKind::Deletion => {
            "We delete your account, what you posted and the files you uploaded, and keep only what the law requires."
        }
        RequestKind::Unsubscribe => {
            "We stop sending you marketing emails. Emails about your account and your requests still reach you."
        }
        RequestKind::ChildReport => {
            "Tell us about an account used by a child under 13. Our staff look into every report."
        }
        RequestKind::Likeness => {
            "List models, images or other resources made to reproduce your face or voice, and we review each one."
        }
    }
}
