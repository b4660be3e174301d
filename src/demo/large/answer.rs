//! The answer key: what a correct purge of one subject does to every table and bucket,
//! written from the generator's own model and the intended decisions (see
//! [`super::DECISIONS`]), never from Lethe's planner or the catalog.
//!
//! Every SQL text is over alias `t` with `$1` = the subject's id (`bigint`).

use std::collections::{BTreeMap, HashMap};

use super::model::{ColRule, Edge, Effect, ObjectCol, Table, q};
use super::{PLACEHOLDER_ID, TOMBSTONE_EMAIL_LIKE};

/// The subject section of the intended data map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubjectNames {
    /// Subject table.
    pub table: &'static str,
    /// Its key column.
    pub key: &'static str,
    /// Email column.
    pub email: &'static str,
    /// Username column.
    pub username: &'static str,
}

/// The intended `[subject]` values.
pub const SUBJECT: SubjectNames = SubjectNames {
    table: "User",
    key: "id",
    email: "email",
    username: "username",
};

/// Rows that must still exist after the purge.
#[derive(Debug, Clone)]
pub struct KeptRows {
    /// Predicate over `t` (with `$1`), evaluated before the purge to collect keys.
    pub predicate: String,
    /// Columns that must no longer hold the subject's id afterwards.
    pub link_columns: Vec<String>,
    /// Columns that must afterwards be NULL or free of the subject's email and username.
    pub cleared_columns: Vec<String>,
}

/// The expected effect of a purge on one table.
#[derive(Debug, Clone)]
pub struct TableKey {
    /// Table name (unquoted).
    pub table: String,
    /// SQL over `t` identifying a row, as text.
    pub key: String,
    /// Predicate over `t`: every row a correct purge may delete or change. Evaluate it
    /// before the purge; rows that only exist afterwards (tombstones) must match it when
    /// evaluated afterwards. Rows outside it must be byte-identical (`t::text`).
    pub touched: String,
    /// Predicate over `t` for rows that must be gone (evaluated before, to collect keys).
    pub gone: Option<String>,
    /// Rows that must remain, one entry per way they are reached.
    pub kept: Vec<KeptRows>,
}

/// The subject's objects in one bucket.
#[derive(Debug, Clone)]
pub struct BucketObjects {
    /// Bucket name.
    pub bucket: String,
    /// SQL returning one text column `k`: the subject's object keys (evaluated before the
    /// purge; every key must be gone afterwards, every other object must remain).
    pub sql: String,
}

/// The whole answer key.
#[derive(Debug, Clone)]
pub struct AnswerKey {
    /// Every table of the platform, in creation order.
    pub tables: Vec<TableKey>,
    /// `(table, column)` pairs where people's email addresses and usernames are planted:
    /// after the purge no row may match [`identity_match`] for the subject.
    pub identity_columns: Vec<(String, String)>,
    /// The subject's objects, per bucket.
    pub subject_objects: Vec<BucketObjects>,
    /// Key of the placeholder row.
    pub placeholder: i64,
    /// `LIKE` pattern of tombstone emails.
    pub tombstone_email_like: &'static str,
}

/// SQL predicate: `expr` (any type, compared as text) mentions the email `$2` or the
/// username `$3` (at word boundaries). Seeded usernames are `[a-z0-9_]` only.
pub fn identity_match(expr: &str) -> String {
    format!(
        "(strpos(lower(({expr})::text), lower($2)) > 0 OR ({expr})::text ~* ('(^|[^a-z0-9_])' || $3 || '($|[^a-z0-9_])'))"
    )
}

struct Walk<'a> {
    tables: HashMap<&'a str, &'a Table>,
    gone: std::cell::RefCell<HashMap<String, Option<String>>>,
}

impl<'a> Walk<'a> {
    fn table(&self, name: &str) -> Option<&'a Table> {
        self.tables.get(name).copied()
    }

    /// Rows of `edge.target` being deleted, as a condition on `t` (the child row).
    fn parent_set(&self, edge: &Edge) -> Option<String> {
        if edge.to_user() {
            let i = edge.target_cols.iter().position(|c| c == "id").unwrap_or(0);
            return Some(format!("t.{} = $1", q(&edge.cols[i])));
        }
        let parent = self.gone(&edge.target)?;
        let cols: Vec<String> = edge.cols.iter().map(|c| format!("t.{}", q(c))).collect();
        let target: Vec<String> = edge
            .target_cols
            .iter()
            .map(|c| format!("t.{}", q(c)))
            .collect();
        Some(format!(
            "({}) IN (SELECT {} FROM {} t WHERE {parent})",
            cols.join(", "),
            target.join(", "),
            q(&edge.target)
        ))
    }

    /// Predicate over `t` for the rows of `name` a purge deletes.
    fn gone(&self, name: &str) -> Option<String> {
        if name == "User" {
            return Some("t.\"id\" = $1".into());
        }
        if let Some(hit) = self.gone.borrow().get(name) {
            return hit.clone();
        }
        let t = self.table(name)?;
        let deletes: Vec<&Edge> = t
            .edges
            .iter()
            .filter(|e| e.effect() == Effect::Delete)
            .collect();
        let base: Vec<String> = deletes
            .iter()
            .filter(|e| e.target != name)
            .filter_map(|e| self.parent_set(e))
            .collect();
        let result = if base.is_empty() {
            None
        } else {
            let base = base.join(" OR ");
            match deletes.iter().find(|e| e.target == name) {
                None => Some(base),
                Some(tree) => {
                    let (pk, parent) = (q(&tree.target_cols[0]), q(&tree.cols[0]));
                    Some(format!(
                        "t.{pk} IN (WITH RECURSIVE g(k) AS (SELECT t.{pk} FROM {tn} t WHERE {base} \
                         UNION SELECT c.{pk} FROM {tn} c JOIN g ON c.{parent} = g.k) SELECT k FROM g)",
                        tn = q(name)
                    ))
                }
            }
        };
        self.gone
            .borrow_mut()
            .insert(name.to_owned(), result.clone());
        result
    }

    fn table_key(&self, t: &Table, all: &[Table]) -> TableKey {
        let gone = self.gone(&t.name);
        let mut touched: Vec<String> = gone.iter().cloned().collect();
        let mut kept = Vec::new();
        for e in &t.edges {
            let effect = e.effect();
            if !matches!(effect, Effect::Keep | Effect::Leave) {
                continue;
            }
            let Some(set) = self.parent_set(e) else {
                continue;
            };
            touched.push(set.clone());
            let predicate = match &gone {
                Some(g) => format!("({set}) AND NOT ({g})"),
                None => set,
            };
            let link_columns = if e.to_user() {
                e.cols.clone()
            } else {
                Vec::new()
            };
            let cleared_columns = e
                .anonymize()
                .iter()
                .filter(|(_, r)| matches!(r, ColRule::Null | ColRule::Redact))
                .map(|(c, _)| c.clone())
                .collect();
            kept.push(KeptRows {
                predicate,
                link_columns,
                cleared_columns,
            });
        }
        for child in all {
            for c in child.counters.iter().filter(|c| c.parent == t.name) {
                if let Some(g) = self.gone(&child.name) {
                    let key = child
                        .edges
                        .iter()
                        .find(|e| e.cols.len() == 1 && e.cols[0] == c.via)
                        .map_or("id".to_owned(), |e| e.target_cols[0].clone());
                    touched.push(format!(
                        "t.{} IN (SELECT t.{} FROM {} t WHERE {g})",
                        q(&key),
                        q(&c.via),
                        q(&child.name)
                    ));
                }
            }
        }
        if t.name == "User" {
            touched.push(format!("t.\"id\" = {PLACEHOLDER_ID}"));
            touched.push(format!("t.\"email\" LIKE '{TOMBSTONE_EMAIL_LIKE}'"));
        }
        let touched = if touched.is_empty() {
            "false".to_owned()
        } else {
            touched.join("\n  OR ")
        };
        TableKey {
            table: t.name.clone(),
            key: t.key_sql(),
            touched,
            gone,
            kept,
        }
    }
}

fn object_sql(t: &Table, o: &ObjectCol, gone: &str) -> (&'static str, String) {
    let from = q(&t.name);
    match o {
        ObjectCol::Key { bucket, column } => {
            let c = q(column);
            (
                bucket,
                format!("SELECT t.{c} FROM {from} t WHERE t.{c} IS NOT NULL AND ({gone})"),
            )
        }
        ObjectCol::Url { bucket, column } => {
            let c = q(column);
            (
                bucket,
                format!(
                    "SELECT regexp_replace(t.{c}, '^https://cdn\\.example/', '') FROM {from} t WHERE t.{c} IS NOT NULL AND ({gone})"
                ),
            )
        }
        ObjectCol::Prefix { bucket, keys, .. } => (
            bucket,
            format!("SELECT o.k FROM {from} t CROSS JOIN LATERAL ({keys}) o(k) WHERE {gone}"),
        ),
    }
}

/// Derives the answer key from the model.
pub(crate) fn derive(tables: &[Table]) -> AnswerKey {
    let walk = Walk {
        tables: tables.iter().map(|t| (t.name.as_str(), t)).collect(),
        gone: Default::default(),
    };
    let keys: Vec<TableKey> = tables.iter().map(|t| walk.table_key(t, tables)).collect();
    let mut per_bucket: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    for t in tables {
        let Some(gone) = walk.gone(&t.name) else {
            continue;
        };
        for o in &t.objects {
            let (bucket, sql) = object_sql(t, o, &gone);
            per_bucket.entry(bucket).or_default().push(sql);
        }
    }
    let subject_objects = per_bucket
        .into_iter()
        .map(|(bucket, parts)| BucketObjects {
            bucket: bucket.to_owned(),
            sql: format!(
                "SELECT DISTINCT k FROM (\n{}\n) s(k)",
                parts.join("\nUNION ALL\n")
            ),
        })
        .collect();
    let identity_columns = tables
        .iter()
        .flat_map(|t| t.identity.iter().map(|c| (t.name.clone(), c.clone())))
        .collect();
    AnswerKey {
        tables: keys,
        identity_columns,
        subject_objects,
        placeholder: PLACEHOLDER_ID,
        tombstone_email_like: TOMBSTONE_EMAIL_LIKE,
    }
}

/// One kept-rows step of a purge: the table, its key SQL, the rows (predicate over `t`)
/// and the edge whose rule applies to them. For the reference purge in tests.
#[cfg(test)]
pub(crate) fn keep_steps(tables: &[Table]) -> Vec<(String, String, String, Edge)> {
    let walk = Walk {
        tables: tables.iter().map(|t| (t.name.as_str(), t)).collect(),
        gone: Default::default(),
    };
    let mut out = Vec::new();
    for t in tables {
        for e in t.edges.iter().filter(|e| e.effect() == Effect::Keep) {
            if let Some(set) = walk.parent_set(e) {
                let pred = match walk.gone(&t.name) {
                    Some(g) => format!("({set}) AND NOT ({g})"),
                    None => set,
                };
                out.push((t.name.clone(), t.key_sql(), pred, e.clone()));
            }
        }
    }
    out
}
