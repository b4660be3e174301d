//! The rest of a deleted table's rows, selected once: when a step's first batch shows more
//! rows than a batch holds, their ids go into a temporary table on the step's connection,
//! and later batches take from it instead of evaluating the subject's selection (a union of
//! paths, perhaps recursive) again each time. Taken rows are still re-checked against the
//! subject when they are deleted, and the step then selects afresh, so rows written or
//! moved meanwhile are still caught.

use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::TextRow;
use super::objects::valid_ctid;
use crate::datamap::catalog::ident;
use crate::datamap::reach::Selection;
use crate::datamap::{BoundMap, graph::Edge};

/// The temporary table's name; it lives only in the step's session.
const TABLE: &str = "pg_temp.lethe_pick";

/// A filled pick table of one step.
pub(super) struct Pick {
    /// `NOT (…)` over `p`: no other row left in the pick points at `p` (for tables with a
    /// self-reference, which are taken leaves first). `None` without one.
    leaf: Option<String>,
}

impl Pick {
    /// Fills the pick table with the rows `all` selects from `table` (and, for a table
    /// with self-references, the columns they link through), indexed for taking.
    pub async fn fill(
        conn: &mut AsyncPgConnection,
        map: &BoundMap,
        table: &str,
        all: &Selection,
    ) -> anyhow::Result<Self> {
        let self_edges: Vec<&Edge> = map.self_edges(table);
        let mut columns: Vec<&String> = Vec::new();
        for c in self_edges
            .iter()
            .flat_map(|e| e.columns.iter().chain(&e.parent_columns))
        {
            if !columns.contains(&c) {
                columns.push(c);
            }
        }
        let list: String = columns
            .iter()
            .map(|c| format!(", x.{}", ident(c)))
            .collect();
        let fill = format!(
            "CREATE TEMPORARY TABLE lethe_pick AS {}SELECT row_number() OVER () AS lethe_n, x.ctid AS lethe_c{list} FROM {} x WHERE x.ctid = ANY(ARRAY({}))",
            all.with(),
            map.qualified_table(table),
            all.select
        );
        let mut statements = vec![format!("DROP TABLE IF EXISTS {TABLE}"), fill];
        statements.push(format!("CREATE INDEX ON {TABLE} (lethe_n)"));
        for e in &self_edges {
            let cols: Vec<String> = e.columns.iter().map(|c| ident(c)).collect();
            statements.push(format!("CREATE INDEX ON {TABLE} ({})", cols.join(", ")));
        }
        statements.push(format!("ANALYZE {TABLE}"));
        for sql in statements {
            diesel::sql_query(sql).execute(conn).await?;
        }
        let leaf = (!self_edges.is_empty()).then(|| {
            let children: Vec<String> = self_edges
                .iter()
                .map(|e| {
                    let on: Vec<String> = e
                        .columns
                        .iter()
                        .zip(&e.parent_columns)
                        .map(|(c, p)| format!("q.{} = p.{}", ident(c), ident(p)))
                        .collect();
                    format!(
                        "EXISTS (SELECT 1 FROM {TABLE} q WHERE {} AND q.lethe_c <> p.lethe_c)",
                        on.join(" AND ")
                    )
                })
                .collect();
            format!("NOT ({})", children.join(" OR "))
        });
        Ok(Self { leaf })
    }

    /// The conditions (over `p`) rows are taken by, in turn: leaves first for a
    /// self-referencing table, and when only rows in a cycle (or above one) are left, any.
    pub fn conditions(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.leaf.iter().map(String::as_str).collect();
        out.push("true");
        out
    }

    /// Takes up to `n` rows out of the pick, in the order they were selected, by the first
    /// of [`Self::conditions`] that finds any. Empty when the pick is empty.
    pub async fn take(
        &self,
        conn: &mut AsyncPgConnection,
        n: usize,
    ) -> anyhow::Result<Vec<String>> {
        for cond in self.conditions() {
            let rows: Vec<TextRow> = diesel::sql_query(format!(
                "DELETE FROM {TABLE} WHERE lethe_n = ANY({}) RETURNING lethe_c::text AS v",
                taking(cond, n)
            ))
            .load(&mut *conn)
            .await?;
            let ctids: Vec<String> = rows.into_iter().map(|r| r.v).collect();
            anyhow::ensure!(ctids.iter().all(|c| valid_ctid(c)), "unexpected ctid");
            if !ctids.is_empty() {
                return Ok(ctids);
            }
        }
        Ok(Vec::new())
    }

    /// One statement that takes up to `n` rows matching `cond` out of the pick (as
    /// `lethe_taken`, before `with`'s expressions) and deletes those of them from
    /// `qualified` (alias `d`) that `recheck` keeps, yielding how many it took and deleted.
    pub fn take_and_delete(
        with: &Selection,
        qualified: &str,
        recheck: &str,
        cond: &str,
        n: usize,
    ) -> String {
        let taken = format!(
            "lethe_taken AS (DELETE FROM {TABLE} WHERE lethe_n = ANY({}) RETURNING lethe_c)",
            taking(cond, n)
        );
        let gone = format!(
            "lethe_gone AS (DELETE FROM {qualified} d WHERE d.ctid = ANY(ARRAY(SELECT t.lethe_c FROM lethe_taken t)) AND {recheck} RETURNING 1)"
        );
        format!(
            "{}SELECT (SELECT count(*) FROM lethe_taken) AS taken, (SELECT count(*) FROM lethe_gone) AS deleted",
            with.with_around(&taken, &gone)
        )
    }

    /// Drops the pick table.
    pub async fn drop(conn: &mut AsyncPgConnection) -> anyhow::Result<()> {
        diesel::sql_query(format!("DROP TABLE IF EXISTS {TABLE}"))
            .execute(conn)
            .await?;
        Ok(())
    }
}

/// The numbers of the first `n` rows left in the pick that match `cond` (over `p`).
fn taking(cond: &str, n: usize) -> String {
    format!("ARRAY(SELECT p.lethe_n FROM {TABLE} p WHERE {cond} ORDER BY p.lethe_n LIMIT {n})")
}
