//! Legal regimes and the due dates they set.

use chrono::{DateTime, Duration, Months, Utc};
use serde::{Deserialize, Serialize};

/// The law whose deadline applies to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Regime {
    /// GDPR Art. 12(3): one month from receipt.
    Gdpr,
    /// CCPA §1798.130: 45 days from receipt.
    Ccpa,
}

impl Regime {
    /// The stable name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gdpr => "gdpr",
            Self::Ccpa => "ccpa",
        }
    }

    /// When a request received at `received` is due. A GDPR month ends on the same day
    /// of the next month, or on its last day if that day does not exist (31 Jan -> 28/29 Feb).
    pub fn due(self, received: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Self::Gdpr => received
                .checked_add_months(Months::new(1))
                .expect("dates far from the end of time"),
            Self::Ccpa => received + Duration::days(45),
        }
    }
}

/// `days` business days (Monday to Friday) after `received`.
pub fn business_days_after(received: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    use chrono::{Datelike, Weekday};
    let mut due = received;
    let mut left = days;
    while left > 0 {
        due += Duration::days(1);
        if !matches!(due.weekday(), Weekday::Sat | Weekday::Sun) {
            left -= 1;
        }
    }
    due
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gdpr_due_dates_are_one_calendar_month_later() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(
            Regime::Gdpr.due(at("2026-01-31T10:00:00Z")),
            at("2026-02-28T10:00:00Z")
        );
        assert_eq!(
            Regime::Gdpr.due(at("2026-11-22T10:00:00Z")),
            at("2026-12-22T10:00:00Z")
        );
        assert_eq!(
            Regime::Ccpa.due(at("2026-11-22T10:00:00Z")),
            at("2027-01-06T10:00:00Z")
        );
    }
}
