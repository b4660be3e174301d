//! The walk: from the subject table through every foreign key and declared soft link into
//! tables whose rows are deleted, each edge's rule resolved (the link's own rule, else the
//! child table's rule, else the key's delete rule). Rows reached by `delete` are the
//! subject's and the walk goes on below them; rows reached by any other action are not,
//! and the walk stops there. Everything here is static (map + catalog); the problems it
//! finds make `lethe datamap check` and start-up refuse the map.

use std::collections::{BTreeMap, BTreeSet};

use super::catalog::{Catalog, OnDelete};
use super::rule::{Action, ColumnRule, Unlink, is_todo};
use super::spec::{DataMap, LinkKey, LinkSpec, RuleRef};

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

/// Every edge of the schema: foreign keys and the map's declared soft links.
pub fn all_edges(map: &DataMap, catalog: &Catalog, problems: &mut Vec<Problem>) -> Vec<Edge> {
    let mut edges: Vec<Edge> = catalog
        .foreign_keys
        .iter()
        .map(|fk| Edge {
            label: LinkKey::render(&fk.table, &fk.columns),
            table: fk.table.clone(),
            columns: fk.columns.clone(),
            parent: fk.references.clone(),
            parent_columns: fk.referenced_columns.clone(),
            on_delete: Some(fk.on_delete),
            constraint: Some(fk.name.clone()),
        })
        .collect();
    for (key, link) in map.links.iter().filter(|(_, l)| l.soft) {
        let entry = format!("links.\"{key}\"");
        let Some(from) = LinkKey::parse(key) else {
            continue;
        };
        let (parent, parent_columns) = match &link.to {
            Some(to) => {
                let to = LinkKey::parse(to).expect("checked by parse");
                (to.table, to.columns)
            }
            None => (map.subject.table.clone(), vec![map.subject.key.clone()]),
        };
        if catalog.columns(&from.table).is_none() {
            problems.push(problem(
                &entry,
                format!("table `{}` does not exist", from.table),
            ));
            continue;
        }
        let missing: Vec<&String> = from
            .columns
            .iter()
            .filter(|c| catalog.column(&from.table, c).is_none())
            .collect();
        if !missing.is_empty() {
            problems.push(problem(
                &entry,
                format!("column `{}.{}` does not exist", from.table, missing[0]),
            ));
            continue;
        }
        if let Some(c) = parent_columns
            .iter()
            .find(|c| catalog.column(&parent, c).is_none())
        {
            problems.push(problem(
                &entry,
                format!("soft-link target `{parent}.{c}` does not exist"),
            ));
            continue;
        }
        if parent_columns.len() != from.columns.len() {
            problems.push(problem(
                &entry,
                format!(
                    "{} columns cannot point at {} target columns",
                    from.columns.len(),
                    parent_columns.len()
                ),
            ));
            continue;
        }
        if edges
            .iter()
            .any(|e| e.table == from.table && e.columns == from.columns && e.parent == parent)
        {
            problems.push(problem(
                &entry,
                "this column already has a foreign key; drop `soft = true`",
            ));
            continue;
        }
        edges.push(Edge {
            label: key.clone(),
            table: from.table,
            columns: from.columns,
            parent,
            parent_columns,
            on_delete: None,
            constraint: None,
        });
    }
    edges.sort_by(|a, b| (&a.table, &a.columns, &a.parent).cmp(&(&b.table, &b.columns, &b.parent)));
    edges
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

/// The rule for an edge: link, then table, then delete rule. `owned`: the edge's table has
/// a link of its own into the subject table.
fn resolve(map: &DataMap, links: &LinkIndex<'_>, edge: &Edge, owned: bool) -> Treatment {
    let link = links
        .get(&(edge.table.as_str(), edge.columns.as_slice()))
        .copied();
    let (rule, source): (Option<RuleRef<'_>>, RuleSource) =
        match (link, map.tables.get(&edge.table)) {
            (Some(l), _) if l.action.is_some() => (Some(l.rule()), RuleSource::Link),
            (_, Some(t)) if t.action.is_some() => (Some(t.rule()), RuleSource::Table),
            (Some(l), _) => (Some(l.rule()), RuleSource::DeleteRule),
            (None, Some(t)) => (Some(t.rule()), RuleSource::DeleteRule),
            (None, None) => (None, RuleSource::DeleteRule),
        };
    let retention_without_action = rule.is_some_and(|r| {
        r.action.is_none() && (r.basis.is_some() || r.period.is_some() || r.unlink.is_some())
    });
    let action = match rule.and_then(|r| r.action) {
        Some(action) => action.clone(),
        // A basis, period or unlink says rows should stay; falling back to a CASCADE key's
        // delete would silently do the opposite.
        None if retention_without_action => Action::Undecided(
            "undecided: the rule states a legal basis, period or unlink but no action; write action = \"retain\" (or another)".into(),
        ),
        None => match edge.on_delete {
            Some(OnDelete::Cascade) => Action::Delete,
            Some(OnDelete::SetNull) => Action::Leave,
            Some(OnDelete::Restrict) => Action::Undecided(format!(
                "undecided: ON DELETE RESTRICT ({}); decide delete, detach, reassign or retain",
                edge.constraint.as_deref().unwrap_or("")
            )),
            None => Action::Undecided("undecided: a soft link needs an action".into()),
        },
    };
    let unlink = match &action {
        Action::Detach => Some(Unlink::Null),
        Action::Reassign => Some(
            rule.and_then(|r| r.unlink)
                .cloned()
                .unwrap_or(Unlink::Placeholder),
        ),
        Action::Retain | Action::Anonymize | Action::Leave => rule.and_then(|r| r.unlink).cloned(),
        Action::Delete | Action::Undecided(_) => None,
    };
    let anonymize = rule.map(|r| r.anonymize.clone()).unwrap_or_default();
    // Exported by default: the subject's own rows (deleted or retained through a link into
    // the subject table), and rows below them in tables with no owner column of their own.
    let through_subject = edge.parent == map.subject.table;
    let export = rule.and_then(|r| r.export).unwrap_or(
        matches!(action, Action::Delete | Action::Retain) && (through_subject || !owned),
    );
    let basis = match (rule.and_then(|r| r.basis), rule.and_then(|r| r.period)) {
        (Some(b), Some(p)) => Some((b.to_owned(), p.to_owned())),
        (Some(b), None) => Some((b.to_owned(), String::new())),
        _ => None,
    };
    Treatment {
        action,
        source,
        unlink,
        anonymize,
        export,
        basis,
    }
}

/// Static checks of one edge's treatment against the catalog.
fn check_edge(
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
fn delete_cycle(edges: &[(Edge, Treatment)]) -> Option<Vec<String>> {
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
