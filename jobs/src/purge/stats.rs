//! Exact row counts per table, as PostgreSQL counts them: the backend's own
//! `pg_stat_xact_user_tables` counters read before and after a statement inside one
//! transaction. The difference includes rows the database deleted or detached by itself
//! (cascades, SET NULL) and rows triggers wrote. (The counters may also hold counts of
//! earlier transactions not yet flushed, hence the difference.)

use std::collections::BTreeMap;

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::report::TableCounts;

#[derive(QueryableByName)]
struct StatRow {
    #[diesel(sql_type = Text)]
    schema: String,
    #[diesel(sql_type = Text)]
    table: String,
    #[diesel(sql_type = BigInt)]
    ins: i64,
    #[diesel(sql_type = BigInt)]
    upd: i64,
    #[diesel(sql_type = BigInt)]
    del: i64,
}

/// The counters of every table this backend has touched, keyed by table name (qualified
/// with its schema when it is not `schema`).
pub(crate) async fn snapshot(
    conn: &mut AsyncPgConnection,
    schema: &str,
) -> diesel::QueryResult<BTreeMap<String, TableCounts>> {
    let rows: Vec<StatRow> = diesel::sql_query(
        "SELECT schemaname::text AS schema, relname::text AS table, n_tup_ins AS ins, n_tup_upd AS upd, n_tup_del AS del \
         FROM pg_stat_xact_user_tables WHERE n_tup_ins + n_tup_upd + n_tup_del > 0",
    )
    .load(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let name = if r.schema == schema {
                r.table
            } else {
                format!("{}.{}", r.schema, r.table)
            };
            (
                name,
                TableCounts {
                    deleted: r.del.max(0) as u64,
                    updated: r.upd.max(0) as u64,
                    inserted: r.ins.max(0) as u64,
                },
            )
        })
        .collect())
}

/// `after - before`, leaving out tables with no change.
pub(crate) fn diff(
    before: &BTreeMap<String, TableCounts>,
    after: &BTreeMap<String, TableCounts>,
) -> BTreeMap<String, TableCounts> {
    after
        .iter()
        .filter_map(|(table, a)| {
            let b = before.get(table).copied().unwrap_or_default();
            let d = TableCounts {
                deleted: a.deleted.saturating_sub(b.deleted),
                updated: a.updated.saturating_sub(b.updated),
                inserted: a.inserted.saturating_sub(b.inserted),
            };
            (!d.is_empty()).then(|| (table.clone(), d))
        })
        .collect()
}

/// Runs `statement` (which affects rows) in its own transaction and returns the rows it
/// reported and the counts per table.
pub(crate) async fn measured(
    conn: &mut AsyncPgConnection,
    schema: &str,
    statement: diesel::query_builder::BoxedSqlQuery<
        '_,
        diesel::pg::Pg,
        diesel::query_builder::SqlQuery,
    >,
) -> diesel::QueryResult<(usize, BTreeMap<String, TableCounts>)> {
    conn.transaction::<_, diesel::result::Error, _>(async |c| {
        let before = snapshot(c, schema).await?;
        let n = statement.execute(c).await?;
        let after = snapshot(c, schema).await?;
        Ok((n, diff(&before, &after)))
    })
    .await
}
