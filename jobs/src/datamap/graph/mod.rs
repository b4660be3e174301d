//! The walk: from the subject table through every foreign key and declared soft link into
//! tables whose rows are deleted, each edge's rule resolved (the link's own rule, else the
//! child table's rule, else the key's delete rule). Rows reached by `delete` are the
//! subject's and the walk goes on below them; rows reached by any other action are not,
//! and the walk stops there. Everything here is static (map + catalog); the problems it
//! finds make `lethe datamap check` and start-up refuse the map.

mod check;
mod edges;
mod resolve;

pub use edges::all_edges;

use std::collections::{BTreeMap, BTreeSet};

use super::catalog::{Catalog, OnDelete};
use super::rule::{Action, ColumnRule, Unlink};
use super::spec::{DataMap, LinkKey, LinkSpec};
use check::{check_edge, delete_cycle};
use resolve::resolve;

/// One edge of the schema: rows of `table` point at rows of `parent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// The link key (`table.column` or `table.(a, b)`), as the map names it.
    pub label: String,
    /// The referencing table.
    pub table: String,
    /// Its columns.
    pub columns: Vec<String>,
    /// The referenced table.
    pub parent: String,
    /// The referenced columns.
    pub parent_columns: Vec<String>,
    /// The foreign key's delete rule; `None` for a soft link.
    pub on_delete: Option<OnDelete>,
    /// The foreign key's name.
    pub constraint: Option<String>,
}

impl Edge {
    /// Whether the database itself removes or blocks rows when the parent goes.
    pub fn removes_or_blocks(&self) -> bool {
        matches!(self.on_delete, Some(OnDelete::Cascade | OnDelete::Restrict))
    }

    /// The columns an unlink sets: for a composite link into the subject table, e.g.
    /// `(user_id, tenant_id) -> (id, tenant_id)`, only the column naming the subject's key
    /// (the tenant is other data, and one NULL is enough to cut a key); otherwise all.
    pub fn unlinked_columns(&self, subject_table: &str, subject_key: &str) -> Vec<&String> {
        if self.parent == subject_table && self.columns.len() > 1 {
            let naming: Vec<&String> = self
                .columns
                .iter()
                .zip(&self.parent_columns)
                .filter(|(_, p)| *p == subject_key)
                .map(|(c, _)| c)
                .collect();
            if !naming.is_empty() {
                return naming;
            }
        }
        self.columns.iter().collect()
    }

    /// A self-reference (comment trees, revisions).
    pub fn is_self(&self) -> bool {
        self.table == self.parent
    }
}

/// Where an edge's rule came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleSource {
    /// `[links."…"]`.
    Link,
    /// `[tables.…]`.
    Table,
    /// The foreign key's own delete rule (no rule in the map).
    DeleteRule,
}

/// How an edge's rows are treated, resolved.
#[derive(Debug, Clone)]
pub struct Treatment {
    /// The action.
    pub action: Action,
    /// Where it came from.
    pub source: RuleSource,
    /// How the link is cut for rows that stay (`None`: not cut; the database's SET NULL or
    /// a soft link that keeps its value).
    pub unlink: Option<Unlink>,
    /// Columns rewritten in rows that stay.
    pub anonymize: BTreeMap<String, ColumnRule>,
    /// Whether the rows go into an access export.
    pub export: bool,
    /// Legal basis and period, for retained rows.
    pub basis: Option<(String, String)>,
}

impl Treatment {
    /// Whether the step for this edge rewrites rows (unlink or column rules).
    pub fn rewrites(&self) -> bool {
        self.action.keeps_rows() && (self.unlink.is_some() || !self.anonymize.is_empty())
    }
}

/// A problem that makes a map unsafe or undecided.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// The map entry or edge it concerns.
    pub entry: String,
    /// What is wrong and what to do.
    pub problem: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.entry, self.problem)
    }
}

/// The result of the walk.
#[derive(Debug, Clone, Default)]
pub struct Walk {
    /// Every edge into a table whose rows are deleted (the subject table included), with
    /// its treatment.
    pub edges: Vec<(Edge, Treatment)>,
    /// Tables some of whose rows are deleted (the subject table first).
    pub deleted: Vec<String>,
    /// Problems found.
    pub problems: Vec<Problem>,
    /// Link rules that matched no edge the walk reached (harmless, reported).
    pub unused_links: Vec<String>,
}

fn problem(entry: &str, text: impl Into<String>) -> Problem {
    Problem {
        entry: entry.to_owned(),
        problem: text.into(),
    }
}

/// Walks the schema from the subject table.
pub fn walk(map: &DataMap, catalog: &Catalog) -> Walk {
    let mut problems = Vec::new();
    let edges = all_edges(map, catalog, &mut problems);
    let subject = map.subject.table.as_str();
    // Link keys must name an edge, and only one.
    for key in map.links.keys() {
        let Some(link) = LinkKey::parse(key) else {
            continue;
        };
        let matching = edges
            .iter()
            .filter(|e| e.table == link.table && e.columns == link.columns)
            .count();
        match matching {
            0 if catalog.columns(&link.table).is_none() => problems.push(problem(
                &format!("links.\"{key}\""),
                format!("table `{}` does not exist", link.table),
            )),
            0 => problems.push(problem(
                &format!("links.\"{key}\""),
                "no foreign key has these columns; a link without one needs `soft = true`",
            )),
            1 => {}
            _ => problems.push(problem(
                &format!("links.\"{key}\""),
                "several foreign keys have these columns; Lethe cannot tell which one is meant",
            )),
        }
    }
    for table in map.tables.keys() {
        if catalog.columns(table).is_none() {
            problems.push(problem(&format!("tables.{table}"), "table does not exist"));
        }
    }

    // Tables with a link of their own into the subject table: their rows belong to the
    // person that link names, so rows reached through other tables are not exported by
    // default (other people's comments on the subject's images).
    let owned: BTreeSet<&str> = edges
        .iter()
        .filter(|e| e.parent == subject)
        .map(|e| e.table.as_str())
        .collect();
    let parsed: Vec<(LinkKey, &LinkSpec)> = map
        .links
        .iter()
        .filter_map(|(k, l)| LinkKey::parse(k).map(|key| (key, l)))
        .collect();
    let links: LinkIndex<'_> = parsed
        .iter()
        .map(|(key, l)| ((key.table.as_str(), key.columns.as_slice()), *l))
        .collect();
    let mut deleted: Vec<String> = vec![subject.to_owned()];
    let mut resolved: Vec<(Edge, Treatment)> = Vec::new();
    let mut done: BTreeSet<usize> = BTreeSet::new();
    loop {
        let mut grew = false;
        for (i, edge) in edges.iter().enumerate() {
            if done.contains(&i) || !deleted.contains(&edge.parent) {
                continue;
            }
            done.insert(i);
            let treatment = resolve(map, &links, edge, owned.contains(edge.table.as_str()));
            check_edge(map, catalog, edge, &treatment, &mut problems);
            if treatment.action == Action::Delete && !deleted.contains(&edge.table) {
                if edge.table == subject {
                    problems.push(problem(
                        &edge.label,
                        "deleting through this key would delete other accounts; detach or leave it",
                    ));
                } else {
                    deleted.push(edge.table.clone());
                    grew = true;
                }
            }
            resolved.push((edge.clone(), treatment));
        }
        if !grew {
            break;
        }
    }

    // A table cannot be both deleted and retained.
    let mut by_table: BTreeMap<&str, (Vec<&str>, Vec<&str>)> = BTreeMap::new();
    for (edge, t) in &resolved {
        let entry = by_table.entry(edge.table.as_str()).or_default();
        match t.action {
            Action::Delete => entry.0.push(&edge.label),
            Action::Retain => entry.1.push(&edge.label),
            _ => {}
        }
    }
    for (table, (deletes, retains)) in &by_table {
        if let (Some(d), Some(r)) = (deletes.first(), retains.first()) {
            problems.push(problem(
                &format!("tables.{table}"),
                format!(
                    "rows are deleted through {d} but retained through {r}: a row reached both ways would be lost; make the rules agree"
                ),
            ));
        }
    }
    // Cycles of deleting keys between distinct tables leave no order.
    if let Some(cycle) = delete_cycle(&resolved) {
        problems.push(problem(
            &format!("tables.{}", cycle[0]),
            format!(
                "tables {} reach each other through deleting keys; give one of them a rule that is not delete",
                cycle.join(" -> ")
            ),
        ));
    }
    let reached: BTreeSet<&str> = resolved.iter().map(|(e, _)| e.label.as_str()).collect();
    let unused_links = map
        .links
        .keys()
        .filter(|k| !reached.contains(k.as_str()))
        .cloned()
        .collect();
    problems.sort();
    problems.dedup();
    Walk {
        edges: resolved,
        deleted,
        problems,
        unused_links,
    }
}

/// Link rules by (table, columns).
type LinkIndex<'a> = std::collections::HashMap<(&'a str, &'a [String]), &'a LinkSpec>;
