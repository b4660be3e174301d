//! The walk's static checks: each edge's treatment against the catalog (NOT NULL and
//! unique columns, retention, column rules), and cycles of deleting keys.

use std::collections::BTreeMap;

use crate::datamap::catalog::{Catalog, OnDelete};
use crate::datamap::rule::{Action, ColumnRule, Unlink, is_todo};
use crate::datamap::spec::DataMap;

use super::{Edge, Problem, RuleSource, Treatment, problem};

/// Static checks of one edge's treatment against the catalog.
pub(super) fn check_edge(
    map: &DataMap,
    catalog: &Catalog,
    edge: &Edge,
    t: &Treatment,
    problems: &mut Vec<Problem>,
) {
    let entry = edge.label.as_str();
    let rule_entry = match t.source {
        RuleSource::Table => format!("tables.{}", edge.table),
        _ => format!("links.\"{entry}\""),
    };
    let rule_column = |column: &str| catalog.column(&edge.table, column);
    match &t.action {
        Action::Undecided(text) => {
            problems.push(problem(&rule_entry, if is_todo(text) { format!("undecided action `{text}`") } else { text.clone() }));
            return;
        }
        Action::Leave if edge.removes_or_blocks() => problems.push(problem(
            &rule_entry,
            format!(
                "`leave` on {entry}, whose foreign key is ON DELETE {}: the database would {} these rows; delete, detach, reassign or retain them",
                edge.on_delete.map_or("", OnDelete::sql),
                if edge.on_delete == Some(OnDelete::Cascade) { "delete" } else { "refuse to delete the subject because of" }
            ),
        )),
        Action::Retain | Action::Anonymize if edge.removes_or_blocks() && t.unlink.is_none() => problems.push(problem(
            &rule_entry,
            format!(
                "kept rows of {entry} would be {} by the database (ON DELETE {}); add unlink = \"null\", \"placeholder\" or \"tombstone\"",
                if edge.on_delete == Some(OnDelete::Cascade) { "deleted" } else { "blocking the delete" },
                edge.on_delete.map_or("", OnDelete::sql)
            ),
        )),
        Action::Retain => {
            match &t.basis {
                None => problems.push(problem(&rule_entry, "`retain` needs `basis` and `period`")),
                Some((basis, period)) => {
                    if basis.trim().is_empty() || is_todo(basis) {
                        problems.push(problem(&rule_entry, "the legal basis is undecided"));
                    }
                    if period.trim().is_empty() || is_todo(period) {
                        problems.push(problem(&rule_entry, "the retention period is undecided"));
                    }
                }
            }
        }
        _ => {}
    }
    if edge.on_delete == Some(OnDelete::SetNull)
        && t.action.keeps_rows()
        && t.unlink.is_none()
        && let Some(c) = edge
            .columns
            .iter()
            .find(|c| rule_column(c).is_some_and(|c| c.not_null))
    {
        problems.push(problem(
            &rule_entry,
            format!(
                "`{}.{c}` is NOT NULL, so the database's ON DELETE SET NULL fails when the subject's row goes; reassign or delete these rows",
                edge.table
            ),
        ));
    }
    if let Some(unlink) = &t.unlink {
        let in_unique = catalog
            .unique_keys
            .iter()
            .filter(|k| {
                k.table == edge.table
                    && !k.columns.is_empty()
                    && edge.columns.iter().all(|c| k.columns.contains(c))
            })
            .collect::<Vec<_>>();
        match unlink {
            Unlink::Undecided(text) => problems.push(problem(&rule_entry, format!("undecided unlink `{text}`"))),
            Unlink::Null => {
                if let Some(c) = edge
                    .unlinked_columns(&map.subject.table, &map.subject.key)
                    .into_iter()
                    .find(|c| rule_column(c).is_some_and(|c| c.not_null))
                {
                    problems.push(problem(
                        &rule_entry,
                        format!("`{}.{c}` is NOT NULL, so it cannot be set to NULL; reassign it instead", edge.table),
                    ));
                }
                if let Some(k) = in_unique.iter().find(|k| k.nulls_not_distinct) {
                    problems.push(problem(&rule_entry, format!("unique key {} treats NULLs as equal; reassign to a tombstone instead", k.name)));
                }
            }
            Unlink::Placeholder | Unlink::Tombstone if edge.parent != map.subject.table => problems.push(problem(
                &rule_entry,
                format!("{entry} points at `{}`, not at the subject table: only unlink = \"null\" can cut it", edge.parent),
            )),
            Unlink::Placeholder => {
                match map.subject.placeholder.as_deref() {
                    None => problems.push(problem(&rule_entry, "reassigning needs subject.placeholder")),
                    Some(p) if is_todo(p) => {} // reported once for the subject
                    Some(_) => {}
                }
                if let Some(k) = in_unique.first() {
                    problems.push(problem(
                        &rule_entry,
                        format!(
                            "{entry} is in unique key {}: rows of several subjects reassigned to one placeholder would collide; use unlink = \"tombstone\"",
                            k.name
                        ),
                    ));
                }
                if edge.columns.len() != 1 {
                    problems.push(problem(&rule_entry, "a composite link can only be cut with unlink = \"null\""));
                }
            }
            Unlink::Tombstone => {
                if map.subject.tombstone.is_none() {
                    problems.push(problem(&rule_entry, "unlink = \"tombstone\" needs subject.tombstone"));
                }
                if edge.columns.len() != 1 {
                    problems.push(problem(&rule_entry, "a composite link can only be cut with unlink = \"null\""));
                }
            }
        }
    }
    for (column, rule) in &t.anonymize {
        let Some(info) = rule_column(column) else {
            problems.push(problem(
                &rule_entry,
                format!(
                    "anonymize names `{}.{column}`, which does not exist",
                    edge.table
                ),
            ));
            continue;
        };
        let fits = match rule {
            ColumnRule::Null => !info.not_null,
            ColumnRule::Hash => info.is_text(),
            ColumnRule::Redact => info.is_text() || info.is_json() || info.is_text_array(),
            ColumnRule::JsonPaths(paths) => {
                for path in paths {
                    if path.is_empty() || !path.split('.').all(|s| !s.is_empty()) {
                        problems.push(problem(
                            &rule_entry,
                            format!("json path `{path}` must be dot-separated names"),
                        ));
                    }
                }
                info.sql_type == "jsonb"
            }
            ColumnRule::Value(_) => true,
        };
        if !fits {
            problems.push(problem(
                &rule_entry,
                format!(
                    "`{}.{column}` is {}{}, which rule `{}` cannot rewrite",
                    edge.table,
                    info.sql_type,
                    if info.not_null { " NOT NULL" } else { "" },
                    rule.name()
                ),
            ));
        }
    }
}

/// A cycle of `delete` edges between distinct tables, if any (self-references are fine).
pub(super) fn delete_cycle(edges: &[(Edge, Treatment)]) -> Option<Vec<String>> {
    let graph: BTreeMap<&str, Vec<&str>> = edges
        .iter()
        .filter(|(e, t)| t.action == Action::Delete && !e.is_self())
        .fold(BTreeMap::new(), |mut g, (e, _)| {
            g.entry(e.parent.as_str())
                .or_default()
                .push(e.table.as_str());
            g
        });
    // Depth-first search with colours.
    fn visit<'a>(
        node: &'a str,
        graph: &BTreeMap<&'a str, Vec<&'a str>>,
        state: &mut BTreeMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        state.insert(node, 1);
        stack.push(node);
        for next in graph.get(node).into_iter().flatten() {
            match state.get(next) {
                Some(1) => {
                    let start = stack.iter().position(|n| n == next).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        stack[start..].iter().map(|s| (*s).to_owned()).collect();
                    cycle.push((*next).to_owned());
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(next, graph, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(node, 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if !state.contains_key(node)
            && let Some(c) = visit(node, &graph, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}
