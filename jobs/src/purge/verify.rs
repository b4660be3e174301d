//! Verification after a purge pass: the subject is located again and every step must
//! find nothing left to do, and the subject's email and username must appear nowhere in
//! the columns the map redacts.

use anyhow::Context;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;

use super::rewrite::rewrite_sql;
use super::{Leftover, Plan, Purger, Step, Target};
use crate::datamap::catalog::ident;
use crate::datamap::spec::template_columns;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

impl Purger<'_> {
    /// Re-locates the subject: every step must find nothing left to do, no redacted column
    /// may still hold the subject's email or username, and no prefix built from the
    /// subject's key may still hold objects.
    pub async fn verify(&self, plan: &Plan, target: &Target) -> anyhow::Result<Vec<Leftover>> {
        let mut leftovers = Vec::new();
        let mut conn = self.conn().await?;
        let (text, json) = target.patterns();
        let tombstone = if self.map.uses_tombstone() {
            self.tombstone(target, false).await?.0
        } else {
            None
        };
        for step in &plan.steps {
            let count = match step {
                Step::Tombstone => 0,
                Step::Delete(table) => {
                    self.count(&self.map.deleted_rows(table, &target.subject))
                        .await?
                }
                Step::Rewrite(label) => {
                    let (edge, treatment) = self.map.edge(label).context("planned edge")?;
                    let sql = rewrite_sql(
                        self.map,
                        edge,
                        treatment,
                        tombstone.as_deref(),
                        target.redacts(),
                    )?;
                    if sql.sets.is_empty() {
                        0
                    } else {
                        let needs = sql.needs_condition();
                        let selection = self.map.edge_rows(edge, &target.subject, needs.as_deref());
                        let row: Count = Self::bind_rewrite(
                            diesel::sql_query(format!(
                                "{}SELECT count(*) AS n FROM ({}) s",
                                selection.with(),
                                selection.select
                            ))
                            .into_boxed(),
                            target,
                        )
                        .get_result(&mut *conn)
                        .await?;
                        row.n as u64
                    }
                }
                Step::Subject => {
                    let (table, cond) = self.map.subject_filter(&target.subject);
                    let row: Count = diesel::sql_query(format!(
                        "SELECT count(*) AS n FROM {table} t0 WHERE {cond}"
                    ))
                    .get_result(&mut *conn)
                    .await?;
                    row.n as u64
                }
            };
            if count > 0 {
                leftovers.push(Leftover {
                    step: step.label(),
                    count,
                });
            }
        }
        if target.redacts() {
            for (table, column) in self.map.redacted_columns() {
                let Some(info) = self.map.column(&table, &column) else {
                    continue;
                };
                let c = ident(&column);
                let (expr, pattern) = if info.is_json() {
                    (format!("x.{c}::text"), &json)
                } else if info.is_text_array() {
                    (format!("array_to_string(x.{c}, chr(31))"), &text)
                } else {
                    (format!("x.{c}"), &text)
                };
                let row: Count = diesel::sql_query(format!(
                    "SELECT count(*) AS n FROM {} x WHERE {expr} ~* $1",
                    self.map.qualified_table(&table)
                ))
                .bind::<Text, _>(pattern)
                .get_result(&mut *conn)
                .await?;
                if row.n > 0 {
                    leftovers.push(Leftover {
                        step: format!("identity:{table}.{column}"),
                        count: row.n as u64,
                    });
                }
            }
        }
        // Prefixes built from the subject row's key alone can still be listed.
        let s = &self.map.map.subject;
        for spec in self.map.objects_of(&s.table) {
            let Some(template) = spec.template.as_deref().filter(|t| t.ends_with('/')) else {
                continue;
            };
            if template_columns(template)
                .unwrap_or_default()
                .iter()
                .any(|c| *c != s.key)
            {
                continue;
            }
            let prefix = template.replace(&format!("{{{}}}", s.key), target.subject.as_str());
            let left = self.storage.list_prefix(&spec.bucket, &prefix).await?.len() as u64;
            if left > 0 {
                leftovers.push(Leftover {
                    step: format!("objects:{}", spec.label()),
                    count: left,
                });
            }
        }
        Ok(leftovers)
    }
}
