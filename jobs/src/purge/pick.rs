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

/// A filled pick table of one step, and how far taking from it has got.
pub(super) struct Pick {
    /// `NOT (…)` over `p`: no other row left in the pick points at `p` (for tables with a
    /// self-reference, which are taken leaves first). `None` without one.
    leaf: Option<String>,
    /// Rows picked, numbered 1 to `rows` (`lethe_n`).
    rows: i64,
    /// Where taking stands.
    at: At,
}

/// Where taking from a pick stands.
#[derive(Debug, Clone, Copy, PartialEq)]
enum At {
    /// Sweeping the numbers in windows of a batch: the rows numbered above this are next
    /// (for a tree, only the leaves among them; the others stay for later).
    Sweep(i64),
    /// Taking what a tree's sweep left, by the `n`-th of [`Pick::conditions`]: leaves
    /// first, then (rows in a cycle or above one) any.
    Rest(usize),
    /// Nothing left to take.
    Done,
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
            diesel::sql_query(sql).execute(&mut *conn).await?;
        }
        let rows: Vec<TextRow> = diesel::sql_query(format!(
            "SELECT coalesce(max(lethe_n), 0)::text AS v FROM {TABLE}"
        ))
        .load(conn)
        .await?;
        let rows: i64 = <[_]>::first(&rows)
            .and_then(|r| r.v.parse().ok())
            .unwrap_or(0);
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
        Ok(Self {
            leaf,
            rows,
            at: At::Sweep(0),
        })
    }

    /// The conditions (over `p`) a tree's leftovers are taken by, in turn: leaves, then
    /// any (rows in a cycle or above one).
    fn conditions(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.leaf.iter().map(String::as_str).collect();
        out.push("true");
        out
    }

    /// A statement yielding `lethe_c` of the next batch of up to `n` rows it takes out of
    /// the pick, or `None` when there is nothing left. [`Self::taken`] must follow with
    /// how many it yielded. The sweep reads each window once by number (an index range);
    /// a tree's leaves are removed from the pick as they are taken, so that their parents
    /// become leaves for the rows the sweep left.
    fn next(&self, n: usize) -> Option<String> {
        match self.at {
            At::Sweep(from) => {
                let window = format!("p.lethe_n > {from} AND p.lethe_n <= {}", from + n as i64);
                Some(match &self.leaf {
                    Some(leaf) => format!(
                        "DELETE FROM {TABLE} p WHERE {window} AND {leaf} RETURNING p.lethe_c"
                    ),
                    None => format!("SELECT p.lethe_c FROM {TABLE} p WHERE {window}"),
                })
            }
            At::Rest(i) => Some(format!(
                "DELETE FROM {TABLE} WHERE lethe_n = ANY(ARRAY(SELECT p.lethe_n FROM {TABLE} p WHERE {} ORDER BY p.lethe_n LIMIT {n})) RETURNING lethe_c",
                self.conditions()[i]
            )),
            At::Done => None,
        }
    }

    /// Moves on after the statement of [`Self::next`] took `count` rows.
    pub fn taken(&mut self, n: usize, count: usize) {
        self.at = match self.at {
            At::Sweep(from) if from + (n as i64) < self.rows => At::Sweep(from + n as i64),
            At::Sweep(_) if self.leaf.is_some() => At::Rest(0),
            At::Sweep(_) => At::Done,
            At::Rest(_) if count > 0 => At::Rest(0),
            At::Rest(i) if i + 1 < self.conditions().len() => At::Rest(i + 1),
            At::Rest(_) | At::Done => At::Done,
        };
    }

    /// Takes the next rows out of the pick (up to `n`, perhaps none from a window of a
    /// tree's sweep); `None` when nothing is left.
    pub async fn take(
        &mut self,
        conn: &mut AsyncPgConnection,
        n: usize,
    ) -> anyhow::Result<Option<Vec<String>>> {
        let Some(statement) = self.next(n) else {
            return Ok(None);
        };
        let rows: Vec<TextRow> = diesel::sql_query(format!(
            "WITH lethe_taken AS ({statement}) SELECT lethe_c::text AS v FROM lethe_taken"
        ))
        .load(&mut *conn)
        .await?;
        let ctids: Vec<String> = rows.into_iter().map(|r| r.v).collect();
        anyhow::ensure!(ctids.iter().all(|c| valid_ctid(c)), "unexpected ctid");
        self.taken(n, ctids.len());
        Ok(Some(ctids))
    }

    /// One statement that takes the next rows out of the pick (as `lethe_taken`, before
    /// `with`'s expressions) and deletes those of them from `qualified` (alias `d`) that
    /// `recheck` keeps, yielding how many it took and deleted; `None` when nothing is
    /// left. [`Self::taken`] must follow.
    pub fn take_and_delete(
        &self,
        with: &Selection,
        qualified: &str,
        recheck: &str,
        n: usize,
    ) -> Option<String> {
        let taken = format!("lethe_taken AS ({})", self.next(n)?);
        let gone = format!(
            "lethe_gone AS (DELETE FROM {qualified} d WHERE d.ctid = ANY(ARRAY(SELECT t.lethe_c FROM lethe_taken t)) AND {recheck} RETURNING 1)"
        );
        Some(format!(
            "{}SELECT (SELECT count(*) FROM lethe_taken) AS taken, (SELECT count(*) FROM lethe_gone) AS deleted",
            with.with_around(&taken, &gone)
        ))
    }

    /// Drops the pick table.
    pub async fn drop(conn: &mut AsyncPgConnection) -> anyhow::Result<()> {
        diesel::sql_query(format!("DROP TABLE IF EXISTS {TABLE}"))
            .execute(conn)
            .await?;
        Ok(())
    }
}
