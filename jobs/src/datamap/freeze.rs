//! The `[freeze]` section of the data map: what confirming a report of a child's account
//! does at once, before the account is purged — the account can no longer sign in, act
//! or be seen.
//!
//! ```toml
//! [freeze]
//! set = { restricted = true }                   # written on the subject's own row
//! delete = ["sessions.user_id"]                 # rows naming the subject by these columns
//! update = [                                    # rows naming the subject, rewritten
//!   { table = "models", link = "user_id", set = { published = false } },
//! ]
//! ```
//!
//! Freezing is idempotent and commits in one transaction. It never deletes a table the
//! map keeps (retains, anonymizes or leaves): only the purge decides about those.

use std::collections::BTreeMap;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};

use super::catalog::{Catalog, ident};
use super::graph::Problem;
use super::marketing::{MarketingSpec, OptOut, as_text, run_writes, write_statement};

/// The section.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FreezeSpec {
    /// Column → value written on the subject's row.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, toml::Value>,
    /// `table.column` links naming the subject's key: the rows they select are deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delete: Vec<String>,
    /// Rows naming the subject, and what is written into them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub update: Vec<MarketingSpec>,
}

impl FreezeSpec {
    /// Whether it does anything.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.delete.is_empty() && self.update.is_empty()
    }
}

/// What is wrong with the section against the live schema and the map's own decisions.
pub fn problems(map: &super::DataMap, catalog: &Catalog, kept: &[String]) -> Vec<Problem> {
    let Some(freeze) = &map.freeze else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    let mut p = |entry: String, problem: String| problems.push(Problem { entry, problem });
    if freeze.is_empty() {
        p("freeze".into(), "names nothing to write or delete".into());
    }
    for (column, value) in &freeze.set {
        if catalog.column(&map.subject.table, column).is_none() {
            p(
                "freeze.set".into(),
                format!("column `{}.{column}` does not exist", map.subject.table),
            );
        }
        if as_text(value).is_none() {
            p(
                "freeze.set".into(),
                format!("`{column}` must be a boolean, a number or a string"),
            );
        }
    }
    for link in &freeze.delete {
        let entry = format!("freeze.delete `{link}`");
        let Some((table, column)) = link.split_once('.') else {
            p(entry, "write it as `table.column`".into());
            continue;
        };
        if catalog.column(table, column).is_none() {
            p(entry, format!("column `{table}.{column}` does not exist"));
        } else if table == map.subject.table {
            p(
                entry,
                "the subject's own row is deleted by the purge".into(),
            );
        } else if kept.iter().any(|t| t == table) {
            p(
                entry,
                format!("the map keeps rows of `{table}`: freezing must not delete them"),
            );
        }
    }
    for (i, spec) in freeze.update.iter().enumerate() {
        let entry = format!("freeze.update[{i}]");
        if catalog.columns(&spec.table).is_none() {
            p(entry, format!("table `{}` does not exist", spec.table));
            continue;
        }
        for column in std::iter::once(&spec.link).chain(spec.set.keys()) {
            if catalog.column(&spec.table, column).is_none() {
                p(
                    entry.clone(),
                    format!("column `{}.{column}` does not exist", spec.table),
                );
            }
        }
        if spec.set.is_empty() {
            p(entry, "`set` names no column to write".into());
        }
    }
    problems
}

/// The freeze's statements, each taking the subject's key as `$1`, against a schema the
/// map was checked on.
pub fn statements(map: &super::DataMap, catalog: &Catalog) -> Vec<OptOut> {
    let Some(freeze) = &map.freeze else {
        return Vec::new();
    };
    let schema = map.schema.as_str();
    let mut out = Vec::new();
    if !freeze.set.is_empty() {
        let own = MarketingSpec {
            table: map.subject.table.clone(),
            link: map.subject.key.clone(),
            set: freeze.set.clone(),
        };
        out.push(write_statement(schema, catalog, "freeze.set", &own));
    }
    for link in &freeze.delete {
        let Some((table, column)) = link.split_once('.') else {
            continue;
        };
        let key_type = catalog
            .column(table, column)
            .map_or_else(|| "text".to_owned(), |c| c.sql_type.clone());
        out.push(OptOut {
            category: format!("freeze.delete {link}"),
            table: table.to_owned(),
            deletes: true,
            sql: format!(
                "DELETE FROM {}.{} WHERE {} = CAST($1 AS {key_type})",
                ident(schema),
                ident(table),
                ident(column)
            ),
            values: Vec::new(),
        });
    }
    for spec in &freeze.update {
        out.push(write_statement(schema, catalog, "freeze.update", spec));
    }
    out
}

/// Freezes `subject` in one transaction, committed synchronously (the platform pool
/// commits asynchronously): once recorded as frozen, a crash cannot undo it.
pub async fn freeze(
    conn: &mut AsyncPgConnection,
    statements: &[OptOut],
    subject: &str,
) -> anyhow::Result<u64> {
    conn.transaction::<_, anyhow::Error, _>(async |c| {
        diesel::sql_query("SET LOCAL synchronous_commit = on")
            .execute(c)
            .await?;
        Ok(run_writes(c, statements, subject).await?)
    })
    .await
}
