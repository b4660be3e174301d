//! Deadlines. Every request carries two clocks, set at intake from the rule of its regime
//! (`requests.regime`, stored on the request) and kind in `[deadlines]` ([`rules`]):
//!
//! - the **acknowledgement** deadline (`ack_due_at`), where the rule has one (CCPA: 10
//!   business days to confirm receipt; GDPR has no separate one). A request counts as
//!   acknowledged (`acknowledged_at`) once the mail confirming its receipt is queued, in
//!   the transaction that files it: the verification-code mail of a filing by email (it
//!   names the request, its response deadline and the next step), or, for a filing proved
//!   by the platform's assertion whose rule has an acknowledgement clock, a receipt mail
//!   to the address the assertion names. A request with neither stays unacknowledged;
//! - the **response** deadline (`due_at`): GDPR one month, CCPA 45 days, unsubscribes and
//!   child reports two business days.
//!
//! Staff may extend the response deadline once, with a reason the requester is mailed,
//! where the rule allows it and before the deadline has passed ([`extension`]). The
//! deadline watch of every `serve` and `work` process ([`watch`]) flags requests whose
//! clock ran out (once each, with an audit entry) and sends one digest a day to staff
//! ([`digest`]).
//!
//! A request is on the clock while it is open: from filing until it is completed, denied,
//! cancelled, expired, aborted, merged or dismissed (see [`running`]).

pub mod calendar;
pub mod digest;
pub mod extension;
pub mod overdue;
pub mod rules;
pub mod settings;
pub mod watch;

use chrono::{DateTime, Utc};

pub use calendar::{Calendar, Span};
pub use rules::{Due, RegimeRules, Rule};
pub use settings::DeadlineSettings;
pub use watch::Watch;

use crate::config::Settings;
use crate::domain::{RequestKind, RequestStatus};
use crate::models::Request;

/// The stored statuses of requests on the clock (see [`running`]).
pub const RUNNING: [&str; 5] = [
    "pending_verification",
    "verified",
    "approved",
    "processing",
    "failed",
];

/// Whether a request in `status` is on the clock: open, including a failed one staff
/// still have to finish or abort.
pub fn running(status: RequestStatus) -> bool {
    RUNNING.contains(&status.as_str())
}

/// The deadlines of a request of `kind` received `now` under the configured regime.
pub fn at_intake(settings: &Settings, kind: RequestKind, now: DateTime<Utc>) -> Due {
    settings
        .deadlines
        .at_intake(settings.requests.regime, kind, now)
}

/// Where a request stands against its clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// On the clock and past its response deadline.
    pub overdue: bool,
    /// On the clock, not acknowledged, and past its acknowledgement deadline.
    pub ack_overdue: bool,
}

impl Standing {
    /// The standing of `request` at `now`.
    pub fn of(request: &Request, now: DateTime<Utc>) -> Self {
        let running = running(request.status());
        Self {
            overdue: running && request.due_at < now,
            ack_overdue: running
                && request.acknowledged_at.is_none()
                && request.ack_due_at.is_some_and(|due| due < now),
        }
    }
}
