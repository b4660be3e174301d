//! The calendar deadlines are counted on. A [`Span`] is a number of business days,
//! calendar days or calendar months; business days are Monday to Friday except the
//! configured holidays. Days are UTC dates, and a deadline keeps the time of day of the
//! moment it counts from.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, Utc, Weekday};

/// The largest number a span may state.
const MAX: u32 = 366;

/// A length of time a deadline rule states, e.g. `10 business days`, `45 days`, `1 month`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub enum Span {
    /// Business days: each day counted is neither a Saturday, a Sunday nor a holiday.
    BusinessDays(u32),
    /// Calendar days.
    Days(u32),
    /// Calendar months: the same day of the month, or the month's last day where that
    /// day does not exist (31 January + 1 month = 28 or 29 February).
    Months(u32),
}

/// A span that does not read as one. Never carries the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "a deadline reads \"<n> business days\", \"<n> days\" or \"<n> months\", with n from 1 to 366"
)]
pub struct SpanError;

impl TryFrom<String> for Span {
    type Error = SpanError;

    fn try_from(value: String) -> Result<Self, SpanError> {
        Self::try_from(value.as_str())
    }
}

impl TryFrom<&str> for Span {
    type Error = SpanError;

    fn try_from(value: &str) -> Result<Self, SpanError> {
        let text = value.trim().to_ascii_lowercase();
        let (number, unit) = text.split_once(' ').ok_or(SpanError)?;
        let n: u32 = number.parse().map_err(|_| SpanError)?;
        if n == 0 || n > MAX {
            return Err(SpanError);
        }
        let unit: Vec<&str> = unit.split_whitespace().collect();
        Ok(match unit.as_slice() {
            ["business", "day" | "days"] => Self::BusinessDays(n),
            ["day" | "days"] | ["calendar", "day" | "days"] => Self::Days(n),
            ["month" | "months"] | ["calendar", "month" | "months"] => Self::Months(n),
            _ => return Err(SpanError),
        })
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (n, unit) = match *self {
            Self::BusinessDays(n) => (n, "business day"),
            Self::Days(n) => (n, "day"),
            Self::Months(n) => (n, "month"),
        };
        write!(f, "{n} {unit}{}", if n == 1 { "" } else { "s" })
    }
}

impl Span {
    /// The moment this span after `from` ends, on `calendar`.
    pub fn after(self, calendar: &Calendar, from: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Self::BusinessDays(n) => {
                let mut due = from;
                let mut left = n;
                while left > 0 {
                    due += Duration::days(1);
                    if calendar.is_business_day(due.date_naive()) {
                        left -= 1;
                    }
                }
                due
            }
            Self::Days(n) => from + Duration::days(i64::from(n)),
            Self::Months(n) => from
                .checked_add_months(Months::new(n))
                .expect("dates far from the end of time"),
        }
    }
}

/// Which days are business days.
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    holidays: BTreeSet<NaiveDate>,
}

impl Calendar {
    /// A calendar with these holidays (besides every Saturday and Sunday).
    pub fn new(holidays: impl IntoIterator<Item = NaiveDate>) -> Self {
        Self {
            holidays: holidays.into_iter().collect(),
        }
    }

    /// Monday to Friday, and not a holiday.
    pub fn is_business_day(&self, day: NaiveDate) -> bool {
        !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) && !self.holidays.contains(&day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn spans_read_business_days_days_and_months_and_refuse_the_rest() {
        assert_eq!(
            Span::try_from("10 business days"),
            Ok(Span::BusinessDays(10))
        );
        assert_eq!(
            Span::try_from(" 1 Business Day "),
            Ok(Span::BusinessDays(1))
        );
        assert_eq!(Span::try_from("45 days"), Ok(Span::Days(45)));
        assert_eq!(Span::try_from("45 calendar days"), Ok(Span::Days(45)));
        assert_eq!(Span::try_from("1 month"), Ok(Span::Months(1)));
        assert_eq!(Span::try_from("2 months"), Ok(Span::Months(2)));
        for bad in [
            "",
            "0 days",
            "367 days",
            "-1 days",
            "ten days",
            "10",
            "10 weeks",
            "10 business",
            "1.5 months",
        ] {
            assert_eq!(Span::try_from(bad), Err(SpanError), "{bad:?}");
        }
        assert_eq!(Span::BusinessDays(10).to_string(), "10 business days");
        assert_eq!(Span::Months(1).to_string(), "1 month");
    }

    #[test]
    fn business_days_skip_weekends() {
        let calendar = Calendar::default();
        // Thursday + 2 business days = Monday, same time of day.
        assert_eq!(
            Span::BusinessDays(2).after(&calendar, at("2026-12-03T15:30:00Z")),
            at("2026-12-07T15:30:00Z")
        );
        // Saturday + 1 business day = Monday.
        assert_eq!(
            Span::BusinessDays(1).after(&calendar, at("2026-12-05T09:00:00Z")),
            at("2026-12-07T09:00:00Z")
        );
        // Monday + 10 business days = Monday two weeks later.
        assert_eq!(
            Span::BusinessDays(10).after(&calendar, at("2026-11-02T09:00:00Z")),
            at("2026-11-16T09:00:00Z")
        );
    }

    #[test]
    fn business_days_skip_holidays_too() {
        let calendar = Calendar::new([day("2026-12-24"), day("2026-12-25"), day("2027-01-01")]);
        assert!(!calendar.is_business_day(day("2026-12-25")));
        assert!(calendar.is_business_day(day("2026-12-28")));
        // Wednesday 23 Dec + 2: Thursday and Friday are holidays, then the weekend; Monday
        // 28 and Tuesday 29.
        assert_eq!(
            Span::BusinessDays(2).after(&calendar, at("2026-12-23T10:00:00Z")),
            at("2026-12-29T10:00:00Z")
        );
        // Across the new year: Tue 29, Wed 30, Thu 31, (Fri 1 holiday, weekend), Mon 4.
        assert_eq!(
            Span::BusinessDays(4).after(&calendar, at("2026-12-28T10:00:00Z")),
            at("2027-01-04T10:00:00Z")
        );
        // A holiday falling on a weekend changes nothing.
        let weekend = Calendar::new([day("2026-12-26")]);
        assert_eq!(
            Span::BusinessDays(1).after(&weekend, at("2026-12-25T10:00:00Z")),
            at("2026-12-28T10:00:00Z")
        );
    }

    #[test]
    fn a_month_ends_on_the_same_day_or_the_last_day_of_a_shorter_month() {
        let calendar = Calendar::default();
        let month = Span::Months(1);
        assert_eq!(
            month.after(&calendar, at("2026-01-31T10:00:00Z")),
            at("2026-02-28T10:00:00Z")
        );
        assert_eq!(
            month.after(&calendar, at("2028-01-31T10:00:00Z")),
            at("2028-02-29T10:00:00Z")
        );
        assert_eq!(
            month.after(&calendar, at("2026-11-22T10:00:00Z")),
            at("2026-12-22T10:00:00Z")
        );
        assert_eq!(
            month.after(&calendar, at("2026-12-31T23:59:00Z")),
            at("2027-01-31T23:59:00Z")
        );
        // Weekends and holidays do not move calendar deadlines.
        let holidays = Calendar::new([day("2026-12-22")]);
        assert_eq!(
            month.after(&holidays, at("2026-11-22T10:00:00Z")),
            at("2026-12-22T10:00:00Z")
        );
    }

    #[test]
    fn calendar_days_count_every_day() {
        let calendar = Calendar::new([day("2026-12-25")]);
        assert_eq!(
            Span::Days(45).after(&calendar, at("2026-11-22T10:00:00Z")),
            at("2027-01-06T10:00:00Z")
        );
        // Across the end of February in a leap year.
        assert_eq!(
            Span::Days(45).after(&calendar, at("2028-02-01T00:00:00Z")),
            at("2028-03-17T00:00:00Z")
        );
    }
}
