//! SQL that selects a subject's rows, derived from the walk. Every deleted table gets a
//! common table expression of its deleted rows (recursive for self-references), built
//! from one `UNION` branch per edge so that each branch can use the index on its key
//! column. Statements select row ids (`ctid`) through these and act on them; the subject
//! key is the only value spliced in (Lethe read it from the platform itself).

use std::collections::{BTreeSet, HashMap};

use super::bind::{BoundMap, SubjectKey};
use super::catalog::{ident, literal};
use super::graph::Edge;

/// A selection of row ids (`lethe_ctid`) with the common table expressions it needs.
#[derive(Debug, Clone)]
pub struct Selection {
    ctes: Vec<String>,
    recursive: bool,
    /// `SELECT … AS lethe_ctid …`: the rows.
    pub select: String,
}

impl Selection {
    /// The `WITH` clause with `first` and `last` (each `name AS (…)`) around its own
    /// expressions: `last` may refer to any of them, and they to `first`.
    pub fn with_around(&self, first: &str, last: &str) -> String {
        let mut all = vec![first];
        all.extend(self.ctes.iter().map(String::as_str));
        all.push(last);
        format!(
            "WITH {}{} ",
            if self.recursive { "RECURSIVE " } else { "" },
            all.join(", ")
        )
    }

    /// The `WITH` clause to put in front of the statement (empty when none is needed).
    pub fn with(&self) -> String {
        if self.ctes.is_empty() {
            String::new()
        } else {
            format!(
                "WITH {}{} ",
                if self.recursive { "RECURSIVE " } else { "" },
                self.ctes.join(", ")
            )
        }
    }
}

/// The condition that row `child` points at row `parent` through the self-reference `e`.
fn child_of(e: &Edge, child: &str, parent: &str) -> String {
    e.columns
        .iter()
        .zip(&e.parent_columns)
        .map(|(c, p)| format!("{child}.{} = {parent}.{}", ident(c), ident(p)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// Builds selections for one subject, naming each table's expression once.
pub(crate) struct Builder<'a> {
    map: &'a BoundMap,
    subject: &'a SubjectKey,
    names: HashMap<String, String>,
    ctes: Vec<String>,
    recursive: bool,
}

impl<'a> Builder<'a> {
    pub(crate) fn new(map: &'a BoundMap, subject: &'a SubjectKey) -> Self {
        Self {
            map,
            subject,
            names: HashMap::new(),
            ctes: Vec::new(),
            recursive: false,
        }
    }

    fn finish(self, select: String) -> Selection {
        Selection {
            ctes: self.ctes,
            recursive: self.recursive,
            select,
        }
    }

    fn subject_literal(&self, sql_type: &str) -> String {
        format!("CAST({} AS {sql_type})", literal(self.subject.as_str()))
    }

    /// The condition (over `alias`) that a row reaches a deleted parent row through `edge`.
    fn edge_cond(&mut self, edge: &Edge, alias: &str) -> String {
        let map = self.map;
        let s = &map.map.subject;
        let child_cols: Vec<String> = edge
            .columns
            .iter()
            .map(|c| format!("{alias}.{}", ident(c)))
            .collect();
        let child_type = |c: &str| {
            map.column(&edge.table, c)
                .map_or("text".to_owned(), |i| i.sql_type.clone())
        };
        if edge.parent == s.table && edge.parent_columns == [s.key.clone()] {
            return format!(
                "{} = {}",
                child_cols[0],
                self.subject_literal(&child_type(&edge.columns[0]))
            );
        }
        let casts: Vec<String> = edge
            .parent_columns
            .iter()
            .zip(&edge.columns)
            .map(|(p, c)| format!("CAST(k.{} AS {})", ident(p), child_type(c)))
            .collect();
        let from = if edge.parent == s.table {
            format!(
                "{} k WHERE k.{} = {}",
                map.qualified_table(&s.table),
                ident(&s.key),
                self.subject_literal(map.key_type())
            )
        } else {
            format!("{} k", self.cte(&edge.parent))
        };
        format!(
            "({}) IN (SELECT {} FROM {from})",
            child_cols.join(", "),
            casts.join(", ")
        )
    }

    /// Columns of `table` that edges out of it reference.
    fn needed_columns(&self, table: &str) -> Vec<String> {
        let wanted: BTreeSet<&String> = self
            .map
            .walk
            .edges
            .iter()
            .filter(|(e, _)| e.parent == table)
            .flat_map(|(e, _)| e.parent_columns.iter())
            .collect();
        // Keep the table's column order, for stable SQL.
        self.map
            .catalog
            .columns(table)
            .unwrap_or_default()
            .iter()
            .filter(|c| wanted.contains(&c.name))
            .map(|c| c.name.clone())
            .collect()
    }

    /// The name of the expression holding `table`'s deleted rows (`lethe_ctid` and the
    /// columns children reference), defining it (and what it needs) on first use.
    pub(crate) fn cte(&mut self, table: &str) -> String {
        if let Some(name) = self.names.get(table) {
            return name.clone();
        }
        let name = format!("lethe_k{}", self.names.len());
        self.names.insert(table.to_owned(), name.clone());
        let edges: Vec<Edge> = self.map.delete_edges(table).into_iter().cloned().collect();
        let body = self.rows_of(table, &name, &edges);
        self.ctes.push(format!("{name} AS ({body})"));
        name
    }

    /// The body of an expression named `name` over `table`'s rows reached through `edges`:
    /// one `UNION` branch per edge, and the self-references among them followed to any
    /// depth.
    fn rows_of(&mut self, table: &str, name: &str, edges: &[Edge]) -> String {
        let columns = self.needed_columns(table);
        let (self_edges, base): (Vec<&Edge>, Vec<&Edge>) = edges.iter().partition(|e| e.is_self());
        let qualified = self.map.qualified_table(table);
        let list = |alias: &str| {
            let mut out = vec![format!("{alias}.ctid AS lethe_ctid")];
            out.extend(columns.iter().map(|c| format!("{alias}.{}", ident(c))));
            out.join(", ")
        };
        let mut branches: Vec<String> = Vec::new();
        for edge in base {
            let cond = self.edge_cond(edge, "x");
            branches.push(format!(
                "SELECT {} FROM {qualified} x WHERE {cond}",
                list("x")
            ));
        }
        let mut body = branches.join(" UNION ");
        if !self_edges.is_empty() {
            self.recursive = true;
            let join: Vec<String> = self_edges
                .iter()
                .map(|e| format!("({})", child_of(e, "c", "p")))
                .collect();
            body = format!(
                "{body} UNION SELECT {} FROM {qualified} c JOIN {name} p ON {}",
                list("c"),
                join.join(" OR ")
            );
        }
        body
    }
}

impl BoundMap {
    /// The rows of a deleted table (not the subject table) that a purge of `subject`
    /// deletes.
    pub fn deleted_rows(&self, table: &str, subject: &SubjectKey) -> Selection {
        let mut b = Builder::new(self, subject);
        let name = b.cte(table);
        b.finish(format!("SELECT d.lethe_ctid FROM {name} d"))
    }

    /// Like [`Self::deleted_rows`], but for a self-referencing table only rows that no
    /// other deleted row of the table points at (leaves first), so a batch never deletes a
    /// parent before its children: a deleting self-reference would otherwise cascade past
    /// the batch (and past the children's objects), and a SET NULL one would make the
    /// database rewrite children that are about to go. `None` when the table has no
    /// self-reference.
    pub fn deleted_leaves(&self, table: &str, subject: &SubjectKey) -> Option<Selection> {
        let self_edges = self.self_edges(table);
        if self_edges.is_empty() {
            return None;
        }
        let mut b = Builder::new(self, subject);
        let name = b.cte(table);
        let qualified = self.qualified_table(table);
        let children: Vec<String> = self_edges
            .iter()
            .map(|e| {
                format!(
                    "EXISTS (SELECT 1 FROM {qualified} c WHERE {} AND c.ctid IN (SELECT k.lethe_ctid FROM {name} k))",
                    child_of(e, "c", "d")
                )
            })
            .collect();
        Some(b.finish(format!(
            "SELECT d.lethe_ctid FROM {name} d WHERE NOT ({})",
            children.join(" OR ")
        )))
    }

    /// The rows reached through a kept edge (`detach`, `reassign`, `retain`, `anonymize`,
    /// `leave`) that are not also deleted, and that still match `needs` (a condition over
    /// alias `x`; `None` for all of them).
    pub fn edge_rows(&self, edge: &Edge, subject: &SubjectKey, needs: Option<&str>) -> Selection {
        let mut b = Builder::new(self, subject);
        let cond = b.edge_cond(edge, "x");
        let qualified = self.qualified_table(&edge.table);
        let not_deleted = if self.deleted_tables().contains(&edge.table)
            && edge.table != self.map.subject.table
        {
            let name = b.cte(&edge.table);
            format!(" AND x.ctid NOT IN (SELECT d.lethe_ctid FROM {name} d)")
        } else if edge.table == self.map.subject.table {
            format!(
                " AND x.{} <> {}",
                ident(&self.map.subject.key),
                b.subject_literal(self.key_type())
            )
        } else {
            String::new()
        };
        let needs = needs.map(|n| format!(" AND ({n})")).unwrap_or_default();
        b.finish(format!(
            "SELECT x.ctid AS lethe_ctid FROM {qualified} x WHERE {cond}{not_deleted}{needs}"
        ))
    }

    /// The rows of `table` an access export holds: the subject's own row, or the rows of
    /// every edge into the table whose treatment exports them. `None` when no rows of the
    /// table are exported.
    pub fn exported_rows(&self, table: &str, subject: &SubjectKey) -> Option<Selection> {
        let mut b = Builder::new(self, subject);
        if table == self.map.subject.table {
            let s = &self.map.subject;
            let cond = format!(
                "x.{} = {}",
                ident(&s.key),
                b.subject_literal(self.key_type())
            );
            return Some(b.finish(format!(
                "SELECT x.ctid AS lethe_ctid FROM {} x WHERE {cond}",
                self.qualified_table(table)
            )));
        }
        let edges: Vec<Edge> = self
            .walk
            .edges
            .iter()
            .filter(|(e, t)| e.table == table && t.export)
            .map(|(e, _)| e.clone())
            .collect();
        if edges.is_empty() {
            return None;
        }
        let self_export = edges.iter().any(|e| e.is_self());
        if self_export {
            // A tree: the exported roots, then everything below them through the
            // exported self-references.
            let tree: Vec<Edge> = edges
                .iter()
                .filter(|e| !e.is_self() || self.delete_edges(table).contains(e))
                .cloned()
                .collect();
            let name = "lethe_export".to_owned();
            b.names.insert(format!("{table}#export"), name.clone());
            let body = b.rows_of(table, &name, &tree);
            b.ctes.push(format!("{name} AS ({body})"));
            return Some(b.finish(format!("SELECT d.lethe_ctid FROM {name} d")));
        }
        let qualified = self.qualified_table(table);
        let branches: Vec<String> = edges
            .iter()
            .map(|edge| {
                let cond = b.edge_cond(edge, "x");
                format!("SELECT x.ctid AS lethe_ctid FROM {qualified} x WHERE {cond}")
            })
            .collect();
        Some(b.finish(branches.join(" UNION ")))
    }
}

impl BoundMap {
    /// The self-references of `table` (edges from the table to itself).
    pub fn self_edges(&self, table: &str) -> Vec<&Edge> {
        self.walk
            .edges
            .iter()
            .filter(|(e, _)| e.table == table && e.is_self())
            .map(|(e, _)| e)
            .collect()
    }

    /// The expressions (a [`Selection`] without its select) and a condition over `alias`
    /// that a row among `batch` (an SQL
    /// `tid[]` expression) of the deleted table `table` is still one of the subject's:
    /// for re-checking rows just before they (or their objects) are deleted. Without a
    /// self-reference it is the edges' conditions; with one, each row of the batch is
    /// followed up its self-references until a row that an edge reaches, so the cost
    /// follows the batch and its ancestors, not all of the subject's rows.
    pub fn batch_condition(
        &self,
        table: &str,
        subject: &SubjectKey,
        alias: &str,
        batch: &str,
    ) -> (Selection, String) {
        let mut b = Builder::new(self, subject);
        let edges: Vec<Edge> = self.delete_edges(table).into_iter().cloned().collect();
        let (self_edges, base): (Vec<&Edge>, Vec<&Edge>) = edges.iter().partition(|e| e.is_self());
        let reached = |b: &mut Builder, alias: &str| {
            let conds: Vec<String> = base.iter().map(|e| b.edge_cond(e, alias)).collect();
            if conds.is_empty() {
                "false".to_owned()
            } else {
                format!("({})", conds.join(" OR "))
            }
        };
        if self_edges.is_empty() {
            let cond = reached(&mut b, alias);
            return (b.finish(String::new()), cond);
        }
        // The columns a row points at its parent with, carried up the chain.
        let mut carried: Vec<&String> = Vec::new();
        for c in self_edges.iter().flat_map(|e| e.columns.iter()) {
            if !carried.contains(&c) {
                carried.push(c);
            }
        }
        let list = |a: &str| {
            carried
                .iter()
                .map(|c| format!(", {a}.{}", ident(c)))
                .collect::<String>()
        };
        let qualified = self.qualified_table(table);
        let seed = format!(
            "SELECT x.ctid AS lethe_origin, {} AS lethe_ok{} FROM {qualified} x WHERE x.ctid = ANY({batch})",
            reached(&mut b, "x"),
            list("x")
        );
        let up: Vec<String> = self_edges
            .iter()
            .map(|e| format!("({})", child_of(e, "u", "p")))
            .collect();
        let step = format!(
            "SELECT u.lethe_origin, {} AS lethe_ok{} FROM lethe_up u JOIN {qualified} p ON {} WHERE NOT u.lethe_ok",
            reached(&mut b, "p"),
            list("p"),
            up.join(" OR ")
        );
        b.recursive = true;
        b.ctes.push(format!("lethe_up AS ({seed} UNION {step})"));
        (
            b.finish(String::new()),
            format!("{alias}.ctid IN (SELECT u.lethe_origin FROM lethe_up u WHERE u.lethe_ok)"),
        )
    }
}
