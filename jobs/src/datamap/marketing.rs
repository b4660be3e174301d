//! The `[marketing]` section of the data map: per category of marketing mail, which
//! platform row holds the person's preference and what "no marketing" writes into it.
//!
//! ```toml
//! [marketing.newsletter]
//! table = "marketing_preferences"
//! link = "user_id"                 # the column naming the subject's key
//! set = { newsletter = false }     # what opting out writes
//! ```
//!
//! An unsubscribe from one category writes that category's `set`; from all, every
//! category's. Administrative mail has no entry here and is never touched.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::catalog::{Catalog, ident};
use super::graph::Problem;

/// One category of marketing mail.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MarketingSpec {
    /// The table holding the preference.
    pub table: String,
    /// Its column naming the subject's key (the key column itself on the subject table).
    pub link: String,
    /// Column → value written to opt out (booleans, numbers or strings).
    pub set: BTreeMap<String, toml::Value>,
}

/// One opt-out statement: `$1` is the subject's key, then the values in order.
#[derive(Debug, Clone)]
pub struct OptOut {
    /// The category.
    pub category: String,
    /// The `UPDATE`.
    pub sql: String,
    /// The values, as text (cast to their columns' types in the SQL).
    pub values: Vec<String>,
}

/// What is wrong with the section against the live schema.
pub fn problems(section: &BTreeMap<String, MarketingSpec>, catalog: &Catalog) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (category, spec) in section {
        let mut p = |problem: String| {
            problems.push(Problem {
                entry: format!("marketing.{category}"),
                problem,
            })
        };
        if catalog.columns(&spec.table).is_none() {
            p(format!("table `{}` does not exist", spec.table));
            continue;
        }
        for column in std::iter::once(&spec.link).chain(spec.set.keys()) {
            if catalog.column(&spec.table, column).is_none() {
                p(format!("column `{}.{column}` does not exist", spec.table));
            }
        }
        if spec.set.is_empty() {
            p("`set` names no column to write".into());
        }
        for (column, value) in &spec.set {
            if as_text(value).is_none() {
                p(format!(
                    "`set.{column}` must be a boolean, a number or a string"
                ));
            }
        }
    }
    problems
}

fn as_text(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::Boolean(b) => Some(b.to_string()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// The statements opting the subject out of `category` (every category when `None`),
/// against a schema the section was checked on.
pub fn opt_outs(
    section: &BTreeMap<String, MarketingSpec>,
    catalog: &Catalog,
    schema: &str,
    category: Option<&str>,
) -> Vec<OptOut> {
    section
        .iter()
        .filter(|(name, _)| category.is_none_or(|c| c == name.as_str()))
        .map(|(name, spec)| {
            let type_of = |column: &str| {
                catalog
                    .column(&spec.table, column)
                    .map_or_else(|| "text".to_owned(), |c| c.sql_type.clone())
            };
            let mut values = Vec::new();
            let sets: Vec<String> = spec
                .set
                .iter()
                .map(|(column, value)| {
                    values.push(as_text(value).unwrap_or_default());
                    format!(
                        "{} = CAST(${} AS {})",
                        ident(column),
                        values.len() + 1,
                        type_of(column)
                    )
                })
                .collect();
            OptOut {
                category: name.clone(),
                sql: format!(
                    "UPDATE {}.{} SET {} WHERE {} = CAST($1 AS {})",
                    ident(schema),
                    ident(&spec.table),
                    sets.join(", "),
                    ident(&spec.link),
                    type_of(&spec.link)
                ),
                values,
            }
        })
        .collect()
}
