//! Legal regimes. Their deadlines are in [`crate::deadlines`] (`[deadlines.gdpr]`,
//! `[deadlines.ccpa]`).

use serde::{Deserialize, Serialize};

/// The law whose deadlines apply to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Regime {
    /// GDPR Art. 12(3): one month from receipt, extendable by two with notice.
    Gdpr,
    /// CCPA §1798.130 and its regulations: receipt confirmed within 10 business days,
    /// answered within 45 days, extendable by 45 with notice.
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

    /// Parses a stored name.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "gdpr" => Some(Self::Gdpr),
            "ccpa" => Some(Self::Ccpa),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_read_back() {
        for regime in [Regime::Gdpr, Regime::Ccpa] {
            assert_eq!(Regime::parse(regime.as_str()), Some(regime));
        }
        assert_eq!(Regime::parse("lgpd"), None);
    }
}
