//! Exact row counts per table, as PostgreSQL counts them: the backend's own transaction
//! counters (`pg_stat_get_xact_tuples_*`, what `pg_stat_xact_user_tables` shows) of every
//! table of the platform schema, read before and after a statement inside one
//! transaction. The difference includes rows the database deleted or detached by itself
//! (cascades, SET NULL) and rows triggers wrote in the schema. (The counters may also hold
//! counts of earlier transactions not yet flushed, hence the difference.)

use std::collections::BTreeMap;

use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures::FutureExt;
use futures::future::BoxFuture;

use super::report::TableCounts;

/// The tables counted: object ids and names, and which tables cannot make the database
/// write anywhere else.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tables {
    oids: Vec<u32>,
    names: std::collections::HashMap<u32, String>,
    /// Tables with no trigger or rule that no foreign key points at: an UPDATE of their
    /// rows writes nothing else.
    quiet_update: std::collections::HashSet<String>,
    /// Tables with no trigger or rule that no foreign key points at with a CASCADE or SET
    /// NULL action: a DELETE of their rows writes nothing else.
    quiet_delete: std::collections::HashSet<String>,
}

impl Tables {
    /// Every table of a catalog.
    pub(crate) fn of(catalog: &crate::datamap::Catalog) -> Self {
        use crate::datamap::catalog::OnDelete;
        let noisy: std::collections::HashSet<&str> =
            catalog.triggers.iter().map(|t| t.table.as_str()).collect();
        // Any key pointing at a table may act on UPDATE of the columns it references.
        let referenced: std::collections::HashSet<&str> = catalog
            .foreign_keys
            .iter()
            .map(|fk| fk.references.as_str())
            .collect();
        let acted_on: std::collections::HashSet<&str> = catalog
            .foreign_keys
            .iter()
            .filter(|fk| fk.on_delete != OnDelete::Restrict)
            .map(|fk| fk.references.as_str())
            .collect();
        let silent = catalog.oids.keys().filter(|t| !noisy.contains(t.as_str()));
        let quiet_update = silent
            .clone()
            .filter(|t| !referenced.contains(t.as_str()))
            .cloned()
            .collect();
        let quiet_delete = silent
            .filter(|t| !acted_on.contains(t.as_str()))
            .cloned()
            .collect();
        Self {
            oids: catalog.oids.values().copied().collect(),
            names: catalog.oids.iter().map(|(n, o)| (*o, n.clone())).collect(),
            quiet_update,
            quiet_delete,
        }
    }
}

/// What a statement does to which table, when it is known to write nothing else.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Writes<'a> {
    /// Deletes rows of the table.
    Delete(&'a str),
    /// Updates rows of the table.
    Update(&'a str),
    /// Anything else: measure.
    Unknown,
}

#[derive(QueryableByName)]
struct StatRow {
    #[diesel(sql_type = diesel::sql_types::Oid)]
    oid: u32,
    #[diesel(sql_type = BigInt)]
    ins: i64,
    #[diesel(sql_type = BigInt)]
    upd: i64,
    #[diesel(sql_type = BigInt)]
    del: i64,
}

/// The counters of the platform's tables that this backend has touched, by table name.
pub(crate) async fn snapshot(
    conn: &mut AsyncPgConnection,
    tables: &Tables,
) -> diesel::QueryResult<BTreeMap<String, TableCounts>> {
    let rows: Vec<StatRow> = diesel::sql_query(
        "SELECT r AS oid, ins, upd, del FROM (SELECT r, pg_stat_get_xact_tuples_inserted(r) AS ins, \
                pg_stat_get_xact_tuples_updated(r) AS upd, pg_stat_get_xact_tuples_deleted(r) AS del \
           FROM unnest($1::oid[]) r) s WHERE ins + upd + del > 0",
    )
    .bind::<diesel::sql_types::Array<diesel::sql_types::Oid>, _>(&tables.oids)
    .load(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let name = tables.names.get(&r.oid)?.clone();
            Some((
                name,
                TableCounts {
                    deleted: r.del.max(0) as u64,
                    updated: r.upd.max(0) as u64,
                    inserted: r.ins.max(0) as u64,
                },
            ))
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
///
/// Platform connections commit asynchronously (see [`crate::platform::pool`]).
pub(crate) async fn measured(
    conn: &mut AsyncPgConnection,
    tables: &Tables,
    writes: Writes<'_>,
    statement: diesel::query_builder::BoxedSqlQuery<
        'static,
        diesel::pg::Pg,
        diesel::query_builder::SqlQuery,
    >,
) -> diesel::QueryResult<(usize, BTreeMap<String, TableCounts>)> {
    measured_by(conn, tables, writes, |c| {
        async move {
            let n = statement.execute(c).await?;
            Ok((n, n))
        }
        .boxed()
    })
    .await
}

/// Runs `run` (which yields its result and the rows its statement affected) in its own
/// transaction with the counts per table; for a table with no trigger, rule or acting
/// foreign key, the statement's own count is the whole count and no counters are read.
async fn measured_by<T: Send>(
    conn: &mut AsyncPgConnection,
    tables: &Tables,
    writes: Writes<'_>,
    run: impl for<'c> FnOnce(
        &'c mut AsyncPgConnection,
    ) -> BoxFuture<'c, diesel::QueryResult<(T, usize)>>
    + Send,
) -> diesel::QueryResult<(T, BTreeMap<String, TableCounts>)> {
    let quiet = match writes {
        Writes::Delete(t) if tables.quiet_delete.contains(t) => Some((t, true)),
        Writes::Update(t) if tables.quiet_update.contains(t) => Some((t, false)),
        _ => None,
    };
    if let Some((table, delete)) = quiet {
        let (out, n) = run(conn).await?;
        let counts = if delete {
            TableCounts {
                deleted: n as u64,
                ..TableCounts::default()
            }
        } else {
            TableCounts {
                updated: n as u64,
                ..TableCounts::default()
            }
        };
        let mut tables = BTreeMap::new();
        if n > 0 {
            tables.insert(table.to_owned(), counts);
        }
        return Ok((out, tables));
    }
    // diesel's transaction (not a hand-written BEGIN): if this future is dropped midway,
    // the connection is known to be inside a transaction and is not reused.
    conn.transaction::<_, diesel::result::Error, _>(async |c| {
        let before = snapshot(c, tables).await?;
        let (out, _) = run(c).await?;
        let after = snapshot(c, tables).await?;
        Ok((out, diff(&before, &after)))
    })
    .await
}

/// What a statement that takes rows out of a pick and deletes them reports.
#[derive(QueryableByName, Debug, Clone, Copy)]
pub(crate) struct Taken {
    /// Rows taken out of the pick.
    #[diesel(sql_type = BigInt)]
    pub taken: i64,
    /// Rows of the table deleted.
    #[diesel(sql_type = BigInt)]
    pub deleted: i64,
}

/// Like [`measured`], for a delete from `table` written as a query yielding [`Taken`].
pub(crate) async fn measured_taken(
    conn: &mut AsyncPgConnection,
    tables: &Tables,
    table: &str,
    statement: String,
) -> diesel::QueryResult<(Taken, BTreeMap<String, TableCounts>)> {
    measured_by(conn, tables, Writes::Delete(table), |c| {
        async move {
            let taken: Taken = diesel::sql_query(statement).get_result(c).await?;
            Ok((taken, taken.deleted.max(0) as usize))
        }
        .boxed()
    })
    .await
}
