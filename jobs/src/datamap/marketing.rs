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

use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
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
    /// The category (or the map entry it comes from).
    pub category: String,
    /// The table it writes.
    pub table: String,
    /// Whether it deletes rows (else it updates them).
    pub deletes: bool,
    /// The `UPDATE` (or `DELETE`).
    pub sql: String,
    /// The values, as text (cast to their columns' types in the SQL).
    pub values: Vec<String>,
}

/// The pseudo-category of an opt-out of the sale or sharing of personal data (the map's
/// `[sale_sharing]`); no marketing category may be called so.
pub const SALE_SHARING: &str = "sale_sharing";

/// What is wrong with the section (and `[sale_sharing]`) against the live schema.
pub fn problems(
    section: &BTreeMap<String, MarketingSpec>,
    sale_sharing: Option<&MarketingSpec>,
    catalog: &Catalog,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    if section.contains_key(SALE_SHARING) {
        problems.push(Problem {
            entry: format!("marketing.{SALE_SHARING}"),
            problem: "this name is reserved: write it as the top-level `[sale_sharing]`".into(),
        });
    }
    let mut all: Vec<(String, &MarketingSpec)> = section
        .iter()
        .map(|(n, s)| (format!("marketing.{n}"), s))
        .collect();
    all.extend(sale_sharing.map(|s| (SALE_SHARING.to_owned(), s)));
    for (entry, spec) in all {
        let mut p = |problem: String| {
            problems.push(Problem {
                entry: entry.clone(),
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

pub(crate) fn as_text(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::Boolean(b) => Some(b.to_string()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// The statements opting the subject out of `category` (every marketing category when
/// `None`; [`SALE_SHARING`]: the map's `[sale_sharing]`), against a schema the map was
/// checked on.
pub fn opt_outs(map: &super::DataMap, catalog: &Catalog, category: Option<&str>) -> Vec<OptOut> {
    let schema = map.schema.as_str();
    let sale_sharing: BTreeMap<String, MarketingSpec> = map
        .sale_sharing
        .iter()
        .map(|s| (SALE_SHARING.to_owned(), s.clone()))
        .collect();
    let section = if category == Some(SALE_SHARING) {
        &sale_sharing
    } else {
        &map.marketing
    };
    section
        .iter()
        .filter(|(name, _)| category.is_none_or(|c| c == name.as_str()))
        .map(|(name, spec)| write_statement(schema, catalog, name, spec))
        .collect()
}

/// The `UPDATE` writing `spec.set` into the rows whose `spec.link` is the subject's key
/// (`$1`), the values bound in order and cast to their columns' types.
pub(crate) fn write_statement(
    schema: &str,
    catalog: &Catalog,
    label: &str,
    spec: &MarketingSpec,
) -> OptOut {
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
        category: label.to_owned(),
        table: spec.table.clone(),
        deletes: false,
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
}

/// Runs write statements (opt-outs, a freeze) for `subject` inside the caller's
/// transaction; the rows they wrote or deleted.
pub async fn run_writes(
    c: &mut AsyncPgConnection,
    statements: &[OptOut],
    subject: &str,
) -> diesel::QueryResult<u64> {
    let mut rows = 0;
    for statement in statements {
        let mut query = diesel::sql_query(&statement.sql)
            .into_boxed()
            .bind::<Text, _>(subject.to_owned());
        for value in &statement.values {
            query = query.bind::<Text, _>(value.clone());
        }
        rows += query.execute(c).await? as u64;
    }
    Ok(rows)
}
