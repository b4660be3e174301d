//! The purge plan: the order of erasure steps, derived from the walk and the platform's
//! foreign keys (never hand-listed).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::datamap::BoundMap;
use crate::datamap::rule::{Action, Unlink};

/// One step of a purge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", content = "target", rename_all = "snake_case")]
pub enum Step {
    /// Create (or find) the subject's tombstone account.
    Tombstone,
    /// Rewrite the kept rows one edge reaches: cut the link, rewrite columns.
    Rewrite(String),
    /// Delete a table's rows (and the objects they name).
    Delete(String),
    /// Delete the subject row itself (and the objects it names).
    Subject,
}

impl Step {
    /// A stable label for reports and checkpoints.
    pub fn label(&self) -> String {
        match self {
            Self::Tombstone => "tombstone".into(),
            Self::Rewrite(edge) => format!("rewrite:{edge}"),
            Self::Delete(table) => format!("delete:{table}"),
            Self::Subject => "delete:subject".into(),
        }
    }
}

/// The ordered steps of a purge under one map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Steps, in the order they run.
    pub steps: Vec<Step>,
}

/// Derives the order: the tombstone (if any rule needs one); then every rewrite of kept
/// rows, while the rows they are reached through still exist (so a cascade can never take
/// a retained row); then deletes, referencing tables before the tables they reference;
/// then the subject row.
pub fn plan(map: &BoundMap) -> Plan {
    let mut steps = Vec::new();
    if map
        .walk
        .edges
        .iter()
        .any(|(_, t)| t.unlink == Some(Unlink::Tombstone))
    {
        steps.push(Step::Tombstone);
    }
    for (edge, t) in &map.walk.edges {
        if t.rewrites() {
            steps.push(Step::Rewrite(edge.label.clone()));
        }
    }
    let subject = map.map.subject.table.as_str();
    let tables: Vec<&str> = map
        .deleted_tables()
        .iter()
        .map(String::as_str)
        .filter(|t| *t != subject)
        .collect();
    // Hard order: a table deleted through a key goes before the table it points at.
    // Soft order: other keys between deleted tables (SET NULL), kept where acyclic, so
    // the database has less to detach.
    let hard: BTreeSet<(&str, &str)> = map
        .walk
        .edges
        .iter()
        .filter(|(e, t)| t.action == Action::Delete && !e.is_self() && e.parent != subject)
        .map(|(e, _)| (e.table.as_str(), e.parent.as_str()))
        .collect();
    let soft: BTreeSet<(&str, &str)> = map
        .catalog
        .foreign_keys
        .iter()
        .filter(|fk| {
            fk.table != fk.references
                && tables.contains(&fk.table.as_str())
                && tables.contains(&fk.references.as_str())
        })
        .map(|fk| (fk.table.as_str(), fk.references.as_str()))
        .filter(|edge| !hard.contains(edge))
        .collect();
    let all: BTreeSet<(&str, &str)> = hard.union(&soft).copied().collect();
    let order = topological(&tables, &all)
        .or_else(|| topological(&tables, &hard))
        .expect("the walk refuses cycles of deleting keys");
    steps.extend(order.into_iter().map(|t| Step::Delete(t.to_owned())));
    steps.push(Step::Subject);
    Plan { steps }
}

/// Kahn's algorithm over edges child -> parent (a child goes before its parent), ties
/// broken by the given order. `None` on a cycle.
fn topological<'a>(
    nodes: &[&'a str],
    edges: &BTreeSet<(&'a str, &'a str)>,
) -> Option<Vec<&'a str>> {
    let mut waiting: BTreeMap<&str, usize> = nodes.iter().map(|n| (*n, 0)).collect();
    for (child, parent) in edges {
        if waiting.contains_key(child)
            && let Some(n) = waiting.get_mut(parent)
        {
            *n += 1;
        }
    }
    let mut order = Vec::with_capacity(nodes.len());
    let mut done: BTreeSet<&str> = BTreeSet::new();
    while order.len() < nodes.len() {
        let next = nodes
            .iter()
            .find(|n| !done.contains(*n) && waiting[*n] == 0)?;
        done.insert(next);
        order.push(*next);
        for (child, parent) in edges {
            if child == next
                && let Some(n) = waiting.get_mut(parent)
            {
                *n -= 1;
            }
        }
    }
    Some(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referencing_tables_come_before_the_tables_they_reference() {
        let edges = BTreeSet::from([("comments", "images"), ("images", "users")]);
        let order = topological(&["users", "images", "comments"], &edges).unwrap();
        assert_eq!(order, ["comments", "images", "users"]);
        let cycle = BTreeSet::from([("a", "b"), ("b", "a")]);
        assert!(topological(&["a", "b"], &cycle).is_none());
    }
}
