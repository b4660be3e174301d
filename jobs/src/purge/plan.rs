//! The purge plan: the order of erasure steps, derived from the data map and the
//! platform's foreign keys (never hand-listed).

use serde::{Deserialize, Serialize};

use anyhow::Context;

use crate::datamap::BoundMap;
use crate::datamap::bind::rewrite_rules;
use crate::datamap::catalog::OnDelete;
use crate::datamap::spec::Erase;

/// One step of a purge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", content = "entry", rename_all = "snake_case")]
pub enum Step {
    /// Rewrite columns of an entry's rows (anonymize, retain's anonymize, detach).
    Rewrite(String),
    /// Point retained rows at the placeholder account.
    Reassign(String),
    /// Delete an entry's rows (and the objects they name).
    Delete(String),
    /// Delete the objects under a subject prefix.
    Prefix(String),
    /// Delete the subject row itself.
    Subject,
}

impl Step {
    /// A stable label for reports and checkpoints.
    pub fn label(&self) -> String {
        match self {
            Self::Rewrite(e) => format!("rewrite:{e}"),
            Self::Reassign(e) => format!("reassign:{e}"),
            Self::Delete(e) => format!("delete:{e}"),
            Self::Prefix(e) => format!("prefix:{e}"),
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

/// Derives the order: rewrites first (while the rows they reach through parents still
/// exist), then reassignments, then deletes with referencing tables before the tables
/// they reference (from the catalog's foreign keys, never hand-listed), then prefixed
/// objects, then the subject row.
pub fn plan(map: &BoundMap) -> anyhow::Result<Plan> {
    let mut steps = Vec::new();
    for t in &map.tables {
        if !rewrite_rules(&t.spec.erase).is_empty() || matches!(t.spec.erase, Erase::Detach { .. })
        {
            steps.push(Step::Rewrite(t.spec.name.clone()));
        }
    }
    for t in &map.tables {
        if let Erase::Retain { reassign: true, .. } = t.spec.erase {
            steps.push(Step::Reassign(t.spec.name.clone()));
        }
    }
    let deletes: Vec<&crate::datamap::BoundTable> = map
        .tables
        .iter()
        .filter(|t| matches!(t.spec.erase, Erase::Delete))
        .collect();
    let tables: Vec<&str> = {
        let mut seen = Vec::new();
        for t in &deletes {
            if !seen.contains(&t.spec.table_name()) {
                seen.push(t.spec.table_name());
            }
        }
        seen
    };
    // Edges child -> parent between distinct delete tables; SET NULL edges are dropped if
    // they close a cycle (the database detaches those rows by itself).
    let mut edges: Vec<(&str, &str, OnDelete)> = map
        .foreign_keys
        .iter()
        .filter(|fk| {
            fk.table != fk.references
                && tables.contains(&fk.table.as_str())
                && tables.contains(&fk.references.as_str())
        })
        .map(|fk| (fk.table.as_str(), fk.references.as_str(), fk.on_delete))
        .collect();
    let order = match topological(&tables, &edges) {
        Some(order) => order,
        None => {
            edges.retain(|(_, _, rule)| *rule != OnDelete::SetNull);
            topological(&tables, &edges).context("the foreign keys between deleted tables form a cycle with no SET NULL link to break it")?
        }
    };
    for table in order {
        for t in deletes.iter().filter(|t| t.spec.table_name() == table) {
            steps.push(Step::Delete(t.spec.name.clone()));
        }
    }
    for o in map.map.objects.iter().filter(|o| o.prefix.is_some()) {
        steps.push(Step::Prefix(o.name.clone()));
    }
    if matches!(map.map.subject.erase, Erase::Delete) {
        steps.push(Step::Subject);
    } else {
        anyhow::bail!(
            "the subject row must be deleted (subject.erase = {{ action = \"delete\" }})"
        );
    }
    Ok(Plan { steps })
}

/// Kahn's algorithm, ties broken by the given order. `None` on a cycle.
fn topological<'a>(
    nodes: &[&'a str],
    edges: &[(&'a str, &'a str, OnDelete)],
) -> Option<Vec<&'a str>> {
    let mut remaining: Vec<&str> = nodes.to_vec();
    let mut order = Vec::new();
    while !remaining.is_empty() {
        // A table can go once no remaining table references it.
        let next = remaining.iter().position(|n| {
            !edges
                .iter()
                .any(|(child, parent, _)| parent == n && remaining.contains(child) && child != n)
        })?;
        order.push(remaining.remove(next));
    }
    Some(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referencing_tables_come_before_the_tables_they_reference() {
        let edges = [
            ("comments", "images", OnDelete::Cascade),
            ("images", "users", OnDelete::Cascade),
        ];
        let order = topological(&["users", "images", "comments"], &edges).unwrap();
        assert_eq!(order, ["comments", "images", "users"]);
        let cycle = [
            ("a", "b", OnDelete::Restrict),
            ("b", "a", OnDelete::SetNull),
        ];
        assert!(topological(&["a", "b"], &cycle).is_none());
    }
}
