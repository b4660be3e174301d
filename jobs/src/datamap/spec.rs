//! The data map as written in `config/datamap.toml`: plain serde structs, checked for
//! internal consistency by [`DataMap::parse`] and against the live schema by
//! [`super::BoundMap::bind`].

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;

/// Where a data subject's data lives in the platform and what erasure does to it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataMap {
    /// Format version of the map; only `1` exists.
    pub version: u32,
    /// PostgreSQL schema of the platform tables.
    #[serde(default = "default_schema")]
    pub schema: String,
    /// The table with one row per data subject.
    pub subject: SubjectSpec,
    /// Every other table that holds a subject's data, and how it links to the subject.
    #[serde(default, rename = "table")]
    pub tables: Vec<TableSpec>,
    /// Objects in the platform's buckets that belong to the subject.
    #[serde(default, rename = "objects")]
    pub objects: Vec<ObjectSpec>,
}

fn default_schema() -> String {
    "public".to_owned()
}

/// The subject table and the columns that identify a person.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectSpec {
    /// Table name.
    pub table: String,
    /// Primary-key column; links from other tables point at it.
    #[serde(default = "default_key")]
    pub key: String,
    /// Column holding the account's email address.
    pub email: String,
    /// Column holding the public username, if any.
    pub username: Option<String>,
    /// Category of the subject row in exports.
    #[serde(default = "Category::profile")]
    pub category: Category,
    /// What erasure does to the subject row.
    pub erase: Erase,
    /// Key of a placeholder account ("deleted user") that retained rows are reassigned to
    /// when a foreign key would otherwise keep the subject row alive (`reassign = true`).
    pub placeholder: Option<String>,
}

fn default_key() -> String {
    "id".to_owned()
}

/// One way a table's rows belong to (or hang off) the subject.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSpec {
    /// Unique name of this entry; other entries refer to it as `parent`.
    pub name: String,
    /// Table name; defaults to `name`. A table may appear in several entries
    /// (the subject's own comments, and other people's replies under them).
    pub table: Option<String>,
    /// How a row links to the subject.
    pub link: Link,
    /// Category in exports and reports.
    pub category: Category,
    /// Whether these rows are the subject's data and go into an access export.
    /// Rows of other people that merely hang off the subject's rows set this to false.
    #[serde(default = "yes")]
    pub export: bool,
    /// What erasure does to these rows.
    pub erase: Erase,
    /// Free-text explanation shown to staff.
    pub note: Option<String>,
}

fn yes() -> bool {
    true
}

impl TableSpec {
    /// The platform table this entry reads.
    pub fn table_name(&self) -> &str {
        self.table.as_deref().unwrap_or(&self.name)
    }
}

/// A link from a table's column to the subject, directly or through a parent entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    /// Column of this table holding the referenced value.
    pub column: String,
    /// Entry this column points into; absent means the subject table itself.
    pub parent: Option<String>,
    /// Column of the parent referenced by `column`; defaults to the parent's `id`
    /// (or the subject key when there is no parent).
    pub parent_column: Option<String>,
    /// The column holds the id without a foreign key ("soft" link); declared so that
    /// `datamap check` does not report it as unexpected.
    #[serde(default)]
    pub soft: bool,
}

/// Data categories, used to group exports for people and counts for staff.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Account and profile details.
    Profile,
    /// What the person made: images, models, comments.
    Content,
    /// Interactions: reactions, follows, notifications, tips.
    Activity,
    /// Devices, IP addresses, sessions, locations.
    DeviceLocation,
    /// Payments and billing.
    Payments,
    /// Communication preferences.
    Preferences,
    /// Reports and moderation.
    Moderation,
}

impl Category {
    fn profile() -> Self {
        Self::Profile
    }

    /// A heading for people.
    pub fn title(self) -> &'static str {
        match self {
            Self::Profile => "Profile",
            Self::Content => "Content",
            Self::Activity => "Activity",
            Self::DeviceLocation => "Devices and locations",
            Self::Payments => "Payments",
            Self::Preferences => "Preferences",
            Self::Moderation => "Reports and moderation",
        }
    }

    /// The stable machine name, as in the map.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Profile => "profile",
            Self::Content => "content",
            Self::Activity => "activity",
            Self::DeviceLocation => "device_location",
            Self::Payments => "payments",
            Self::Preferences => "preferences",
            Self::Moderation => "moderation",
        }
    }
}

/// What erasure does to an entry's rows.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Erase {
    /// Delete the rows.
    Delete,
    /// Keep the rows, rewrite some columns.
    Anonymize {
        /// Column name to rule.
        columns: BTreeMap<String, ColumnRule>,
    },
    /// Keep the rows (e.g. payments for tax law), optionally rewriting some columns.
    Retain {
        /// The legal basis, shown to staff and in receipts.
        basis: String,
        /// How long the rows are kept, e.g. "10 years".
        period: String,
        /// Columns rewritten although the rows are kept.
        #[serde(default)]
        anonymize: BTreeMap<String, ColumnRule>,
        /// Point the link column at the subject table's placeholder account, so that a
        /// RESTRICT foreign key no longer blocks deleting the subject.
        #[serde(default)]
        reassign: bool,
    },
    /// Other people's rows hanging off the subject's: set the linking columns to NULL.
    Detach {
        /// Columns set to NULL.
        columns: Vec<String>,
    },
}

/// How one column is anonymized.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnRule {
    /// Set to NULL.
    Null,
    /// Replace with a keyed hash, so that joins on the column still work.
    Hash,
    /// Remove the subject's identity strings (email, username) from free text.
    Redact,
    /// Remove the given paths (e.g. `ip`, `details.username`) from a JSON column.
    JsonPaths(Vec<String>),
    /// Replace with a fixed value.
    Value(String),
}

/// Objects belonging to the subject.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectSpec {
    /// Unique name of this entry.
    pub name: String,
    /// Bucket holding the objects.
    pub bucket: String,
    /// Category in exports.
    pub category: Category,
    /// Table entry whose rows hold the keys (with `column`).
    pub from: Option<String>,
    /// Column holding the key (with `from`).
    pub column: Option<String>,
    /// How the column holds the key.
    #[serde(default)]
    pub format: KeyFormat,
    /// Key prefix built from the subject key, e.g. `avatars/{subject}/` (instead of from/column).
    pub prefix: Option<String>,
    /// Whether the objects go into an access export.
    #[serde(default = "yes")]
    pub export: bool,
}

/// How a column holds an object key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyFormat {
    /// The bare key.
    #[default]
    Key,
    /// A URL (`s3://bucket/key` or `https://host/key`); the key is the path.
    Url,
}

/// The placeholder for the subject key in object prefixes.
pub const SUBJECT_PLACEHOLDER: &str = "{subject}";

/// A data map that does not make sense on its own terms.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    /// The TOML does not parse or has unknown keys.
    #[error("data map does not parse: {0}")]
    Syntax(#[from] toml::de::Error),
    /// Any other inconsistency, naming the entry.
    #[error("data map entry `{entry}`: {problem}")]
    Entry {
        /// The entry's name.
        entry: String,
        /// What is wrong.
        problem: String,
    },
}

fn entry_error(entry: &str, problem: impl Into<String>) -> MapError {
    MapError::Entry {
        entry: entry.to_owned(),
        problem: problem.into(),
    }
}

impl DataMap {
    /// Parses and checks a map: unique names, known parents, no parent cycles, one key
    /// source per object entry.
    pub fn parse(text: &str) -> Result<Self, MapError> {
        let map: DataMap = toml::from_str(text)?;
        if map.version != 1 {
            return Err(entry_error("version", "only version 1 is supported"));
        }
        let mut names = HashSet::new();
        for t in &map.tables {
            if !names.insert(t.name.as_str()) {
                return Err(entry_error(&t.name, "duplicate entry name"));
            }
        }
        for t in &map.tables {
            let mut seen = HashSet::from([t.name.as_str()]);
            let mut cur = t;
            while let Some(parent) = &cur.link.parent {
                cur = map
                    .tables
                    .iter()
                    .find(|p| &p.name == parent)
                    .ok_or_else(|| entry_error(&t.name, format!("unknown parent `{parent}`")))?;
                if !seen.insert(cur.name.as_str()) {
                    return Err(entry_error(&t.name, "parent chain forms a cycle"));
                }
            }
        }
        let mut object_names = HashSet::new();
        for o in &map.objects {
            if !object_names.insert(o.name.as_str()) {
                return Err(entry_error(&o.name, "duplicate object entry name"));
            }
            match (&o.from, &o.column, &o.prefix) {
                (Some(from), Some(_), None) => {
                    if !names.contains(from.as_str()) {
                        return Err(entry_error(
                            &o.name,
                            format!("unknown table entry `{from}`"),
                        ));
                    }
                }
                (None, None, Some(prefix)) => {
                    if !prefix.contains(SUBJECT_PLACEHOLDER) {
                        return Err(entry_error(&o.name, "prefix must contain {subject}"));
                    }
                }
                _ => {
                    return Err(entry_error(
                        &o.name,
                        "give either `from` and `column`, or `prefix`",
                    ));
                }
            }
        }
        Ok(map)
    }
}
