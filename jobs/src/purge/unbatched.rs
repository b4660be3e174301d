//! Each step as one unbatched statement, and the SQL pieces of a rewrite the batched and
//! unbatched forms share.

use anyhow::Context;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::rewrite::{self, rewrite_sql};
use super::{Purger, Step, Target};

impl Purger<'_> {
    /// Each step as one unbatched statement (no objects, no batching, no verification),
    /// what a person would type into psql: the rehearsal runs these, and the benchmark
    /// runs them as its baseline. Rewrite statements take `$1`–`$3` as in the batched
    /// ones; [`Self::bind_rewrite`] binds them. A rewrite to the tombstone finds its key
    /// with a subquery.
    pub fn unbatched_sql(&self, step: &Step, target: &Target) -> anyhow::Result<Option<String>> {
        Ok(match step {
            Step::Tombstone => self.tombstone_sql(target).map(|(insert, _)| insert),
            Step::Rewrite(label) => {
                let (edge, treatment) = self
                    .map
                    .edge(label)
                    .with_context(|| format!("no edge {label}"))?;
                let tombstone = self
                    .tombstone_sql(target)
                    .map(|(_, lookup)| format!("({lookup})"));
                self.rewrite_of(edge, treatment, target, tombstone.as_deref())?
                    .map(|(sql, selection)| self.rewrite_statement(edge, &sql, &selection, None))
            }
            Step::Delete(table) => {
                let selection = self.map.deleted_rows(table, &target.subject);
                Some(format!(
                    "{}DELETE FROM {} d WHERE d.ctid = ANY(ARRAY(SELECT s.lethe_ctid FROM ({}) s))",
                    selection.with(),
                    self.map.qualified_table(table),
                    selection.select
                ))
            }
            Step::Subject => {
                let (table, cond) = self.map.subject_filter(&target.subject);
                Some(format!("DELETE FROM {table} t0 WHERE {cond}"))
            }
        })
    }

    /// The rewrite of one edge: its SET clauses and the rows that still need it (`None`
    /// when the rule rewrites nothing). `tombstone` is an SQL expression of the tombstone
    /// key.
    pub(super) fn rewrite_of(
        &self,
        edge: &crate::datamap::Edge,
        treatment: &crate::datamap::Treatment,
        target: &Target,
        tombstone: Option<&str>,
    ) -> anyhow::Result<Option<(rewrite::RewriteSql, crate::datamap::reach::Selection)>> {
        let sql = rewrite_sql(self.map, edge, treatment, tombstone, target.redacts())?;
        if sql.sets.is_empty() {
            return Ok(None);
        }
        let needs = sql.needs_condition();
        let selection = self.map.edge_rows(edge, &target.subject, needs.as_deref());
        Ok(Some((sql, selection)))
    }

    /// The UPDATE of a rewrite, over at most `limit` of the selected rows.
    pub(super) fn rewrite_statement(
        &self,
        edge: &crate::datamap::Edge,
        sql: &rewrite::RewriteSql,
        selection: &crate::datamap::reach::Selection,
        limit: Option<usize>,
    ) -> String {
        format!(
            "{}UPDATE {} u SET {} WHERE u.ctid = ANY(ARRAY(SELECT s.lethe_ctid FROM ({}) s{}))",
            selection.with(),
            self.map.qualified_table(&edge.table),
            sql.sets.join(", "),
            selection.select,
            limit.map(|n| format!(" LIMIT {n}")).unwrap_or_default()
        )
    }

    /// Runs one unbatched statement with the rewrite parameters bound.
    pub async fn execute_unbatched(
        &self,
        conn: &mut AsyncPgConnection,
        sql: &str,
        target: &Target,
    ) -> diesel::QueryResult<usize> {
        Self::bind_rewrite(diesel::sql_query(sql.to_owned()).into_boxed(), target)
            .execute(conn)
            .await
    }
}
