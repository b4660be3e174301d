//! An email address: syntactically valid, trimmed, its domain's ASCII letters lower-cased.
//! Its `Debug` redacts it, so it cannot reach a log by accident.
//!
//! Case folding is ASCII-only everywhere (here, in keyed hashes and in the subject
//! lookup): Unicode folding would make different mailboxes one — KELVIN SIGN `K` folds to
//! `k`, `İ` to `i̇` — and whoever reads the look-alike mailbox would receive the other
//! person's data.

use std::fmt;

/// A requester's email address.
#[derive(Clone, PartialEq, Eq)]
pub struct Email(String);

/// Why a string is not an email address. Never carries the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Empty or blank.
    #[error("email is required")]
    Empty,
    /// Longer than RFC 5321 allows.
    #[error("email is longer than 254 characters")]
    TooLong,
    /// Not of the form local@domain.
    #[error("email is not a valid address")]
    Invalid,
}

impl Email {
    /// The address as given (domain lower-cased).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form used for keyed hashes: ASCII letters lower-cased, every other character
    /// as it is, so that the same mailbox always hashes the same and two different
    /// mailboxes never do.
    pub fn normalized(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl TryFrom<&str> for Email {
    type Error = EmailError;

    fn try_from(value: &str) -> Result<Self, Self::Error> {
        let value = value.trim();
        if value.is_empty() {
            return Err(EmailError::Empty);
        }
        if value.len() > 254 {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = value.rsplit_once('@').ok_or(EmailError::Invalid)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        // Defer to lettre's parser as the final word, since mail must be sendable.
        if !domain_ok || !local_ok || value.parse::<lettre::Address>().is_err() {
            return Err(EmailError::Invalid);
        }
        Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Email(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_addresses_parse_and_keep_their_local_part() {
        let email = Email::try_from("  Ada.Lovelace+dsr@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "Ada.Lovelace+dsr@example.com");
        assert_eq!(email.normalized(), "ada.lovelace+dsr@example.com");
    }

    #[test]
    fn invalid_addresses_are_refused_without_echoing_them() {
        for bad in [
            "",
            "   ",
            "no-at-sign",
            "a@b",
            "a@@b.com",
            "a@.b.com",
            "a..b@c.com",
            "a@b..com",
            "<a>@b.com",
        ] {
            let error = Email::try_from(bad).unwrap_err();
            assert!(
                !error.to_string().contains(bad) || bad.trim().is_empty(),
                "{bad}"
            );
        }
        assert_eq!(
            Email::try_from(&*format!("{}@x.com", "a".repeat(300))),
            Err(EmailError::TooLong)
        );
    }

    #[test]
    fn case_folding_is_ascii_only_so_look_alike_mailboxes_stay_apart() {
        let plain = Email::try_from("kemi@example.com").unwrap().normalized();
        for look_alike in [
            "\u{212A}emi@example.com",  // KELVIN SIGN
            "kem\u{0130}@example.com",  // capital I with dot above
            "kem\u{0131}@example.com",  // dotless i
            "\u{FF4B}emi@example.com",  // full-width k
            "kemi@exa\u{212A}mple.com", // in the domain too
        ] {
            // Refusing the address would be safe too; these are all accepted (mail can be
            // sent to them), so the comparison is what keeps them apart.
            let email = Email::try_from(look_alike).expect(look_alike);
            assert_ne!(email.normalized(), plain, "{look_alike}");
        }
        // Combining marks are not accepted at all.
        assert!(Email::try_from("ke\u{0301}mi@example.com").is_err());
        // A ligature is its own letter, not the two it looks like.
        let fi = Email::try_from("fiona@example.com").unwrap().normalized();
        let ligature = Email::try_from("\u{FB01}ona@example.com").expect("ligature");
        assert_ne!(ligature.normalized(), fi);
        assert_eq!(
            Email::try_from("\u{FB01}ONA@example.com")
                .unwrap()
                .normalized(),
            ligature.normalized(),
            "ASCII letters beside it still fold"
        );
        assert_eq!(
            Email::try_from("KEMI@Example.COM").unwrap().normalized(),
            plain
        );
    }

    #[test]
    fn debug_output_redacts_the_address() {
        let email = Email::try_from("secret@example.com").unwrap();
        assert!(!format!("{email:?}").contains("secret"));
    }
}
