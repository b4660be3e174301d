//! The data map as written in `config/datamap.toml` (format version 2): decisions, not
//! paths. Plain serde structs, checked for internal consistency by [`DataMap::parse`];
//! the planner ([`super::graph`]) derives every path from the live catalog.

mod category;
mod links;
mod objects;

pub use category::Category;
pub use links::{LinkKey, LinkSpec, RuleRef, TableRule};
pub use objects::{KeyFormat, ObjectSpec, template_columns};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use links::links_short_or_full;

/// Where a data subject's data lives in the platform and what erasure does to it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DataMap {
    /// Format version of the map; `2` (see `lethe datamap convert` for version 1 maps).
    pub version: u32,
    /// PostgreSQL schema of the platform tables.
    #[serde(default = "default_schema")]
    pub schema: String,
    /// The table with one row per data subject.
    pub subject: SubjectSpec,
    /// How each link into the subject table is treated, keyed `table.column` or
    /// `table.(column_a, column_b)`.
    #[serde(default, deserialize_with = "links_short_or_full")]
    pub links: BTreeMap<String, LinkSpec>,
    /// A rule per table, for every path that reaches it.
    #[serde(default)]
    pub tables: BTreeMap<String, TableRule>,
    /// Export categories: category → tables. Tables not listed are `content`.
    #[serde(default)]
    pub categories: BTreeMap<Category, Vec<String>>,
    /// Objects in the platform's buckets that belong to rows being deleted.
    #[serde(default)]
    pub objects: Vec<ObjectSpec>,
    /// Categories of marketing mail: where the preference lives and what opting out
    /// writes ([`super::marketing`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub marketing: BTreeMap<String, super::marketing::MarketingSpec>,
    /// Where an opt-out of the sale or sharing of personal data (Global Privacy Control)
    /// is written: the same shape as a marketing category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sale_sharing: Option<super::marketing::MarketingSpec>,
    /// What confirming a report of a child's account does at once, before the purge
    /// ([`super::freeze`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freeze: Option<super::freeze::FreezeSpec>,
    /// The platform's removable resources, for likeness removal
    /// ([`super::resources`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<super::resources::ResourceSpec>,
}

fn default_schema() -> String {
    "public".to_owned()
}

fn default_key() -> String {
    "id".to_owned()
}

/// The subject table and the columns that identify a person.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectSpec {
    /// Table name.
    pub table: String,
    /// Primary-key column.
    #[serde(default = "default_key")]
    pub key: String,
    /// Column holding the account's email address.
    pub email: String,
    /// Column holding the public username, if any.
    pub username: Option<String>,
    /// URL templates of the account's public profile page, each with one placeholder
    /// naming the key or the username column (`https://site/user/{username}`): how a
    /// reported profile URL finds the account.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profile_urls: Vec<String>,
    /// Key of a placeholder account ("deleted user") that `unlink = "placeholder"` points
    /// retained rows at. It must exist.
    pub placeholder: Option<String>,
    /// Per-subject tombstone accounts for `unlink = "tombstone"`: column → template, where
    /// `{hash}` is a keyed hash of the subject's key.
    pub tombstone: Option<BTreeMap<String, String>>,
}

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
    /// Parses and checks a map's own consistency: version, link keys, soft-link targets,
    /// object key sources and templates. Undecided values (`TODO`) parse; they are
    /// reported by the check against the schema.
    pub fn parse(text: &str) -> Result<Self, MapError> {
        // Tell an old map from a broken one before reading fields a version 1 map lacks.
        if let Ok(raw) = text.parse::<toml::Table>()
            && raw.get("version").and_then(toml::Value::as_integer) == Some(1)
        {
            return Err(entry_error(
                "version",
                "this is a version 1 map; convert it with `lethe datamap convert --in FILE --out FILE`",
            ));
        }
        let map: DataMap = toml::from_str(text)?;
        if map.version == 1 {
            return Err(entry_error(
                "version",
                "this is a version 1 map; convert it with `lethe datamap convert --in FILE --out FILE`",
            ));
        }
        if map.version != 2 {
            return Err(entry_error("version", "only version 2 is supported"));
        }
        for (key, link) in &map.links {
            if LinkKey::parse(key).is_none() {
                return Err(entry_error(
                    &format!("links.\"{key}\""),
                    "a link key is `table.column` or `table.(column_a, column_b)`",
                ));
            }
            if let Some(to) = &link.to {
                if !link.soft {
                    return Err(entry_error(
                        &format!("links.\"{key}\""),
                        "`to` is only for soft links (soft = true)",
                    ));
                }
                if LinkKey::parse(to).is_none() {
                    return Err(entry_error(
                        &format!("links.\"{key}\""),
                        "`to` is `table.column` or `table.(column_a, column_b)`",
                    ));
                }
            }
        }
        let mut seen = std::collections::HashMap::new();
        for (category, tables) in &map.categories {
            for table in tables {
                if let Some(other) = seen.insert(table.as_str(), *category) {
                    return Err(entry_error(
                        "categories",
                        format!(
                            "table `{table}` is listed under both {} and {}",
                            other.as_str(),
                            category.as_str()
                        ),
                    ));
                }
            }
        }
        for (i, object) in map.objects.iter().enumerate() {
            let name = format!("objects[{i}] ({})", object.label());
            match (&object.column, &object.template) {
                (Some(_), None) => {}
                (None, Some(template)) => {
                    let columns = template_columns(template).map_err(|e| entry_error(&name, e))?;
                    if columns.is_empty() {
                        return Err(entry_error(
                            &name,
                            "a template needs at least one {column} placeholder",
                        ));
                    }
                    if template.ends_with('/') {
                        // A prefix: every placeholder must be followed by a delimiter, or
                        // `avatars/{id}` would also list `avatars/10…` for subject 1.
                        let mut rest = template.as_str();
                        while let Some(close) = rest.find('}') {
                            if !rest[close + 1..].starts_with('/') {
                                return Err(entry_error(
                                    &name,
                                    "in a prefix template every {placeholder} must be followed by `/`",
                                ));
                            }
                            rest = &rest[close + 1..];
                        }
                    }
                }
                _ => {
                    return Err(entry_error(&name, "give either `column` or `template`"));
                }
            }
        }
        Ok(map)
    }

    /// The category of a table (`content` unless listed).
    pub fn category_of(&self, table: &str) -> Category {
        self.categories
            .iter()
            .find(|(_, tables)| tables.iter().any(|t| t == table))
            .map_or(
                if table == self.subject.table {
                    Category::Account
                } else {
                    Category::Content
                },
                |(c, _)| *c,
            )
    }

    /// A canonical fingerprint of the map's content (comments and layout do not count):
    /// SHA-256 over its canonical JSON form, hex.
    pub fn content_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let json = serde_json::to_vec(self).expect("a parsed map serializes");
        hex::encode(Sha256::digest(json))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_keys_parse_single_and_composite_columns() {
        assert_eq!(
            LinkKey::parse("images.user_id").unwrap(),
            LinkKey {
                table: "images".into(),
                columns: vec!["user_id".into()]
            }
        );
        assert_eq!(
            LinkKey::parse("Member.(userId, tenantId)").unwrap().columns,
            vec!["userId".to_owned(), "tenantId".to_owned()]
        );
        assert!(LinkKey::parse("nodot").is_none());
        assert!(LinkKey::parse("t.(a,)").is_none());
    }

    #[test]
    fn prefix_templates_need_a_delimiter_after_each_placeholder() {
        let base = "version = 2\n[subject]\ntable = \"users\"\nemail = \"email\"\n";
        let ok = format!(
            "{base}[[objects]]\nbucket = \"b\"\ntable = \"users\"\ntemplate = \"avatars/{{id}}/\"\n"
        );
        DataMap::parse(&ok).unwrap();
        let bad = format!(
            "{base}[[objects]]\nbucket = \"b\"\ntable = \"users\"\ntemplate = \"avatars/{{id}}-x/\"\n"
        );
        assert!(DataMap::parse(&bad).is_err());
        let version1 = "version = 1\n[subject]\ntable = \"users\"\nemail = \"email\"\n";
        assert!(
            DataMap::parse(version1)
                .unwrap_err()
                .to_string()
                .contains("convert")
        );
    }

    #[test]
    fn url_keys_count_only_from_the_listed_hosts() {
        let text = "version = 2\n[subject]\ntable = \"users\"\nemail = \"email\"\n\
                    [[objects]]\nbucket = \"b\"\ntable = \"files\"\ncolumn = \"url\"\nformat = \"url\"\nhosts = [\"cdn.example\"]\n";
        let map = DataMap::parse(text).unwrap();
        let spec = &map.objects[0];
        assert_eq!(
            spec.key_of("https://cdn.example/a/b.png").as_deref(),
            Some("a/b.png")
        );
        assert_eq!(
            spec.key_of("https://CDN.example/a/b.png").as_deref(),
            Some("a/b.png")
        );
        assert_eq!(spec.key_of("https://evil.example/a/b.png"), None);
    }

    #[test]
    fn the_content_hash_ignores_comments_and_layout() {
        let a = "version = 2\n[subject]\ntable = \"users\"\nemail = \"email\"\n[links]\n\"a.b\" = \"delete\"\n";
        let b = "# a comment\nversion = 2\n\n[subject]\ntable = \"users\"\nemail = \"email\"\n\n[links.\"a.b\"]\naction = \"delete\"\n";
        assert_eq!(
            DataMap::parse(a).unwrap().content_hash(),
            DataMap::parse(b).unwrap().content_hash()
        );
    }
}
