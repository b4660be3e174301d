//! The vocabulary of decisions in a data map: actions, how a link is cut, and column
//! rules. A value written as `TODO…` parses as undecided, so that `lethe datamap check`
//! can list every open decision at once instead of stopping at the first.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What erasure does to the rows an edge reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Delete the rows (their objects first) and walk on below them.
    Delete,
    /// Set the edge's columns to NULL.
    Detach,
    /// Point the edge's columns at the placeholder or a tombstone account.
    Reassign,
    /// Keep the rows under a legal basis.
    Retain,
    /// Keep the rows, rewrite columns.
    Anonymize,
    /// Other people's rows: touch nothing.
    Leave,
    /// Not decided yet (the text as written, e.g. `TODO: retain or delete?`).
    Undecided(String),
}

impl Action {
    /// The name as written in a map.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Delete => "delete",
            Self::Detach => "detach",
            Self::Reassign => "reassign",
            Self::Retain => "retain",
            Self::Anonymize => "anonymize",
            Self::Leave => "leave",
            Self::Undecided(text) => text,
        }
    }

    /// Whether rows treated this way stay in the database.
    pub fn keeps_rows(&self) -> bool {
        !matches!(self, Self::Delete | Self::Undecided(_))
    }
}

/// Whether a written value is an undecided placeholder.
pub fn is_todo(value: &str) -> bool {
    value.trim_start().to_ascii_uppercase().starts_with("TODO")
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Ok(match text.as_str() {
            "delete" => Self::Delete,
            "detach" => Self::Detach,
            "reassign" => Self::Reassign,
            "retain" => Self::Retain,
            "anonymize" => Self::Anonymize,
            "leave" => Self::Leave,
            t if is_todo(t) => Self::Undecided(text),
            _ => {
                return Err(serde::de::Error::custom(
                    "unknown action; expected delete, detach, reassign, retain, anonymize, leave (or TODO…)",
                ));
            }
        })
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// How a link is cut for rows that stay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unlink {
    /// Set the columns to NULL.
    Null,
    /// Point them at `subject.placeholder`.
    Placeholder,
    /// Point them at the subject's own tombstone account.
    Tombstone,
    /// Not decided yet.
    Undecided(String),
}

impl Unlink {
    /// The name as written in a map.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Null => "null",
            Self::Placeholder => "placeholder",
            Self::Tombstone => "tombstone",
            Self::Undecided(text) => text,
        }
    }
}

impl<'de> Deserialize<'de> for Unlink {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Ok(match text.as_str() {
            "null" => Self::Null,
            "placeholder" => Self::Placeholder,
            "tombstone" => Self::Tombstone,
            t if is_todo(t) => Self::Undecided(text),
            _ => {
                return Err(serde::de::Error::custom(
                    "unknown unlink; expected null, placeholder or tombstone",
                ));
            }
        })
    }
}

impl Serialize for Unlink {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// How one column is rewritten in rows that stay.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnRule {
    /// Set to NULL.
    Null,
    /// Replace with a keyed hash, so that joins on the column still work.
    Hash,
    /// Remove the subject's email and username (at word boundaries) from text, from
    /// every string of a `json`/`jsonb` value at any depth, and from text arrays.
    Redact,
    /// Remove the given paths (e.g. `ip`, `details.username`) from a jsonb column.
    JsonPaths(Vec<String>),
    /// Replace with a fixed value.
    Value(String),
}

impl ColumnRule {
    /// The rule's name in reports.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Hash => "hash",
            Self::Redact => "redact",
            Self::JsonPaths(_) => "json_paths",
            Self::Value(_) => "value",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Holder {
        action: Action,
        unlink: Option<Unlink>,
    }

    #[test]
    fn todo_values_parse_as_undecided_and_unknown_words_are_refused() {
        let h: Holder =
            toml::from_str("action = \"TODO: retain or delete\"\nunlink = \"todo\"").unwrap();
        assert!(matches!(h.action, Action::Undecided(_)));
        assert!(matches!(h.unlink, Some(Unlink::Undecided(_))));
        let h: Holder = toml::from_str("action = \"retain\"").unwrap();
        assert_eq!(h.action, Action::Retain);
        assert!(toml::from_str::<Holder>("action = \"purge\"").is_err());
    }
}
