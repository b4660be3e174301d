//! What a report of a child's account says: which account (as the reporter knows it) and
//! how the reporter relates to the child. Parsed once at the edge; errors never echo input.

use serde::{Deserialize, Serialize};

use super::Email;

/// How the reporter relates to the child.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Relationship {
    /// The child's parent or legal guardian.
    ParentGuardian,
    /// Anyone else (a teacher, another user, …).
    Other,
}

impl Relationship {
    /// The stable name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ParentGuardian => "parent_guardian",
            Self::Other => "other",
        }
    }

    /// Parses a stored name.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "parent_guardian" => Some(Self::ParentGuardian),
            "other" => Some(Self::Other),
            _ => None,
        }
    }
}

/// How a report names the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    /// The public username.
    Username,
    /// The URL of the account's public profile.
    ProfileUrl,
    /// The account's email address.
    Email,
}

impl AccountKind {
    /// The stable name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Username => "username",
            Self::ProfileUrl => "profile_url",
            Self::Email => "email",
        }
    }

    /// Parses a stored name.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "username" => Some(Self::Username),
            "profile_url" => Some(Self::ProfileUrl),
            "email" => Some(Self::Email),
            _ => None,
        }
    }
}

/// The account a report is about, normalised: a profile URL (`http(s)://` with a host),
/// an email address, or else a username (`@name` is the username `name`). Anything a
/// reporter types that is not blank or binary is a reference: one that names no account
/// simply finds none when a worker looks.
#[derive(Clone, PartialEq, Eq)]
pub struct AccountRef {
    /// Which of the three it is.
    pub kind: AccountKind,
    /// The normalised value.
    pub value: String,
}

impl std::fmt::Debug for AccountRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AccountRef({}, [redacted])", self.kind.as_str())
    }
}

/// Longest account reference accepted.
pub const ACCOUNT_MAX_CHARS: usize = 300;

/// Why an account reference was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    /// Nothing given.
    #[error("name the account: its username, profile URL or email address")]
    Empty,
    /// Too long.
    #[error("too long: at most 300 characters")]
    TooLong,
    /// Control characters.
    #[error("must not contain control characters")]
    Control,
}

impl AccountRef {
    /// Parses what the reporter typed.
    pub fn parse(input: &str) -> Result<Self, AccountError> {
        let value = input.trim();
        if value.is_empty() {
            return Err(AccountError::Empty);
        }
        if value.chars().count() > ACCOUNT_MAX_CHARS {
            return Err(AccountError::TooLong);
        }
        if value.chars().any(char::is_control) {
            return Err(AccountError::Control);
        }
        let lower = value.to_ascii_lowercase();
        if (lower.starts_with("http://") || lower.starts_with("https://"))
            && let Ok(url) = url::Url::parse(value)
            && url.host_str().is_some()
        {
            return Ok(Self {
                kind: AccountKind::ProfileUrl,
                value: url.to_string(),
            });
        }
        if let Ok(email) = Email::try_from(value) {
            return Ok(Self {
                kind: AccountKind::Email,
                value: email.normalized(),
            });
        }
        let value = value
            .strip_prefix('@')
            .filter(|rest| !rest.trim().is_empty())
            .unwrap_or(value);
        Ok(Self {
            kind: AccountKind::Username,
            value: value.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_kind_and_refuses_without_echo() {
        let url = AccountRef::parse(" https://Demo.Lethe.test/user/kid ").unwrap();
        assert_eq!(url.kind, AccountKind::ProfileUrl);
        assert_eq!(url.value, "https://demo.lethe.test/user/kid");
        let email = AccountRef::parse("Kid@Example.org").unwrap();
        assert_eq!(email.kind, AccountKind::Email);
        let name = AccountRef::parse("kid_2014").unwrap();
        assert_eq!(
            (name.kind, name.value.as_str()),
            (AccountKind::Username, "kid_2014")
        );
        assert_eq!(AccountRef::parse("@kid_2014").unwrap(), name);
        assert_eq!(AccountRef::parse("  "), Err(AccountError::Empty));
        assert_eq!(AccountRef::parse("bell\u{7}"), Err(AccountError::Control));
        // Not a URL or an address: a username, which may simply name nobody.
        assert_eq!(
            AccountRef::parse("http://").unwrap().kind,
            AccountKind::Username
        );
        assert_eq!(
            AccountRef::parse("a@b").unwrap().kind,
            AccountKind::Username
        );
        let long = "x".repeat(301);
        let error = AccountRef::parse(&long).unwrap_err();
        assert!(!error.to_string().contains("xxx"));
        assert!(!format!("{name:?}").contains("kid_2014"));
    }
}
