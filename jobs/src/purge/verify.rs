//! Verification after a purge pass: the subject is located again and every step must
//! find nothing left to do (the rewrite steps re-check that no reached row still names
//! the subject), and the subject's email address must appear nowhere in the columns the
//! map redacts.

use anyhow::Context;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use futures::{StreamExt, TryStreamExt};

use super::{Leftover, Plan, Purger, Step, Target};
use crate::datamap::catalog::ident;
use crate::datamap::spec::template_columns;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

impl Purger<'_> {
    /// Makes every batch committed so far durable: a synchronous commit that writes WAL
    /// (it takes a transaction id) waits for the flush of all WAL before it, which holds
    /// the asynchronously committed batches. Run before verification.
    pub async fn make_durable(&self) -> anyhow::Result<()> {
        let mut conn = self.conn().await?;
        conn.batch_execute(
            "BEGIN; SET LOCAL synchronous_commit = on; SELECT pg_current_xact_id(); COMMIT",
        )
        .await
        .context("flushing the purge's commits")?;
        Ok(())
    }

    /// Makes the purge durable ([`Self::make_durable`]), then re-locates the subject:
    /// every step must find nothing left to do, no redacted column may still hold the
    /// subject's email address, and no prefix built from the subject's key may still hold
    /// objects.
    pub async fn verify(&self, plan: &Plan, target: &Target) -> anyhow::Result<Vec<Leftover>> {
        self.make_durable().await?;
        let mut leftovers = Vec::new();
        // No connection is held while the counts below take theirs from the pool: purges
        // running at once, each holding one, would wait for another forever.
        let tombstone = if self.map.uses_tombstone() {
            self.tombstone(target, None)
                .await?
                .map(|key| crate::datamap::catalog::literal(&key))
        } else {
            None
        };
        // One count per step (rewrites bind the rewrite parameters), four at a time.
        let mut counts: Vec<(String, String, bool)> = Vec::new();
        for step in &plan.steps {
            match step {
                Step::Tombstone => {}
                Step::Delete(table) => {
                    let selection = self.map.deleted_rows(table, &target.subject);
                    counts.push((
                        step.label(),
                        format!(
                            "{}SELECT count(*) AS n FROM ({}) s",
                            selection.with(),
                            selection.select
                        ),
                        false,
                    ));
                }
                Step::Rewrite(label) => {
                    let (edge, treatment) = self.map.edge(label).context("planned edge")?;
                    if let Some((_, selection)) =
                        self.rewrite_of(edge, treatment, target, tombstone.as_deref())?
                    {
                        counts.push((
                            step.label(),
                            format!(
                                "{}SELECT count(*) AS n FROM ({}) s",
                                selection.with(),
                                selection.select
                            ),
                            true,
                        ));
                    }
                }
                Step::Subject => {
                    let (table, cond) = self.map.subject_filter(&target.subject);
                    counts.push((
                        step.label(),
                        format!("SELECT count(*) AS n FROM {table} t0 WHERE {cond}"),
                        false,
                    ));
                }
            }
        }
        let found: Vec<(String, i64)> = futures::stream::iter(counts)
            .map(|(label, sql, rewrite)| async move {
                let mut conn = self.conn().await?;
                let query = diesel::sql_query(sql).into_boxed();
                let query = if rewrite {
                    Self::bind_rewrite(query, target)
                } else {
                    query
                };
                let row: Count = query.get_result(&mut *conn).await?;
                anyhow::Ok((label, row.n))
            })
            .buffered(4)
            .try_collect()
            .await?;
        leftovers.extend(
            found
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .map(|(step, n)| Leftover {
                    step,
                    count: n as u64,
                }),
        );
        let mut conn = self.conn().await?;
        // The subject's email address anywhere in a redacted column is personal data left
        // behind, whichever row holds it. (A username can be an ordinary word; it is
        // redacted in the rows the map reaches, which the rewrite steps re-check.)
        let emails: Vec<String> = target
            .identities
            .iter()
            .filter(|i| looks_like_email(i))
            .cloned()
            .collect();
        let email_text = crate::purge::identity_pattern(&emails, false);
        let email_json = crate::purge::identity_pattern(&emails, true);
        if let (Some(text), Some(json)) = (email_text, email_json) {
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
            // Current objects, and in a versioned bucket also older versions.
            let left = self.storage.remaining(&spec.bucket, &prefix).await?.len() as u64;
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

/// `local@domain.tld`, roughly: what an email address looks like.
fn looks_like_email(value: &str) -> bool {
    value.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !domain.ends_with('.')
    })
}
