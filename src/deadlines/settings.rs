//! `[deadlines]`: the holiday list, the rule table per regime, and the daily digest.
//! Every value is parsed at load; a bad one stops start-up with an error naming its key.

use chrono::{NaiveDate, NaiveTime};
use serde::Deserialize;

use super::calendar::Calendar;
use super::rules::{Due, RegimeRules, Rule};
use crate::domain::{Email, Regime, RequestKind};

/// Deadline settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadlineSettings {
    /// Days (UTC dates) that are not business days, besides Saturdays and Sundays.
    pub holidays: Vec<Holiday>,
    /// The digest lists open requests due within this many days (1 to 90).
    pub digest_days_ahead: u32,
    /// Time of day (UTC) from which each day's digest is sent.
    pub digest_at_utc: TimeOfDay,
    /// Who gets the digest; empty: every active staff member who reviews (viewer,
    /// reviewer, admin).
    pub digest_to: Vec<Address>,
    /// Seconds between passes of the deadline watch of each process (10 to 3600).
    pub watch_interval_seconds: u32,
    /// The GDPR table.
    pub gdpr: RegimeRules,
    /// The CCPA table.
    pub ccpa: RegimeRules,
}

impl DeadlineSettings {
    /// The rule of requests of `kind` under `regime`.
    pub fn rule(&self, regime: Regime, kind: RequestKind) -> &Rule {
        match regime {
            Regime::Gdpr => self.gdpr.rule(kind),
            Regime::Ccpa => self.ccpa.rule(kind),
        }
    }

    /// The business-day calendar.
    pub fn calendar(&self) -> Calendar {
        Calendar::new(self.holidays.iter().map(|h| h.0))
    }

    /// The deadlines of a request of `kind` received at `received` under `regime`.
    pub fn at_intake(
        &self,
        regime: Regime,
        kind: RequestKind,
        received: chrono::DateTime<chrono::Utc>,
    ) -> Due {
        self.rule(regime, kind)
            .at_intake(&self.calendar(), received)
    }

    /// Checks ranges the types do not.
    pub fn validate(&self) -> anyhow::Result<()> {
        if !(1..=90).contains(&self.digest_days_ahead) {
            anyhow::bail!("configuration: deadlines.digest_days_ahead must be 1 to 90");
        }
        if !(10..=3600).contains(&self.watch_interval_seconds) {
            anyhow::bail!("configuration: deadlines.watch_interval_seconds must be 10 to 3600");
        }
        Ok(())
    }
}

/// A holiday: a `YYYY-MM-DD` date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Holiday(pub NaiveDate);

impl TryFrom<String> for Holiday {
    type Error = &'static str;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d")
            .map(Self)
            .map_err(|_| "a holiday is a date written YYYY-MM-DD")
    }
}

/// A time of day, `HH:MM` (24-hour clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct TimeOfDay(pub NaiveTime);

impl TryFrom<String> for TimeOfDay {
    type Error = &'static str;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        NaiveTime::parse_from_str(value.trim(), "%H:%M")
            .map(Self)
            .map_err(|_| "a time of day is written HH:MM (00:00 to 23:59)")
    }
}

/// A digest recipient's address.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Address(pub Email);

impl TryFrom<String> for Address {
    type Error = crate::domain::EmailError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Email::try_from(value.as_str()).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use crate::config::Settings;

    fn load(toml: &str) -> anyhow::Result<Settings> {
        let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        file.write_all(toml.as_bytes()).unwrap();
        Settings::load_with(
            Some(file.path()),
            config::Environment::with_prefix("LETHE_UNUSED"),
        )
    }

    fn error(toml: &str) -> String {
        format!("{:#}", load(toml).expect_err(toml))
    }

    #[test]
    fn holidays_and_the_digest_time_are_read() {
        let settings = load(
            "[deadlines]\nholidays = [\"2026-12-25\", 2027-01-01]\ndigest_at_utc = \"06:30\"\n\
             digest_to = [\"dpo@example.com\"]\n",
        )
        .unwrap();
        let d = &settings.deadlines;
        assert_eq!(d.holidays.len(), 2);
        assert!(!d.calendar().is_business_day(d.holidays[1].0));
        assert_eq!(d.digest_at_utc.0.to_string(), "06:30:00");
        assert_eq!(d.digest_to[0].0.as_str(), "dpo@example.com");
    }

    #[test]
    fn bad_values_stop_loading_with_the_key_named_and_the_value_not_echoed() {
        for (toml, key) in [
            (
                "[deadlines]\nholidays = [\"2026-12-25\", \"2026-13-45\"]\n",
                "deadlines.holidays[1]",
            ),
            (
                "[deadlines.ccpa.default]\nrespond = \"0 days\"\n",
                "deadlines.ccpa.default.respond",
            ),
            (
                "[deadlines.gdpr.access]\nrespond = \"1 fortnight\"\n",
                "deadlines.gdpr.access.respond",
            ),
            (
                "[deadlines.gdpr.default]\nextend = \"0 months\"\n",
                "deadlines.gdpr.default.extend",
            ),
            (
                "[deadlines]\ndigest_at_utc = \"25:00\"\n",
                "deadlines.digest_at_utc",
            ),
            (
                "[deadlines]\ndigest_to = [\"not-an-address\"]\n",
                "deadlines.digest_to[0]",
            ),
            (
                "[deadlines]\ndigest_days_ahead = 0\n",
                "deadlines.digest_days_ahead",
            ),
            (
                "[deadlines]\nwatch_interval_seconds = 1\n",
                "deadlines.watch_interval_seconds",
            ),
            ("[deadlines.gdpr.acess]\nrespond = \"1 month\"\n", "acess"),
        ] {
            let message = error(toml);
            assert!(message.contains(key), "{message} should name {key}");
            for value in ["2026-13-45", "fortnight", "25:00", "not-an-address"] {
                assert!(!message.contains(value), "{message} echoes {value}");
            }
        }
    }

    #[test]
    fn the_moved_request_keys_say_where_they_went() {
        let message = error("[requests]\nunsubscribe_due_business_days = 3\n");
        assert!(
            message.contains("deadlines.gdpr.unsubscribe") && message.contains("deadlines.ccpa"),
            "{message}"
        );
        let message = error("[requests]\nchild_report_due_business_days = 3\n");
        assert!(message.contains("child_report"), "{message}");
    }
}
