//! Checks a purge against the [`AnswerKey`]: take a [`Snapshot`] before purging one
//! subject, purge, then [`Snapshot::verify`] lists every violation:
//!
//! - a row outside `touched` that changed or vanished, or a new row outside `touched`
//!   (evaluated afterwards: tombstones);
//! - a `gone` row that still exists; a `kept` row that vanished, still holds the
//!   subject's id in a link column, or still names the subject in a cleared column;
//! - an identity column that still names the subject anywhere;
//! - a subject object that still exists, or anyone else's object that vanished.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use diesel::QueryableByName;
use diesel::sql_types::{Array, BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use lethe_jobs::storage::Storage;

use super::answer::{AnswerKey, identity_match};
use super::model::q;

#[derive(QueryableByName)]
struct KeyRow {
    #[diesel(sql_type = Text)]
    k: String,
}

#[derive(QueryableByName)]
struct KeyValue {
    #[diesel(sql_type = Text)]
    k: String,
    #[diesel(sql_type = Text)]
    v: String,
}

#[derive(QueryableByName)]
struct Identity {
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Text)]
    username: String,
}

struct TableSnap {
    rows: HashMap<String, String>,
    touched: HashSet<String>,
    gone: Vec<String>,
    kept: Vec<Vec<String>>,
}

/// The state of the platform before a purge, as far as the answer key needs it.
pub struct Snapshot {
    subject: i64,
    email: String,
    username: String,
    tables: Vec<TableSnap>,
    objects: BTreeMap<String, BTreeSet<String>>,
    subject_objects: BTreeMap<String, BTreeSet<String>>,
}

async fn keys(
    conn: &mut AsyncPgConnection,
    sql: String,
    subject: i64,
) -> anyhow::Result<Vec<String>> {
    let rows: Vec<KeyRow> = diesel::sql_query(sql)
        .bind::<BigInt, _>(subject)
        .load(conn)
        .await?;
    Ok(rows.into_iter().map(|r| r.k).collect())
}

async fn all_objects(storage: &Storage) -> anyhow::Result<BTreeMap<String, BTreeSet<String>>> {
    let mut out = BTreeMap::new();
    for bucket in super::BUCKETS {
        out.insert(
            (*bucket).to_owned(),
            storage.list_prefix(bucket, "").await?.into_iter().collect(),
        );
    }
    Ok(out)
}

impl Snapshot {
    /// Reads everything the check needs before purging `subject`.
    pub async fn take(
        conn: &mut AsyncPgConnection,
        storage: &Storage,
        key: &AnswerKey,
        subject: i64,
    ) -> anyhow::Result<Self> {
        let who: Identity =
            diesel::sql_query("SELECT \"email\", \"username\" FROM \"User\" WHERE \"id\" = $1")
                .bind::<BigInt, _>(subject)
                .get_result(conn)
                .await?;
        let mut tables = Vec::new();
        for t in &key.tables {
            let from = q(&t.table);
            let rows: Vec<KeyValue> =
                diesel::sql_query(format!("SELECT {} AS k, t::text AS v FROM {from} t", t.key))
                    .load(conn)
                    .await?;
            let touched = keys(
                conn,
                format!("SELECT {} AS k FROM {from} t WHERE {}", t.key, t.touched),
                subject,
            )
            .await?;
            let gone = match &t.gone {
                Some(g) => {
                    keys(
                        conn,
                        format!("SELECT {} AS k FROM {from} t WHERE {g}", t.key),
                        subject,
                    )
                    .await?
                }
                None => Vec::new(),
            };
            let mut kept = Vec::new();
            for k in &t.kept {
                kept.push(
                    keys(
                        conn,
                        format!("SELECT {} AS k FROM {from} t WHERE {}", t.key, k.predicate),
                        subject,
                    )
                    .await?,
                );
            }
            tables.push(TableSnap {
                rows: rows.into_iter().map(|r| (r.k, r.v)).collect(),
                touched: touched.into_iter().collect(),
                gone,
                kept,
            });
        }
        let mut subject_objects = BTreeMap::new();
        for b in &key.subject_objects {
            subject_objects.insert(
                b.bucket.clone(),
                keys(conn, b.sql.clone(), subject)
                    .await?
                    .into_iter()
                    .collect(),
            );
        }
        Ok(Self {
            subject,
            email: who.email,
            username: who.username,
            tables,
            objects: all_objects(storage).await?,
            subject_objects,
        })
    }

    /// Rows the answer key expects to be gone, per table (for reports).
    pub fn gone_counts(&self, key: &AnswerKey) -> BTreeMap<String, usize> {
        key.tables
            .iter()
            .zip(&self.tables)
            .filter(|(_, s)| !s.gone.is_empty())
            .map(|(t, s)| (t.table.clone(), s.gone.len()))
            .collect()
    }

    /// The subject's objects (per bucket) the purge must delete.
    pub fn subject_object_count(&self) -> usize {
        self.subject_objects.values().map(BTreeSet::len).sum()
    }

    /// Every violation of the answer key after the purge (empty: the purge was right).
    pub async fn verify(
        &self,
        conn: &mut AsyncPgConnection,
        storage: &Storage,
        key: &AnswerKey,
    ) -> anyhow::Result<Vec<String>> {
        let mut out = Vec::new();
        for (t, before) in key.tables.iter().zip(&self.tables) {
            let from = q(&t.table);
            let rows: Vec<KeyValue> =
                diesel::sql_query(format!("SELECT {} AS k, t::text AS v FROM {from} t", t.key))
                    .load(conn)
                    .await?;
            let after: HashMap<String, String> = rows.into_iter().map(|r| (r.k, r.v)).collect();
            for (k, v) in &before.rows {
                if !before.touched.contains(k) && after.get(k) != Some(v) {
                    out.push(format!(
                        "{}: untouched row {k} changed or vanished",
                        t.table
                    ));
                }
            }
            if after.keys().any(|k| !before.rows.contains_key(k)) {
                let touched: HashSet<String> = keys(
                    conn,
                    format!("SELECT {} AS k FROM {from} t WHERE {}", t.key, t.touched),
                    self.subject,
                )
                .await?
                .into_iter()
                .collect();
                for k in after
                    .keys()
                    .filter(|k| !before.rows.contains_key(*k) && !touched.contains(*k))
                {
                    out.push(format!("{}: unexpected new row {k}", t.table));
                }
            }
            for k in before.gone.iter().filter(|k| after.contains_key(*k)) {
                out.push(format!("{}: row {k} should be gone", t.table));
            }
            for (rule, rows) in t.kept.iter().zip(&before.kept) {
                for k in rows.iter().filter(|k| !after.contains_key(*k)) {
                    out.push(format!("{}: kept row {k} vanished", t.table));
                }
                let mut bad: Vec<String> = rule
                    .link_columns
                    .iter()
                    .map(|c| format!("t.{} = $1", q(c)))
                    .collect();
                bad.extend(rule.cleared_columns.iter().map(|c| {
                    let col = format!("t.{}", q(c));
                    format!("({col} IS NOT NULL AND {})", identity_match(&col))
                }));
                if bad.is_empty() || rows.is_empty() {
                    continue;
                }
                let sql = format!(
                    "SELECT {} AS k FROM {from} t WHERE ({}) = ANY($4) AND ({})",
                    t.key,
                    t.key,
                    bad.join(" OR ")
                );
                let found: Vec<KeyRow> = diesel::sql_query(sql)
                    .bind::<BigInt, _>(self.subject)
                    .bind::<Text, _>(&self.email)
                    .bind::<Text, _>(&self.username)
                    .bind::<Array<Text>, _>(rows)
                    .load(conn)
                    .await?;
                out.extend(found.into_iter().map(|r| {
                    format!(
                        "{}: kept row {} still links to or names the subject",
                        t.table, r.k
                    )
                }));
            }
        }
        for (table, column) in &key.identity_columns {
            let sql = format!(
                "SELECT {} AS k FROM {} t WHERE {}",
                key_of(key, table),
                q(table),
                identity_match(&format!("t.{}", q(column)))
            );
            let found: Vec<KeyRow> = diesel::sql_query(sql)
                .bind::<BigInt, _>(self.subject)
                .bind::<Text, _>(&self.email)
                .bind::<Text, _>(&self.username)
                .load(conn)
                .await?;
            out.extend(
                found
                    .into_iter()
                    .map(|r| format!("{table}.{column}: row {} still names the subject", r.k)),
            );
        }
        let after = all_objects(storage).await?;
        let empty = BTreeSet::new();
        for (bucket, keys) in &self.objects {
            let now = after.get(bucket).unwrap_or(&empty);
            let mine = self.subject_objects.get(bucket).unwrap_or(&empty);
            for k in keys {
                match (mine.contains(k), now.contains(k)) {
                    (true, true) => {
                        out.push(format!("{bucket}/{k}: the subject's object still exists"))
                    }
                    (false, false) => {
                        out.push(format!("{bucket}/{k}: someone else's object vanished"))
                    }
                    _ => {}
                }
            }
        }
        Ok(out)
    }
}

fn key_of(key: &AnswerKey, table: &str) -> String {
    key.tables
        .iter()
        .find(|t| t.table == table)
        .map_or("t::text".to_owned(), |t| t.key.clone())
}
