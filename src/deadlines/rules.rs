//! The deadline table: per regime, a default [`Rule`] and optional rules per request kind
//! (`[deadlines.gdpr]`, `[deadlines.ccpa]` in the configuration).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};

use super::calendar::{Calendar, Span};
use crate::domain::RequestKind;

/// The clocks of requests of one regime and kind.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Time to confirm receipt, from filing; absent (or `"none"`): no acknowledgement clock.
    #[serde(default, deserialize_with = "span_or_none")]
    pub acknowledge: Option<Span>,
    /// Time to respond, from filing.
    pub respond: Span,
    /// What one extension adds to the response deadline; absent (or `"none"`): the
    /// deadline cannot be extended.
    #[serde(default, deserialize_with = "span_or_none")]
    pub extend: Option<Span>,
}

/// The deadlines of a request, as set at intake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// The acknowledgement deadline, where the rule has one.
    pub ack_due_at: Option<DateTime<Utc>>,
    /// The response deadline.
    pub due_at: DateTime<Utc>,
}

impl Rule {
    /// The deadlines of a request received at `received`.
    pub fn at_intake(&self, calendar: &Calendar, received: DateTime<Utc>) -> Due {
        Due {
            ack_due_at: self.acknowledge.map(|span| span.after(calendar, received)),
            due_at: self.respond.after(calendar, received),
        }
    }

    /// The response deadline after the one extension the rule allows, counted from the
    /// current deadline `due_at`; `None` where the rule allows none. A month added to a
    /// deadline that was clamped to a month's end stays clamped (28 February + 2 months =
    /// 28 April): never later than the law's total.
    pub fn extended(&self, calendar: &Calendar, due_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.extend.map(|span| span.after(calendar, due_at))
    }
}

/// One regime's rules: `default`, and a rule per request kind that replaces it whole.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegimeRules {
    /// The rule of every kind that has none of its own.
    pub default: Rule,
    /// Access requests.
    #[serde(default)]
    pub access: Option<Rule>,
    /// Deletion requests.
    #[serde(default)]
    pub deletion: Option<Rule>,
    /// Unsubscribes.
    #[serde(default)]
    pub unsubscribe: Option<Rule>,
    /// Reports of a child's account (an internal deadline).
    #[serde(default)]
    pub child_report: Option<Rule>,
    /// Likeness removal requests.
    #[serde(default)]
    pub likeness: Option<Rule>,
}

impl RegimeRules {
    /// The rule of requests of `kind`.
    pub fn rule(&self, kind: RequestKind) -> &Rule {
        let own = match kind {
            RequestKind::Access => &self.access,
            RequestKind::Deletion => &self.deletion,
            RequestKind::Unsubscribe => &self.unsubscribe,
            RequestKind::ChildReport => &self.child_report,
            RequestKind::Likeness => &self.likeness,
        };
        own.as_ref().unwrap_or(&self.default)
    }
}

/// A span, or `"none"` for no clock.
fn span_or_none<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Span>, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text.trim().eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    Span::try_from(text.as_str())
        .map(Some)
        .map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Regime;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn defaults() -> crate::config::Settings {
        crate::config::Settings::load_with(None, config::Environment::with_prefix("LETHE_UNUSED"))
            .unwrap()
    }

    #[test]
    fn the_default_table_is_the_law_as_the_issue_states_it() {
        let settings = defaults();
        let d = &settings.deadlines;
        let gdpr = d.rule(Regime::Gdpr, RequestKind::Access);
        assert_eq!(
            *gdpr,
            Rule {
                acknowledge: None,
                respond: Span::Months(1),
                extend: Some(Span::Months(2)),
            }
        );
        assert_eq!(d.rule(Regime::Gdpr, RequestKind::Deletion), gdpr);
        assert_eq!(d.rule(Regime::Gdpr, RequestKind::Likeness), gdpr);
        let ccpa = d.rule(Regime::Ccpa, RequestKind::Deletion);
        assert_eq!(
            *ccpa,
            Rule {
                acknowledge: Some(Span::BusinessDays(10)),
                respond: Span::Days(45),
                extend: Some(Span::Days(45)),
            }
        );
        for regime in [Regime::Gdpr, Regime::Ccpa] {
            for kind in [RequestKind::Unsubscribe, RequestKind::ChildReport] {
                assert_eq!(
                    *d.rule(regime, kind),
                    Rule {
                        acknowledge: None,
                        respond: Span::BusinessDays(2),
                        extend: None,
                    },
                    "{regime:?} {kind:?}"
                );
            }
        }
    }

    #[test]
    fn intake_sets_both_clocks_from_the_rule() {
        let settings = defaults();
        let d = &settings.deadlines;
        let received = at("2026-11-20T16:00:00Z"); // a Friday
        let ccpa = d
            .rule(Regime::Ccpa, RequestKind::Access)
            .at_intake(&d.calendar(), received);
        assert_eq!(ccpa.ack_due_at, Some(at("2026-12-04T16:00:00Z")));
        assert_eq!(ccpa.due_at, at("2027-01-04T16:00:00Z"));
        let gdpr = d
            .rule(Regime::Gdpr, RequestKind::Access)
            .at_intake(&d.calendar(), received);
        assert_eq!(gdpr.ack_due_at, None);
        assert_eq!(gdpr.due_at, at("2026-12-20T16:00:00Z"));
        let unsubscribe = d
            .rule(Regime::Gdpr, RequestKind::Unsubscribe)
            .at_intake(&d.calendar(), received);
        assert_eq!(unsubscribe.due_at, at("2026-11-24T16:00:00Z"));
    }

    #[test]
    fn an_extension_adds_its_span_to_the_current_deadline() {
        let settings = defaults();
        let d = &settings.deadlines;
        let calendar = d.calendar();
        // GDPR: one month plus two = three months from receipt.
        let gdpr = d.rule(Regime::Gdpr, RequestKind::Deletion);
        let due = gdpr.at_intake(&calendar, at("2026-11-22T10:00:00Z")).due_at;
        assert_eq!(
            gdpr.extended(&calendar, due),
            Some(at("2027-02-22T10:00:00Z"))
        );
        // A deadline clamped to February's end stays clamped: 31 Jan → 28 Feb → 28 Apr.
        let clamped = gdpr.at_intake(&calendar, at("2026-01-31T10:00:00Z")).due_at;
        assert_eq!(clamped, at("2026-02-28T10:00:00Z"));
        assert_eq!(
            gdpr.extended(&calendar, clamped),
            Some(at("2026-04-28T10:00:00Z"))
        );
        // CCPA: 45 + 45 = 90 days from receipt.
        let ccpa = d.rule(Regime::Ccpa, RequestKind::Access);
        let received = at("2026-11-22T10:00:00Z");
        let due = ccpa.at_intake(&calendar, received).due_at;
        assert_eq!(
            ccpa.extended(&calendar, due),
            Some(received + chrono::Duration::days(90))
        );
        // Unsubscribes and child reports cannot be extended.
        assert_eq!(
            d.rule(Regime::Ccpa, RequestKind::Unsubscribe)
                .extended(&calendar, due),
            None
        );
    }

    #[test]
    fn a_kind_rule_replaces_the_default_and_none_turns_a_clock_off() {
        let rules: RegimeRules = toml::from_str(
            r#"
            default = { acknowledge = "10 business days", respond = "45 days", extend = "45 days" }
            access = { acknowledge = "none", respond = "30 days", extend = "none" }
            "#,
        )
        .unwrap();
        assert_eq!(
            *rules.rule(RequestKind::Access),
            Rule {
                acknowledge: None,
                respond: Span::Days(30),
                extend: None,
            }
        );
        assert_eq!(rules.rule(RequestKind::Deletion).respond, Span::Days(45));
        let typo = toml::from_str::<RegimeRules>(
            r#"
            default = { respond = "45 days" }
            acess = { respond = "30 days" }
            "#,
        );
        assert!(typo.is_err());
    }
}
