//! Erasure: a subject's rows and objects removed, rewritten or reassigned exactly as the
//! data map says, in bounded batches, in an order derived from the platform's foreign
//! keys; then a verification pass that must find nothing erasable left.
//!
//! Every step re-selects the subject's rows in each batch (so rows written after the dry
//! run are caught), touches at most `batch_size` rows per statement (short locks, no
//! unbounded transactions) and is idempotent: killed at any instant or run twice, a re-run
//! converges to the same end state. Objects named by rows are deleted *before* their rows
//! in the same batch, so a crash can never leave an object whose key is lost.

mod plan;
mod report;

pub use plan::{Plan, Step, plan};
pub use report::{Checkpoint, DryRun, EntryCount, Leftover, PurgeReport, StepReport};

use std::collections::{BTreeMap, HashSet};

use anyhow::Context;
use diesel::QueryableByName;
use diesel::sql_types::{Array, BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::datamap::bind::rewrite_rules;
use crate::datamap::catalog::{ident, literal};
use crate::datamap::spec::{ColumnRule, Erase};
use crate::datamap::{BoundMap, KeyFormat, SubjectKey, object_key};
use crate::platform::PlatformPool;
use crate::storage::Storage;

/// Who is being erased, as the purge needs it.
#[derive(Clone)]
pub struct Target {
    /// The subject's key.
    pub subject: SubjectKey,
    /// Identity strings removed from free text by `redact` rules (email, username).
    pub identities: Vec<String>,
    /// Key for `hash` rules.
    pub hash_key: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct TextRow {
    #[diesel(sql_type = Text)]
    v: String,
}

/// Runs purges for one map.
pub struct Purger<'a> {
    /// Platform database.
    pub platform: &'a PlatformPool,
    /// The bound map.
    pub map: &'a BoundMap,
    /// Object storage.
    pub storage: &'a Storage,
    /// Rows per statement.
    pub batch_size: usize,
    /// Objects per DeleteObjects call (at most 1,000).
    pub object_batch: usize,
    /// Test hook: the purge fails at the n-th operation boundary (each batch statement,
    /// each object-deletion call, between a batch's objects and its rows). `None` in
    /// production.
    pub fault: Option<&'a std::sync::atomic::AtomicI64>,
}

fn action_name(erase: &Erase) -> &'static str {
    match erase {
        Erase::Delete => "delete",
        Erase::Anonymize { .. } => "anonymize",
        Erase::Retain { .. } => "retain",
        Erase::Detach { .. } => "detach",
    }
}

impl Purger<'_> {
    /// A purger with production settings.
    pub fn new<'a>(
        platform: &'a PlatformPool,
        map: &'a BoundMap,
        storage: &'a Storage,
        batch_size: usize,
    ) -> Purger<'a> {
        Purger {
            platform,
            map,
            storage,
            batch_size,
            object_batch: 1000,
            fault: None,
        }
    }

    /// An operation boundary: where the fault hook may strike.
    fn boundary(&self) -> anyhow::Result<()> {
        if let Some(fault) = self.fault
            && fault.fetch_sub(1, std::sync::atomic::Ordering::SeqCst) <= 1
        {
            anyhow::bail!("injected fault");
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

    /// Runs a statement that touches at most `batch_size` rows until a batch comes back
    /// short (nothing more matched just now; rows written later are caught by the
    /// verification pass, which runs the steps again). `$1`, if the statement has it, is
    /// `hash_key`. Returns the rows touched.
    async fn run_batches(
        &self,
        sql: &str,
        hash_key: Option<&str>,
        what: &str,
    ) -> anyhow::Result<u64> {
        let mut conn = self.conn().await?;
        let mut rows = 0;
        loop {
            self.boundary()?;
            let query = diesel::sql_query(sql);
            let n = match hash_key {
                Some(key) => query.bind::<Text, _>(key).execute(&mut *conn).await,
                None => query.execute(&mut *conn).await,
            }
            .with_context(|| what.to_owned())?;
            rows += n as u64;
            if n < self.batch_size {
                return Ok(rows);
            }
        }
    }

    async fn conn(
        &self,
    ) -> anyhow::Result<diesel_async::pooled_connection::deadpool::Object<AsyncPgConnection>> {
        self.platform
            .get()
            .await
            .context("connecting to the platform database")
    }

    async fn count(&self, sql: String) -> anyhow::Result<u64> {
        let row: Count = diesel::sql_query(sql)
            .get_result(&mut *self.conn().await?)
            .await?;
        Ok(row.n as u64)
    }

    /// Counts what a purge of `subject` would touch.
    pub async fn dry_run(&self, subject: Option<&SubjectKey>) -> anyhow::Result<DryRun> {
        let Some(subject) = subject else {
            return Ok(DryRun::default());
        };
        let mut out = DryRun {
            subject_found: true,
            ..DryRun::default()
        };
        let (table, cond) = self.map.subject_filter(subject);
        let n = self
            .count(format!("SELECT count(*) AS n FROM {table} t0 WHERE {cond}"))
            .await?;
        out.rows.insert(
            self.map.map.subject.table.clone(),
            EntryCount {
                action: "delete".into(),
                rows: n,
                basis: None,
            },
        );
        for t in &self.map.tables {
            let (table, cond) = self.map.entry_filter(&t.spec.name, subject);
            let rows = self
                .count(format!("SELECT count(*) AS n FROM {table} t0 WHERE {cond}"))
                .await?;
            let basis = match &t.spec.erase {
                Erase::Retain { basis, period, .. } => Some(format!("{basis} ({period})")),
                _ => None,
            };
            out.rows.insert(
                t.spec.name.clone(),
                EntryCount {
                    action: action_name(&t.spec.erase).into(),
                    rows,
                    basis,
                },
            );
        }
        for o in &self.map.map.objects {
            let n = if let Some(prefix) = BoundMap::object_prefix(o, subject) {
                self.storage.list_prefix(&o.bucket, &prefix).await?.len() as u64
            } else {
                let (Some(from), Some(column)) = (&o.from, &o.column) else {
                    continue;
                };
                let erased = self
                    .map
                    .tables
                    .iter()
                    .any(|t| &t.spec.name == from && matches!(t.spec.erase, Erase::Delete));
                if !erased {
                    continue;
                }
                self.count(format!(
                    "SELECT count(*) AS n FROM ({}) v",
                    self.map.column_values_sql(from, column, subject)
                ))
                .await?
            };
            *out.objects.entry(o.bucket.clone()).or_default() += n;
        }
        Ok(out)
    }

    /// Runs one step to completion, batch by batch.
    pub async fn run_step(&self, step: &Step, target: &Target) -> anyhow::Result<StepReport> {
        match step {
            Step::Rewrite(entry) => self.rewrite(entry, target).await,
            Step::Reassign(entry) => self.reassign(entry, target).await,
            Step::Delete(entry) => self.delete(entry, target).await,
            Step::Prefix(name) => self.prefix(name, target).await,
            Step::Subject => {
                self.boundary()?;
                let (table, cond) = self.map.subject_filter(&target.subject);
                if self.map.map.subject.placeholder.as_deref() == Some(target.subject.as_str()) {
                    anyhow::bail!("refusing to delete the placeholder account");
                }
                let n = diesel::sql_query(format!("DELETE FROM {table} t0 WHERE {cond}"))
                    .execute(&mut *self.conn().await?)
                    .await?;
                Ok(StepReport {
                    rows: n as u64,
                    ..StepReport::default()
                })
            }
        }
    }

    /// SET clause and "still needs work" predicate (over alias `t0`) of an entry's rules.
    fn rewrite_sql(&self, entry: &str, target: &Target) -> (Vec<String>, Vec<String>) {
        let spec = &self
            .map
            .tables
            .iter()
            .find(|t| t.spec.name == entry)
            .expect("planned entry")
            .spec;
        let mut sets = Vec::new();
        let mut needs = Vec::new();
        let pattern = identity_pattern(&target.identities);
        for (column, rule) in rewrite_rules(&spec.erase) {
            let c = ident(column);
            match rule {
                ColumnRule::Null => {
                    sets.push(format!("{c} = NULL"));
                    needs.push(format!("t0.{c} IS NOT NULL"));
                }
                ColumnRule::Value(value) => {
                    let ty = self.map.column_type(entry, column).unwrap_or("text");
                    sets.push(format!("{c} = CAST({} AS {ty})", literal(value)));
                    needs.push(format!(
                        "t0.{c} IS DISTINCT FROM CAST({} AS {ty})",
                        literal(value)
                    ));
                }
                ColumnRule::Hash => {
                    sets.push(format!(
                        "{c} = 'anon:' || encode(sha256(convert_to($1 || {c}, 'UTF8')), 'hex')"
                    ));
                    needs.push(format!("(t0.{c} IS NOT NULL AND t0.{c} NOT LIKE 'anon:%')"));
                }
                ColumnRule::Redact => {
                    if let Some(pattern) = &pattern {
                        sets.push(format!(
                            "{c} = regexp_replace({c}, {}, '[redacted]', 'gi')",
                            literal(pattern)
                        ));
                        needs.push(format!("t0.{c} ~* {}", literal(pattern)));
                    }
                }
                ColumnRule::JsonPaths(paths) => {
                    let mut expr = c.clone();
                    for path in paths {
                        let p = literal(&format!("{{{}}}", path.replace('.', ",")));
                        expr = format!("({expr} #- {p})");
                        needs.push(format!("(t0.{c} #> {p}) IS NOT NULL"));
                    }
                    sets.push(format!("{c} = {expr}"));
                }
            }
        }
        if let Erase::Detach { columns } = &spec.erase {
            for column in columns {
                sets.push(format!("{} = NULL", ident(column)));
                needs.push(format!("t0.{} IS NOT NULL", ident(column)));
            }
        }
        (sets, needs)
    }

    async fn rewrite(&self, entry: &str, target: &Target) -> anyhow::Result<StepReport> {
        let (sets, needs) = self.rewrite_sql(entry, target);
        if sets.is_empty() {
            return Ok(StepReport::default());
        }
        let (table, cond) = self.map.entry_filter(entry, &target.subject);
        let sql = format!(
            "UPDATE {table} d SET {} WHERE d.ctid = ANY(ARRAY(SELECT t0.ctid FROM {table} t0 WHERE {cond} AND ({}) LIMIT {}))",
            sets.join(", "),
            needs.join(" OR "),
            self.batch_size
        );
        let rows = self
            .run_batches(&sql, Some(&target.hash_key), &format!("rewriting {entry}"))
            .await?;
        Ok(StepReport {
            rows,
            ..StepReport::default()
        })
    }

    async fn reassign(&self, entry: &str, target: &Target) -> anyhow::Result<StepReport> {
        let placeholder = self
            .map
            .map
            .subject
            .placeholder
            .as_deref()
            .context("reassign needs subject.placeholder")?;
        let spec = &self
            .map
            .tables
            .iter()
            .find(|t| t.spec.name == entry)
            .expect("planned entry")
            .spec;
        let column = &spec.link.column;
        let ty = self.map.column_type(entry, column).unwrap_or("text");
        let (table, cond) = self.map.entry_filter(entry, &target.subject);
        let sql = format!(
            "UPDATE {table} d SET {c} = CAST({p} AS {ty}) WHERE d.ctid = ANY(ARRAY(SELECT t0.ctid FROM {table} t0 WHERE {cond} LIMIT {n}))",
            c = ident(column),
            p = literal(placeholder),
            n = self.batch_size
        );
        let rows = self
            .run_batches(&sql, None, &format!("reassigning {entry}"))
            .await?;
        Ok(StepReport {
            rows,
            ..StepReport::default()
        })
    }

    async fn delete(&self, entry: &str, target: &Target) -> anyhow::Result<StepReport> {
        let (table, cond) = self.map.entry_filter(entry, &target.subject);
        let objects: Vec<&crate::datamap::ObjectSpec> = self
            .map
            .map
            .objects
            .iter()
            .filter(|o| o.from.as_deref() == Some(entry) && o.column.is_some())
            .collect();
        if objects.is_empty() {
            let sql = format!(
                "DELETE FROM {table} d WHERE d.ctid = ANY(ARRAY(SELECT t0.ctid FROM {table} t0 WHERE {cond} LIMIT {}))",
                self.batch_size
            );
            let rows = self
                .run_batches(&sql, None, &format!("deleting {entry}"))
                .await?;
            return Ok(StepReport {
                rows,
                ..StepReport::default()
            });
        }
        let mut report = StepReport::default();
        let mut conn = self.conn().await?;
        let columns: Vec<String> = objects
            .iter()
            .map(|o| {
                format!(
                    "t0.{}::text",
                    ident(o.column.as_deref().unwrap_or_default())
                )
            })
            .collect();
        let select = format!(
            "SELECT json_build_array(t0.ctid::text, {})::text AS v FROM {table} t0 WHERE {cond} LIMIT {}",
            columns.join(", "),
            self.batch_size
        );
        loop {
            self.boundary()?;
            let rows: Vec<TextRow> = diesel::sql_query(&select)
                .load(&mut *conn)
                .await
                .with_context(|| format!("selecting {entry}"))?;
            if rows.is_empty() {
                return Ok(report);
            }
            let last = rows.len() < self.batch_size;
            let mut ctids = Vec::with_capacity(rows.len());
            let mut values: Vec<HashSet<String>> = vec![HashSet::new(); objects.len()];
            for row in rows {
                let fields: Vec<Option<String>> = serde_json::from_str(&row.v)?;
                let ctid = fields[0].clone().context("row without ctid")?;
                anyhow::ensure!(valid_ctid(&ctid), "unexpected ctid");
                ctids.push(ctid);
                for (i, value) in fields[1..].iter().enumerate() {
                    if let Some(value) = value {
                        values[i].insert(value.clone());
                    }
                }
            }
            let tids = format!(
                "'{{{}}}'::tid[]",
                ctids
                    .iter()
                    .map(|c| format!("\"{c}\""))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            // Objects first: a crash after this point re-selects the same rows and finds the
            // objects already gone, which is fine; the other order could lose a key.
            for (spec, raw) in objects.iter().zip(values) {
                let keys: Vec<String> = raw
                    .iter()
                    .filter_map(|v| object_key(v, spec.format))
                    .collect::<HashSet<_>>()
                    .into_iter()
                    .collect();
                let shared = self
                    .still_referenced(&mut conn, spec, &keys, entry, &tids)
                    .await?;
                let keys: Vec<String> = keys.into_iter().filter(|k| !shared.contains(k)).collect();
                report.objects_shared += shared.len() as u64;
                let deleted = self.delete_objects(&spec.bucket, &keys).await?;
                report.objects += deleted;
                *report.buckets.entry(spec.bucket.clone()).or_default() += deleted;
            }
            self.boundary()?;
            let n = diesel::sql_query(format!(
                "DELETE FROM {table} t0 WHERE t0.ctid = ANY({tids}) AND {cond}"
            ))
            .execute(&mut *conn)
            .await
            .with_context(|| format!("deleting {entry}"))?;
            report.rows += n as u64;
            if last {
                return Ok(report);
            }
        }
    }

    /// Keys among `keys` that rows other than this batch still name, in any object column
    /// of the same bucket, whether it holds bare keys or URLs: those objects must stay.
    async fn still_referenced(
        &self,
        conn: &mut AsyncPgConnection,
        spec: &crate::datamap::ObjectSpec,
        keys: &[String],
        entry: &str,
        batch_tids: &str,
    ) -> anyhow::Result<HashSet<String>> {
        let mut shared = HashSet::new();
        if keys.is_empty() {
            return Ok(shared);
        }
        // URL columns are compared on their path, which may be percent-encoded.
        let mut url_paths: Vec<String> = keys.to_vec();
        url_paths.extend(
            keys.iter()
                .map(|k| encoded_path(k))
                .filter(|e| !keys.contains(e)),
        );
        let this_table = self
            .map
            .tables
            .iter()
            .find(|t| t.spec.name == entry)
            .map(|t| t.spec.table_name())
            .unwrap_or("");
        let mut checked = HashSet::new();
        for other in self
            .map
            .map
            .objects
            .iter()
            .filter(|o| o.bucket == spec.bucket)
        {
            let (Some(from), Some(column)) = (&other.from, &other.column) else {
                continue;
            };
            let Some(table) = self
                .map
                .tables
                .iter()
                .find(|t| &t.spec.name == from)
                .map(|t| t.spec.table_name())
            else {
                continue;
            };
            if !checked.insert((table, column.as_str(), other.format)) {
                continue;
            }
            let c = ident(column);
            let exclude = if table == this_table {
                format!(" AND NOT (x.ctid = ANY({batch_tids}))")
            } else {
                String::new()
            };
            let (key_expr, candidates) = match other.format {
                KeyFormat::Key => (format!("x.{c}::text"), keys),
                KeyFormat::Url => (
                    format!("regexp_replace(x.{c}::text, '^[A-Za-z][A-Za-z0-9+.-]*://[^/]*/', '')"),
                    url_paths.as_slice(),
                ),
            };
            let sql = format!(
                "SELECT DISTINCT x.{c}::text AS v FROM {t} x WHERE {key_expr} = ANY($1){exclude}",
                t = self.map.qualified_table(table)
            );
            let rows: Vec<TextRow> = diesel::sql_query(sql)
                .bind::<Array<Text>, _>(candidates)
                .load(conn)
                .await?;
            shared.extend(
                rows.into_iter()
                    .filter_map(|r| object_key(&r.v, other.format)),
            );
        }
        Ok(shared)
    }

    async fn prefix(&self, name: &str, target: &Target) -> anyhow::Result<StepReport> {
        let spec = self
            .map
            .map
            .objects
            .iter()
            .find(|o| o.name == name)
            .context("planned object entry")?;
        let prefix = BoundMap::object_prefix(spec, &target.subject).context("prefix entry")?;
        let keys = self.storage.list_prefix(&spec.bucket, &prefix).await?;
        let n = self.delete_objects(&spec.bucket, &keys).await?;
        Ok(StepReport {
            objects: n,
            buckets: BTreeMap::from([(spec.bucket.clone(), n)]),
            ..StepReport::default()
        })
    }

    /// The step as one unbatched SQL statement (no objects, no batching, no verification):
    /// what a person would type into psql. The benchmark's lower bound. `$1` stands for
    /// the hash key, as in the batched statements. `None` for object-only steps.
    pub fn unbatched_sql(&self, step: &Step, target: &Target) -> Option<String> {
        match step {
            Step::Rewrite(entry) => {
                let (sets, needs) = self.rewrite_sql(entry, target);
                let (table, cond) = self.map.entry_filter(entry, &target.subject);
                (!sets.is_empty()).then(|| {
                    format!(
                        "UPDATE {table} t0 SET {} WHERE {cond} AND ({})",
                        sets.join(", "),
                        needs.join(" OR ")
                    )
                })
            }
            Step::Reassign(entry) => {
                let spec = &self.map.tables.iter().find(|t| &t.spec.name == entry)?.spec;
                let ty = self
                    .map
                    .column_type(entry, &spec.link.column)
                    .unwrap_or("text");
                let placeholder = self.map.map.subject.placeholder.as_deref()?;
                let (table, cond) = self.map.entry_filter(entry, &target.subject);
                Some(format!(
                    "UPDATE {table} t0 SET {} = CAST({} AS {ty}) WHERE {cond}",
                    ident(&spec.link.column),
                    literal(placeholder)
                ))
            }
            Step::Delete(entry) => {
                let (table, cond) = self.map.entry_filter(entry, &target.subject);
                Some(format!("DELETE FROM {table} t0 WHERE {cond}"))
            }
            Step::Subject => {
                let (table, cond) = self.map.subject_filter(&target.subject);
                Some(format!("DELETE FROM {table} t0 WHERE {cond}"))
            }
            Step::Prefix(_) => None,
        }
    }

    /// Re-locates the subject: every step must find nothing left to do.
    pub async fn verify(&self, plan: &Plan, target: &Target) -> anyhow::Result<Vec<Leftover>> {
        let mut leftovers = Vec::new();
        for step in &plan.steps {
            let count = match step {
                Step::Delete(entry) | Step::Reassign(entry) => {
                    let (table, cond) = self.map.entry_filter(entry, &target.subject);
                    self.count(format!("SELECT count(*) AS n FROM {table} t0 WHERE {cond}"))
                        .await?
                }
                Step::Rewrite(entry) => {
                    let (_, needs) = self.rewrite_sql(entry, target);
                    if needs.is_empty() {
                        0
                    } else {
                        let (table, cond) = self.map.entry_filter(entry, &target.subject);
                        let sql = format!(
                            "SELECT count(*) AS n FROM {table} t0 WHERE {cond} AND ({})",
                            needs.join(" OR ")
                        );
                        let row: Count = diesel::sql_query(sql)
                            .bind::<Text, _>(&target.hash_key)
                            .get_result(&mut *self.conn().await?)
                            .await?;
                        row.n as u64
                    }
                }
                Step::Prefix(name) => {
                    let spec = self
                        .map
                        .map
                        .objects
                        .iter()
                        .find(|o| &o.name == name)
                        .context("object entry")?;
                    let prefix =
                        BoundMap::object_prefix(spec, &target.subject).context("prefix")?;
                    self.storage.list_prefix(&spec.bucket, &prefix).await?.len() as u64
                }
                Step::Subject => {
                    let (table, cond) = self.map.subject_filter(&target.subject);
                    self.count(format!("SELECT count(*) AS n FROM {table} t0 WHERE {cond}"))
                        .await?
                }
            };
            if count > 0 {
                leftovers.push(Leftover {
                    step: step.label(),
                    count,
                });
            }
        }
        Ok(leftovers)
    }
}

/// A key as it appears, percent-encoded, in the path of a URL.
fn encoded_path(key: &str) -> String {
    let mut url = url::Url::parse("s3://bucket/").expect("a valid base URL");
    url.set_path(key);
    url.path().trim_start_matches('/').to_owned()
}

fn valid_ctid(ctid: &str) -> bool {
    let inner = ctid.strip_prefix('(').and_then(|s| s.strip_suffix(')'));
    inner.is_some_and(|s| {
        let mut parts = s.split(',');
        let ok = |p: Option<&str>| {
            p.is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        };
        ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
    })
}

/// A case-insensitive regular expression matching any identity string literally.
fn identity_pattern(identities: &[String]) -> Option<String> {
    let escaped: Vec<String> = identities
        .iter()
        .filter(|s| s.len() >= 3)
        .map(|s| {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '_' {
                        c.to_string()
                    } else {
                        format!("\\{c}")
                    }
                })
                .collect()
        })
        .collect();
    (!escaped.is_empty()).then(|| escaped.join("|"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_patterns_escape_regex_characters() {
        assert_eq!(
            identity_pattern(&["a.b+c@x.com".into(), "ab".into()]).unwrap(),
            "a\\.b\\+c\\@x\\.com"
        );
        assert_eq!(identity_pattern(&[]), None);
    }

    #[test]
    fn keys_are_matched_against_their_percent_encoded_url_paths() {
        assert_eq!(encoded_path("images/1/a b.png"), "images/1/a%20b.png");
        assert_eq!(
            object_key(
                &format!("https://cdn.x/{}", encoded_path("images/1/a b.png")),
                KeyFormat::Url
            )
            .as_deref(),
            Some("images/1/a b.png")
        );
    }

    #[test]
    fn ctids_are_checked_before_they_are_spliced() {
        assert!(valid_ctid("(0,1)"));
        assert!(valid_ctid("(123,45)"));
        assert!(!valid_ctid("(1,2);DROP"));
        assert!(!valid_ctid("(,1)"));
    }
}
