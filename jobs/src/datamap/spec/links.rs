//! The rules of links and tables: what erasure does to the rows a link or table rule
//! covers, and link keys (`table.column`, `table.(a, b)`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::datamap::rule::{Action, ColumnRule, Unlink};

/// The treatment of one link (an edge into the subject table, or a declared soft link).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// What erasure does to the rows this link reaches.
    pub action: Option<Action>,
    /// Legal basis (`retain`).
    pub basis: Option<String>,
    /// How long the rows are kept (`retain`).
    pub period: Option<String>,
    /// How the link is cut for rows that stay.
    pub unlink: Option<Unlink>,
    /// Columns rewritten in rows that stay.
    #[serde(default)]
    pub anonymize: BTreeMap<String, ColumnRule>,
    /// Whether the rows go into an access export (default: `delete` and `retain` do).
    pub export: Option<bool>,
    /// The column holds a key without a foreign key; declares the link.
    #[serde(default)]
    pub soft: bool,
    /// Target of a soft link, `table.column` (default: the subject's key).
    pub to: Option<String>,
}

/// `"table.column" = "delete"` is short for `{ action = "delete" }`.
pub(super) fn links_short_or_full<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, LinkSpec>, D::Error> {
    struct ShortOrFull(LinkSpec);
    impl<'de> Deserialize<'de> for ShortOrFull {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visit;
            impl<'de> serde::de::Visitor<'de> for Visit {
                type Value = ShortOrFull;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("an action name or a table of link settings")
                }
                fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ShortOrFull, E> {
                    let action = Action::deserialize(serde::de::value::StrDeserializer::new(v))?;
                    Ok(ShortOrFull(LinkSpec {
                        action: Some(action),
                        ..LinkSpec::default()
                    }))
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    map: A,
                ) -> Result<ShortOrFull, A::Error> {
                    LinkSpec::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                        .map(ShortOrFull)
                }
            }
            d.deserialize_any(Visit)
        }
    }
    let raw = BTreeMap::<String, ShortOrFull>::deserialize(d)?;
    Ok(raw.into_iter().map(|(k, v)| (k, v.0)).collect())
}

/// A rule for one table, applied whatever path reaches it.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TableRule {
    /// What erasure does to the rows; absent: each edge's delete rule.
    pub action: Option<Action>,
    /// Legal basis (`retain`).
    pub basis: Option<String>,
    /// How long the rows are kept (`retain`).
    pub period: Option<String>,
    /// How links are cut for rows that stay.
    pub unlink: Option<Unlink>,
    /// Columns rewritten in rows that stay.
    #[serde(default)]
    pub anonymize: BTreeMap<String, ColumnRule>,
    /// Whether rows this rule covers go into an access export.
    pub export: Option<bool>,
    /// Columns left out of exports.
    #[serde(default)]
    pub omit: Vec<String>,
    /// Columns replaced by a keyed pseudonym in exports.
    #[serde(default)]
    pub mask: Vec<String>,
}

/// The parts of a link or table rule that say what happens to rows.
#[derive(Debug, Clone, Copy)]
pub struct RuleRef<'a> {
    /// The action, if stated.
    pub action: Option<&'a Action>,
    /// Legal basis.
    pub basis: Option<&'a str>,
    /// Retention period.
    pub period: Option<&'a str>,
    /// How the link is cut.
    pub unlink: Option<&'a Unlink>,
    /// Rewritten columns.
    pub anonymize: &'a BTreeMap<String, ColumnRule>,
    /// Export flag.
    pub export: Option<bool>,
}

impl LinkSpec {
    /// The rule part.
    pub fn rule(&self) -> RuleRef<'_> {
        RuleRef {
            action: self.action.as_ref(),
            basis: self.basis.as_deref(),
            period: self.period.as_deref(),
            unlink: self.unlink.as_ref(),
            anonymize: &self.anonymize,
            export: self.export,
        }
    }
}

impl TableRule {
    /// The rule part.
    pub fn rule(&self) -> RuleRef<'_> {
        RuleRef {
            action: self.action.as_ref(),
            basis: self.basis.as_deref(),
            period: self.period.as_deref(),
            unlink: self.unlink.as_ref(),
            anonymize: &self.anonymize,
            export: self.export,
        }
    }
}

/// A link key parsed: `table.column` or `table.(a, b)`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LinkKey {
    /// The referencing table.
    pub table: String,
    /// Its columns.
    pub columns: Vec<String>,
}

impl LinkKey {
    /// Parses `table.column` or `table.(a, b)`. The table is everything before the last
    /// `.` that precedes the column part.
    pub fn parse(key: &str) -> Option<Self> {
        if let Some(open) = key.find(".(") {
            let table = &key[..open];
            let inner = key[open + 2..].strip_suffix(')')?;
            let columns: Vec<String> = inner.split(',').map(|c| c.trim().to_owned()).collect();
            if table.is_empty() || columns.iter().any(String::is_empty) {
                return None;
            }
            return Some(Self {
                table: table.to_owned(),
                columns,
            });
        }
        let (table, column) = key.rsplit_once('.')?;
        (!table.is_empty() && !column.is_empty()).then(|| Self {
            table: table.to_owned(),
            columns: vec![column.to_owned()],
        })
    }

    /// The key as written in a map.
    pub fn render(table: &str, columns: &[String]) -> String {
        match columns {
            [one] => format!("{table}.{one}"),
            many => format!("{table}.({})", many.join(", ")),
        }
    }
}

impl std::fmt::Display for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&Self::render(&self.table, &self.columns))
    }
}
