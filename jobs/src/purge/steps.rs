//! The batched steps of a purge: rewrites, deletes (objects before their rows) and the
//! subject row itself, each in bounded batches whose per-table counts are measured.

use anyhow::Context;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::objects::{self, TableObjects};
use super::{Boxed, Count, Purger, Step, StepReport, Target, TextRow, report, stats};

impl Purger<'_> {
    /// Runs a statement that touches at most `batch_size` rows until a batch comes back
    /// short, each batch in its own measured transaction. `pending` counts the rows that
    /// need it, asked only when the first batch comes back full.
    async fn batches(
        &self,
        make: impl Fn() -> Boxed<'static>,
        writes: stats::Writes<'_>,
        what: &str,
        report: &mut StepReport,
        pending: impl AsyncFnOnce(&mut AsyncPgConnection) -> anyhow::Result<u64>,
    ) -> anyhow::Result<()> {
        let mut conn = self.conn().await?;
        // Full batches go on only while rows still need the statement; a trigger that
        // undoes it would keep the batches full forever, so more than twice the batches
        // the rows needed after the first (and a few for rows written meanwhile) fail.
        let mut pending = Some(pending);
        let mut most = 1;
        let mut done = 0;
        while done < most {
            done += 1;
            self.boundary()?;
            let (n, tables) = stats::measured(&mut conn, &self.map.counted, writes, make())
                .await
                .with_context(|| what.to_owned())?;
            report.rows += n as u64;
            report::add_tables(&mut report.tables, &tables);
            if n < self.batch_size {
                return Ok(());
            }
            if let Some(count) = pending.take() {
                most += 2 * count(&mut conn).await?.div_ceil(self.batch_size as u64) + 3;
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
        let count = format!(
            "{}SELECT count(*) AS n FROM ({}) s",
            selection.with(),
            selection.select
        );
        let statement = self.rewrite_statement(edge, &sql, &selection, Some(self.batch_size));
        self.batches(
            || Self::bind_rewrite(diesel::sql_query(statement.clone()).into_boxed(), target),
            stats::Writes::Update(&edge.table),
            &format!("rewriting {label}"),
            report,
            async |conn| {
                let pending: Count =
                    Self::bind_rewrite(diesel::sql_query(count).into_boxed(), target)
                        .get_result(conn)
                        .await?;
                Ok(pending.n.max(0) as u64)
            },
        )
        .await
    }

    /// Runs one measured DELETE and adds its counts to `report`.
    pub(super) async fn delete_measured(
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
    pub(super) async fn erase_objects(
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
