//! The rehearsal (staff's dry run): the whole plan executed, one statement per step,
//! inside one transaction that is always rolled back. Counts are exact — PostgreSQL's own
//! counters, so rows the database cascades or detaches and rows triggers write are in
//! them — and a constraint or trigger failure shows, with the step, table and constraint
//! named, before anything is touched. Objects are listed and counted, never deleted.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

use super::objects::{self, TableObjects};
use super::report::{Rehearsal, StepFailure, TableCounts, TableSummary, add_tables};
use super::{Plan, Purger, Step, Target, planned_counts, stats};
use crate::datamap::catalog::ident;
use crate::datamap::marketing::run_writes;
use crate::datamap::rule::Action;

/// A pooled connection that is closed, not returned to the pool, when dropped while
/// still held (a transaction may be open on it).
struct Detached(Option<diesel_async::pooled_connection::deadpool::Object<AsyncPgConnection>>);

impl Drop for Detached {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            drop(diesel_async::pooled_connection::deadpool::Object::take(
                conn,
            ));
        }
    }
}

/// Limits on one rehearsal.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Longest it may run (each statement is also cut off at this).
    pub time: Duration,
    /// Most rows the plan's statements may touch before it stops.
    pub rows: u64,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

impl Purger<'_> {
    /// Rehearses the purge of `target` (or reports that no account matched).
    pub async fn rehearse(
        &self,
        plan: &Plan,
        target: Option<&Target>,
        freeze: bool,
        budget: Budget,
    ) -> anyhow::Result<Rehearsal> {
        let started = Instant::now();
        let Some(target) = target else {
            return Ok(Rehearsal {
                complete: true,
                ..Rehearsal::default()
            });
        };
        // The connection leaves the pool for good unless the transaction is rolled back
        // here: dropped midway (a timeout), it must never be handed out inside it.
        let mut guard = Detached(Some(self.conn().await?));
        let conn = guard.0.as_mut().expect("held until the end");
        conn.batch_execute(&format!(
            "BEGIN; SET LOCAL statement_timeout = {}",
            budget.time.as_millis().max(1)
        ))
        .await?;
        let mut out = Rehearsal {
            subject_found: true,
            ..Rehearsal::default()
        };
        if self.map.map.subject.placeholder.as_deref() == Some(target.subject.as_str()) {
            out.failure = Some(StepFailure {
                step: Step::Subject.label(),
                kind: "placeholder_account".into(),
                table: Some(self.map.map.subject.table.clone()),
                constraint: None,
                column: None,
                bucket: None,
            });
            return Ok(out);
        }
        let outcome = self
            .rehearse_in(conn, plan, target, freeze, budget, started, &mut out)
            .await;
        let rolled_back = conn.batch_execute("ROLLBACK").await;
        if rolled_back.is_ok() {
            // Rolled back: the connection may go back to the pool.
            drop(guard.0.take());
        }
        outcome?;
        rolled_back?;
        out.elapsed_ms = started.elapsed().as_millis() as u64;
        Ok(out)
    }

    // The rehearsal's parts are all needed here and belong to no one struct.
    #[allow(clippy::too_many_arguments)]
    async fn rehearse_in(
        &self,
        c: &mut AsyncPgConnection,
        plan: &Plan,
        target: &Target,
        freeze: bool,
        budget: Budget,
        started: Instant,
        out: &mut Rehearsal,
    ) -> anyhow::Result<()> {
        let actions = self.map.table_actions();
        // Retained rows, counted before anything changes.
        let mut retained: BTreeMap<String, u64> = BTreeMap::new();
        for (edge, t) in &self.map.walk.edges {
            if t.action == Action::Retain {
                let selection = self.map.edge_rows(edge, &target.subject, None);
                let n: Count = diesel::sql_query(format!(
                    "{}SELECT count(*) AS n FROM ({}) s",
                    selection.with(),
                    selection.select
                ))
                .get_result(c)
                .await?;
                if n.n > 0 {
                    *retained.entry(edge.table.clone()).or_default() += n.n as u64;
                }
            }
        }
        let before = stats::snapshot(c, &self.map.counted).await?;
        let mut planned: BTreeMap<String, TableCounts> = BTreeMap::new();
        let mut rows_total = 0u64;
        out.complete = true;
        // A child report's account is frozen before its purge: rehearsed the same way.
        let freezing = if freeze {
            crate::datamap::freeze::statements(&self.map.map, &self.map.catalog)
        } else {
            Vec::new()
        };
        for statement in &freezing {
            match run_writes(c, std::slice::from_ref(statement), target.subject.as_str()).await {
                Ok(rows) => {
                    rows_total += rows;
                    let entry = planned.entry(statement.table.clone()).or_default();
                    if statement.deletes {
                        entry.deleted += rows;
                    } else {
                        entry.updated += rows;
                    }
                    if rows > 0 {
                        *out.steps.entry("freeze".to_owned()).or_default() += rows;
                    }
                }
                Err(error) => {
                    out.failure = Some(StepFailure::from_error("freeze", &error.into()));
                    out.complete = false;
                    return Ok(());
                }
            }
        }
        for step in &plan.steps {
            if started.elapsed() >= budget.time {
                out.stopped = Some("time_budget".into());
                out.complete = false;
                break;
            }
            if rows_total > budget.rows {
                out.stopped = Some("row_budget".into());
                out.complete = false;
                break;
            }
            match self.rehearse_step(c, step, target, out).await {
                Ok(rows) => {
                    rows_total += rows;
                    add_tables(&mut planned, &planned_counts(self.map, step, rows));
                    if rows > 0 {
                        out.steps.insert(step.label(), rows);
                    }
                }
                Err(error) => {
                    out.failure = Some(StepFailure::from_error(&step.label(), &error));
                    out.complete = false;
                    // The transaction is aborted; what ran so far is still counted below
                    // as far as the plan's statements go.
                    for (table, counts) in planned {
                        let entry = out.tables.entry(table.clone()).or_default();
                        entry.counts = counts;
                        entry.actions = actions
                            .get(&table)
                            .map(|a| a.0.iter().cloned().collect())
                            .unwrap_or_default();
                    }
                    return Ok(());
                }
            }
        }
        let after = stats::snapshot(c, &self.map.counted).await?;
        let total = stats::diff(&before, &after);
        let mut tables: Vec<&String> = total.keys().chain(retained.keys()).collect();
        tables.sort();
        tables.dedup();
        for table in tables {
            let counts = total.get(table).copied().unwrap_or_default();
            let mine = planned.get(table).copied().unwrap_or_default();
            let (acts, basis) = actions.get(table).cloned().unwrap_or_default();
            out.tables.insert(
                table.clone(),
                TableSummary {
                    actions: acts.into_iter().collect(),
                    basis,
                    retained: retained.get(table).copied().unwrap_or(0),
                    counts,
                    by_database: TableCounts {
                        deleted: counts.deleted.saturating_sub(mine.deleted),
                        updated: counts.updated.saturating_sub(mine.updated),
                        inserted: counts.inserted.saturating_sub(mine.inserted),
                    },
                },
            );
        }
        // A retained row must never go: if the database deleted rows of a table the map
        // retains, the plan is unsafe whatever the check said.
        if let Some((table, _)) = out
            .tables
            .iter()
            .find(|(_, s)| s.actions.iter().any(|a| a == "retain") && s.counts.deleted > 0)
        {
            out.failure = Some(StepFailure {
                step: "rehearsal".into(),
                kind: "retained_rows_removed".into(),
                table: Some(table.clone()),
                constraint: None,
                column: None,
                bucket: None,
            });
            out.complete = false;
        }
        Ok(())
    }

    /// Runs one step's unbatched statement on `c`; returns the rows it touched.
    async fn rehearse_step(
        &self,
        c: &mut AsyncPgConnection,
        step: &Step,
        target: &Target,
        out: &mut Rehearsal,
    ) -> anyhow::Result<u64> {
        match step {
            Step::Tombstone => match self.unbatched_sql(step, target)? {
                Some(sql) => Ok(diesel::sql_query(sql).execute(c).await? as u64),
                None => Ok(0),
            },
            Step::Rewrite(_) => match self.unbatched_sql(step, target)? {
                Some(sql) => Ok(self.execute_unbatched(c, &sql, target).await? as u64),
                None => Ok(0),
            },
            Step::Delete(table) => {
                if let Some(objects) = TableObjects::of(self.map, table) {
                    let selection = self.map.deleted_rows(table, &target.subject);
                    let read = format!(
                        "{}SELECT {} AS v FROM {} x WHERE x.ctid = ANY(ARRAY(SELECT s.lethe_ctid FROM ({}) s))",
                        selection.with(),
                        objects.select_list("x"),
                        self.map.qualified_table(table),
                        selection.select
                    );
                    self.count_objects(c, &objects, &read, table, out).await?;
                }
                let sql = self
                    .unbatched_sql(step, target)?
                    .context("a delete statement")?;
                Ok(diesel::sql_query(sql).execute(c).await? as u64)
            }
            Step::Subject => {
                let s = &self.map.map.subject;
                if let Some(objects) = TableObjects::of(self.map, &s.table) {
                    let (table, cond) = self.map.subject_filter(&target.subject);
                    let read = format!(
                        "SELECT {} AS v FROM {table} x WHERE {}",
                        objects.select_list("x"),
                        cond.replace("t0.", "x.")
                    );
                    self.count_objects(c, &objects, &read, &s.table, out)
                        .await?;
                }
                let sql = self
                    .unbatched_sql(step, target)?
                    .context("the subject statement")?;
                Ok(diesel::sql_query(sql).execute(c).await? as u64)
            }
        }
    }

    async fn count_objects(
        &self,
        c: &mut AsyncPgConnection,
        objects: &TableObjects<'_>,
        read: &str,
        table: &str,
        out: &mut Rehearsal,
    ) -> anyhow::Result<()> {
        let (ctids, named) = objects.read(c, read).await?;
        if ctids.is_empty() {
            return Ok(());
        }
        let resolved =
            objects::resolve(self.map, self.storage, c, objects, named, table, &ctids).await?;
        out.objects_shared += resolved.shared;
        for (bucket, keys) in resolved.delete {
            *out.objects.entry(bucket).or_default() += keys.len() as u64;
        }
        Ok(())
    }

    /// The tombstone's INSERT (idempotent) and the query finding its key.
    pub(crate) fn tombstone_sql(&self, target: &Target) -> Option<(String, String)> {
        let s = &self.map.map.subject;
        let columns = s.tombstone.as_ref()?;
        let hash = target.tombstone_hash();
        let table = self.map.qualified_table(&s.table);
        let literal = |t: &str| crate::datamap::catalog::literal(&t.replace("{hash}", &hash));
        let names: Vec<String> = columns.keys().map(|c| ident(c)).collect();
        let values: Vec<String> = columns
            .iter()
            .map(|(c, t)| {
                let ty = self
                    .map
                    .column(&s.table, c)
                    .map_or("text".to_owned(), |i| i.sql_type.clone());
                format!("CAST({} AS {ty})", literal(t))
            })
            .collect();
        let email = columns.get(&s.email)?;
        Some((
            format!(
                "INSERT INTO {table} ({}) SELECT {} WHERE NOT EXISTS \
                 (SELECT 1 FROM {table} t WHERE t.{} = {}) ON CONFLICT DO NOTHING",
                names.join(", "),
                values.join(", "),
                ident(&s.email),
                literal(email)
            ),
            format!(
                "SELECT t.{}::text AS v FROM {table} t WHERE t.{} = {}",
                ident(&s.key),
                ident(&s.email),
                literal(email)
            ),
        ))
    }
}
