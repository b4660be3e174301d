//! The batched steps of a purge: rewrites, deletes (objects before their rows) and the
//! subject row itself, each in bounded batches whose per-table counts are measured.

use anyhow::Context;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::objects::{self, TableObjects, tid_array};
use super::{Boxed, Count, Purger, Step, StepReport, Target, TextRow, report, stats};

impl Purger<'_> {
    /// Runs a statement that touches at most `batch_size` rows until a batch comes back
    /// short, each batch in its own measured transaction.
    async fn batches(
        &self,
        make: impl Fn() -> Boxed<'static>,
        writes: stats::Writes<'_>,
        what: &str,
        report: &mut StepReport,
        pending: u64,
    ) -> anyhow::Result<()> {
        let mut conn = self.conn().await?;
        // Full batches go on only while rows still need the statement; a trigger that
        // undoes it would keep the batches full forever, so more than twice the batches
        // the rows needed at the start (and a few for rows written meanwhile) fail.
        let most = 2 * pending.div_ceil(self.batch_size as u64) + 3;
        for _ in 0..most {
            self.boundary()?;
            let (n, tables) = stats::measured(&mut conn, &self.map.counted, writes, make())
                .await
                .with_context(|| what.to_owned())?;
            report.rows += n as u64;
            report::add_tables(&mut report.tables, &tables);
            if n < self.batch_size {
                return Ok(());
            }
        }
        anyhow::bail!(
            "{what} does not converge: the same rows keep needing it (a trigger may undo it)"
        )
    }

    /// The subject's tombstone key. With a `report` (the tombstone step), the tombstone
    /// is first inserted if it does not exist: idempotent, it is found by its email,
    /// which carries the hash.
    pub(super) async fn tombstone(
        &self,
        target: &Target,
        report: Option<&mut StepReport>,
    ) -> anyhow::Result<Option<String>> {
        let Some((insert, lookup)) = self.tombstone_sql(target) else {
            return Ok(None);
        };
        let mut conn = self.conn().await?;
        if let Some(report) = report {
            self.boundary()?;
            let (n, tables) = stats::measured(
                &mut conn,
                &self.map.counted,
                stats::Writes::Unknown,
                diesel::sql_query(insert).into_boxed(),
            )
            .await
            .context("creating the tombstone account")?;
            report.rows += n as u64;
            report::add_tables(&mut report.tables, &tables);
        }
        let rows: Vec<TextRow> = diesel::sql_query(lookup).load(&mut *conn).await?;
        Ok(rows.into_iter().next().map(|r| r.v))
    }

    pub(super) async fn rewrite(
        &self,
        label: &str,
        target: &Target,
        report: &mut StepReport,
    ) -> anyhow::Result<()> {
        let (edge, treatment) = self
            .map
            .edge(label)
            .with_context(|| format!("no edge {label}"))?;
        let tombstone = if treatment.unlink == Some(crate::datamap::Unlink::Tombstone) {
            let key = self
                .tombstone(target, None)
                .await?
                .context("the tombstone account is missing")?;
            Some(crate::datamap::catalog::literal(&key))
        } else {
            None
        };
        let Some((sql, selection)) =
            self.rewrite_of(edge, treatment, target, tombstone.as_deref())?
        else {
            return Ok(());
        };
        let pending: Count = Self::bind_rewrite(
            diesel::sql_query(format!(
                "{}SELECT count(*) AS n FROM ({}) s",
                selection.with(),
                selection.select
            ))
            .into_boxed(),
            target,
        )
        .get_result(&mut *self.conn().await?)
        .await?;
        let statement = self.rewrite_statement(edge, &sql, &selection, Some(self.batch_size));
        self.batches(
            || Self::bind_rewrite(diesel::sql_query(statement.clone()).into_boxed(), target),
            stats::Writes::Update(&edge.table),
            &format!("rewriting {label}"),
            report,
            pending.n.max(0) as u64,
        )
        .await
    }

    pub(super) async fn delete(
        &self,
        table: &str,
        target: &Target,
        report: &mut StepReport,
    ) -> anyhow::Result<()> {
        let objects = TableObjects::of(self.map, table);
        let leaves = self.map.deleted_leaves(table, &target.subject);
        let all = self.map.deleted_rows(table, &target.subject);
        let qualified = self.map.qualified_table(table);
        let mut conn = self.conn().await?;
        if objects.is_none() && leaves.is_none() {
            // One statement per batch: the rows are picked and deleted together.
            loop {
                self.boundary()?;
                let sql = format!(
                    "{}DELETE FROM {qualified} d WHERE d.ctid = ANY(ARRAY(SELECT s.lethe_ctid FROM ({}) s LIMIT {}))",
                    all.with(),
                    all.select,
                    self.batch_size
                );
                let n = self.delete_measured(&mut conn, sql, table, report).await?;
                if n < self.batch_size {
                    return Ok(());
                }
            }
        }
        // Otherwise each batch first takes its rows (and the keys of their objects),
        // deletes the objects, then the rows, re-checked. A tree that fits in one batch
        // goes in one statement, as in the rehearsal; a bigger one leaves first, so no
        // parent goes before its children (rows in a cycle are finally taken together).
        #[derive(PartialEq)]
        enum Mode {
            Plain,
            Whole,
            Leaves,
            Cycle,
        }
        let mut mode = if leaves.is_some() {
            Mode::Whole
        } else {
            Mode::Plain
        };
        let (with, recheck) = self.map.deleted_condition(table, &target.subject, "d");
        loop {
            let selection = match (&mode, &leaves) {
                (Mode::Leaves, Some(leaves)) => leaves,
                _ => &all,
            };
            let limit = self.batch_size + usize::from(mode == Mode::Whole);
            let pick = format!(
                "ARRAY(SELECT s.lethe_ctid FROM ({}) s LIMIT {limit})",
                selection.select
            );
            self.boundary()?;
            let (ctids, named) = match &objects {
                Some(objects) => {
                    let read = format!(
                        "{}SELECT {} AS v FROM {qualified} x WHERE x.ctid = ANY({pick})",
                        selection.with(),
                        objects.select_list("x")
                    );
                    let (ctids, named) = objects
                        .read(&mut conn, &read)
                        .await
                        .with_context(|| format!("selecting from {table}"))?;
                    (ctids, Some(named))
                }
                None => {
                    let read = format!("{}SELECT unnest({pick})::text AS v", selection.with());
                    let rows: Vec<TextRow> = diesel::sql_query(read)
                        .load(&mut *conn)
                        .await
                        .with_context(|| format!("selecting from {table}"))?;
                    let ctids: Vec<String> = rows.into_iter().map(|r| r.v).collect();
                    anyhow::ensure!(
                        ctids.iter().all(|c| objects::valid_ctid(c)),
                        "unexpected ctid"
                    );
                    (ctids, None)
                }
            };
            if mode == Mode::Whole && ctids.len() > self.batch_size {
                mode = Mode::Leaves;
                continue;
            }
            if ctids.is_empty() {
                if mode == Mode::Leaves && count(&mut conn, &all).await? > 0 {
                    mode = Mode::Cycle;
                    continue;
                }
                return Ok(());
            }
            if let (Some(objects), Some(named)) = (&objects, named) {
                self.erase_objects(&mut conn, objects, named, table, &ctids, report)
                    .await?;
            }
            self.boundary()?;
            let sql = format!(
                "{with}DELETE FROM {qualified} d WHERE d.ctid = ANY({}) AND {recheck}",
                tid_array(&ctids)
            );
            let n = self.delete_measured(&mut conn, sql, table, report).await?;
            if n == 0 {
                // Picked but not deleted: gone already (another run took them) is fine;
                // still there means a trigger or rule keeps them, and picking them again
                // would loop, so the step fails.
                let left: Count = diesel::sql_query(format!(
                    "{with}SELECT count(*) AS n FROM {qualified} d WHERE d.ctid = ANY({}) AND {recheck}",
                    tid_array(&ctids)
                ))
                .get_result(&mut *conn)
                .await?;
                anyhow::ensure!(
                    left.n == 0,
                    "{} rows of {table} were picked but not deleted (a trigger or rule on the table prevents it)",
                    left.n
                );
            }
            match mode {
                Mode::Whole => return Ok(()),
                Mode::Plain | Mode::Cycle if ctids.len() < self.batch_size => return Ok(()),
                _ => {}
            }
        }
    }

    /// Runs one measured DELETE and adds its counts to `report`.
    async fn delete_measured(
        &self,
        conn: &mut AsyncPgConnection,
        sql: String,
        table: &str,
        report: &mut StepReport,
    ) -> anyhow::Result<usize> {
        let (n, tables) = stats::measured(
            conn,
            &self.map.counted,
            stats::Writes::Delete(table),
            diesel::sql_query(sql).into_boxed(),
        )
        .await
        .with_context(|| format!("deleting from {table}"))?;
        report.rows += n as u64;
        report::add_tables(&mut report.tables, &tables);
        Ok(n)
    }

    /// Deletes the objects a batch of rows names (other than shared ones) and counts them.
    async fn erase_objects(
        &self,
        conn: &mut AsyncPgConnection,
        objects: &TableObjects<'_>,
        named: objects::NamedObjects,
        table: &str,
        ctids: &[String],
        report: &mut StepReport,
    ) -> anyhow::Result<()> {
        let resolved =
            objects::resolve(self.map, self.storage, conn, objects, named, table, ctids).await?;
        report.objects_shared += resolved.shared;
        for (bucket, keys) in resolved.delete {
            let n = self.delete_objects(&bucket, &keys).await?;
            report.objects += n;
            *report.buckets.entry(bucket).or_default() += n;
        }
        Ok(())
    }

    /// Deletes keys in `object_batch` chunks, up to four DeleteObjects calls at a time, a
    /// boundary before each group.
    async fn delete_objects(&self, bucket: &str, keys: &[String]) -> anyhow::Result<u64> {
        let chunks: Vec<&[String]> = keys.chunks(self.object_batch.clamp(1, 1000)).collect();
        let mut n = 0;
        for group in chunks.chunks(4) {
            self.boundary()?;
            let calls = group
                .iter()
                .map(|chunk| self.storage.delete_keys(bucket, chunk));
            n += futures::future::try_join_all(calls)
                .await?
                .into_iter()
                .sum::<usize>() as u64;
        }
        Ok(n)
    }

    pub(super) async fn subject(
        &self,
        target: &Target,
        report: &mut StepReport,
    ) -> anyhow::Result<()> {
        let s = &self.map.map.subject;
        if s.placeholder.as_deref() == Some(target.subject.as_str()) {
            anyhow::bail!("refusing to delete the placeholder account");
        }
        let (table, cond) = self.map.subject_filter(&target.subject);
        let mut conn = self.conn().await?;
        if let Some(objects) = TableObjects::of(self.map, &s.table) {
            self.boundary()?;
            let read = format!(
                "SELECT {} AS v FROM {table} x WHERE {}",
                objects.select_list("x"),
                cond.replace("t0.", "x.")
            );
            let (ctids, named) = objects.read(&mut conn, &read).await?;
            if !ctids.is_empty() {
                self.erase_objects(&mut conn, &objects, named, &s.table, &ctids, report)
                    .await?;
            }
        }
        self.boundary()?;
        // Rows that stay may have been linked to the subject since their rewrite step ran
        // (a payment written meanwhile): with the subject row locked, so no new row can
        // point at it, the links into the subject table are cut again, then the row goes.
        let relink: Vec<String> = self
            .map
            .walk
            .edges
            .iter()
            .filter(|(e, t)| e.parent == s.table && t.rewrites())
            .map(|(e, _)| self.unbatched_sql(&Step::Rewrite(e.label.clone()), target))
            .collect::<anyhow::Result<Vec<_>>>()?
            .into_iter()
            .flatten()
            .collect();
        let lock = format!("SELECT t0.ctid::text AS v FROM {table} t0 WHERE {cond} FOR UPDATE");
        let delete = format!("DELETE FROM {table} t0 WHERE {cond}");
        let counted = &self.map.counted;
        let (n, tables) = conn
            .transaction::<_, anyhow::Error, _>(async |c| {
                let before = stats::snapshot(c, counted).await?;
                diesel::sql_query(lock).load::<TextRow>(c).await?;
                let mut n = 0;
                for sql in &relink {
                    n += self.execute_unbatched(c, sql, target).await?;
                }
                n += diesel::sql_query(delete).execute(c).await?;
                let after = stats::snapshot(c, counted).await?;
                Ok((n, stats::diff(&before, &after)))
            })
            .await
            .context("deleting the subject row")?;
        report.rows += n as u64;
        report::add_tables(&mut report.tables, &tables);
        Ok(())
    }
}

/// The rows `selection` picks, counted on the connection the step already holds (taking
/// another from the pool while holding one could wait forever once concurrent purges hold
/// them all).
async fn count(
    conn: &mut AsyncPgConnection,
    selection: &crate::datamap::reach::Selection,
) -> anyhow::Result<u64> {
    let rows: Vec<TextRow> = diesel::sql_query(format!(
        "{}SELECT count(*)::text AS v FROM ({}) s",
        selection.with(),
        selection.select
    ))
    .load(conn)
    .await?;
    Ok(<[_]>::first(&rows)
        .and_then(|r| r.v.parse().ok())
        .unwrap_or(0))
}
