//! The delete step of a table: a fresh selection of the subject's rows, batch by batch,
//! objects before their rows; a set too large for one batch is picked once ([`Pick`]) and
//! taken from, each batch re-checked against the subject, then selected afresh.

use anyhow::Context;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::datamap::reach::Selection;

use super::objects::{self, TableObjects, tid_array};
use super::pick::Pick;
use super::{Count, Purger, StepReport, Target, TextRow, report, stats};

/// Fresh selections a delete step makes before it gives up on rows that keep coming back.
const ROUNDS: usize = 8;

impl Purger<'_> {
    pub(super) async fn delete(
        &self,
        table: &str,
        target: &Target,
        report: &mut StepReport,
    ) -> anyhow::Result<()> {
        let mut conn = self.conn().await?;
        let all = self.map.deleted_rows(table, &target.subject);
        let objects = TableObjects::of(self.map, table).is_some();
        // Without objects a batch is taken and deleted in one statement, re-checked by
        // this condition over the rows it takes.
        let recheck = (!objects).then(|| {
            self.map.batch_condition(
                table,
                &target.subject,
                "d",
                "ARRAY(SELECT t.lethe_c FROM lethe_taken t)",
            )
        });
        // A fresh selection first; when it shows more rows than a batch, the rest are
        // picked once and taken batch by batch, then the selection runs afresh for rows
        // written or moved meanwhile. A trigger that keeps writing rows back fails the
        // step after a few such rounds.
        for _ in 0..ROUNDS {
            if !self
                .delete_fresh(&mut conn, table, target, &all, report)
                .await?
            {
                return Ok(());
            }
            self.boundary()?;
            let mut pick = Pick::fill(&mut conn, self.map, table, &all)
                .await
                .with_context(|| format!("selecting from {table}"))?;
            loop {
                self.boundary()?;
                let more = if let Some((with, recheck)) = &recheck {
                    self.take_and_delete(&mut conn, &mut pick, table, with, recheck, report)
                        .await?
                } else {
                    match pick.take(&mut conn, self.batch_size).await? {
                        Some(ctids) => {
                            if !ctids.is_empty() {
                                self.delete_rows(&mut conn, table, target, &ctids, report)
                                    .await?;
                            }
                            true
                        }
                        None => false,
                    }
                };
                if !more {
                    break;
                }
            }
            Pick::drop(&mut conn).await?;
        }
        anyhow::bail!(
            "deleting from {table} does not converge: the subject's rows keep coming back (a trigger may write them back or keep them from being deleted)"
        )
    }

    /// Takes the next batch out of `pick` and deletes the rows still the subject's (by
    /// `recheck` over `d`, with `with`'s expressions), in one statement (for a table whose
    /// rows name no objects); `false` once nothing is left.
    async fn take_and_delete(
        &self,
        conn: &mut AsyncPgConnection,
        pick: &mut Pick,
        table: &str,
        with: &Selection,
        recheck: &str,
        report: &mut StepReport,
    ) -> anyhow::Result<bool> {
        let qualified = self.map.qualified_table(table);
        let Some(sql) = pick.take_and_delete(with, &qualified, recheck, self.batch_size) else {
            return Ok(false);
        };
        let (taken, tables) = stats::measured_taken(conn, &self.map.counted, table, sql)
            .await
            .with_context(|| format!("deleting from {table}"))?;
        report.rows += taken.deleted.max(0) as u64;
        report::add_tables(&mut report.tables, &tables);
        pick.taken(self.batch_size, taken.taken.max(0) as usize);
        Ok(true)
    }

    /// One batch from a fresh selection of the step's rows; `true` when more rows than a
    /// batch holds were found (so there may be more to do).
    async fn delete_fresh(
        &self,
        conn: &mut AsyncPgConnection,
        table: &str,
        target: &Target,
        all: &Selection,
        report: &mut StepReport,
    ) -> anyhow::Result<bool> {
        let objects = TableObjects::of(self.map, table);
        let tree = !self.map.self_edges(table).is_empty();
        let qualified = self.map.qualified_table(table);
        self.boundary()?;
        if objects.is_none() && !tree {
            // One statement: the rows are picked and deleted together.
            let sql = format!(
                "{}DELETE FROM {qualified} d WHERE d.ctid = ANY(ARRAY(SELECT s.lethe_ctid FROM ({}) s LIMIT {}))",
                all.with(),
                all.select,
                self.batch_size
            );
            let n = self.delete_measured(conn, sql, table, report).await?;
            return Ok(n >= self.batch_size);
        }
        // A tree that fits in one batch goes in one statement, as in the rehearsal; a
        // bigger one is taken from the pick, leaves first, so no parent goes before its
        // children (a deleting self-reference would cascade past the batch and past the
        // children's objects, a SET NULL one would rewrite children about to go).
        let limit = self.batch_size + usize::from(tree);
        let rows: Vec<TextRow> = diesel::sql_query(format!(
            "{}SELECT s.lethe_ctid::text AS v FROM ({}) s LIMIT {limit}",
            all.with(),
            all.select
        ))
        .load(conn)
        .await
        .with_context(|| format!("selecting from {table}"))?;
        let ctids: Vec<String> = rows.into_iter().map(|r| r.v).collect();
        anyhow::ensure!(
            ctids.iter().all(|c| objects::valid_ctid(c)),
            "unexpected ctid"
        );
        if ctids.is_empty() || (tree && ctids.len() > self.batch_size) {
            return Ok(!ctids.is_empty());
        }
        self.delete_rows(conn, table, target, &ctids, report)
            .await?;
        Ok(!tree && ctids.len() >= self.batch_size)
    }

    /// Deletes the rows at `ctids` that are still the subject's: first the objects they
    /// name, then the rows.
    async fn delete_rows(
        &self,
        conn: &mut AsyncPgConnection,
        table: &str,
        target: &Target,
        ctids: &[String],
        report: &mut StepReport,
    ) -> anyhow::Result<()> {
        let qualified = self.map.qualified_table(table);
        let batch = tid_array(ctids);
        let (with, recheck) = self
            .map
            .batch_condition(table, &target.subject, "d", &batch);
        let with = with.with();
        if let Some(objects) = TableObjects::of(self.map, table) {
            let read = format!(
                "{with}SELECT {} AS v FROM {qualified} d WHERE d.ctid = ANY({batch}) AND {recheck}",
                objects.select_list("d")
            );
            let (still, named) = objects
                .read(conn, &read)
                .await
                .with_context(|| format!("selecting from {table}"))?;
            if !still.is_empty() {
                self.erase_objects(conn, &objects, named, table, &still, report)
                    .await?;
            }
            self.boundary()?;
        }
        let sql =
            format!("{with}DELETE FROM {qualified} d WHERE d.ctid = ANY({batch}) AND {recheck}");
        let n = self.delete_measured(conn, sql, table, report).await?;
        if n == 0 {
            // Picked but not deleted: gone already (another run took them) or no longer
            // the subject's is fine; still there and the subject's means a trigger or rule
            // keeps them, and taking them again would loop, so the step fails.
            let left: Count = diesel::sql_query(format!(
                "{with}SELECT count(*) AS n FROM {qualified} d WHERE d.ctid = ANY({batch}) AND {recheck}"
            ))
            .get_result(&mut *conn)
            .await?;
            anyhow::ensure!(
                left.n == 0,
                "{} rows of {table} were picked but not deleted (a trigger or rule on the table prevents it)",
                left.n
            );
        }
        Ok(())
    }
}
