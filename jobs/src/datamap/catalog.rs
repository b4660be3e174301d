//! What the live platform database says about its own tables, read from the PostgreSQL
//! catalog.

use std::collections::HashMap;

use diesel::QueryableByName;
use diesel::sql_types::{Integer, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// One column of a platform table.
#[derive(Debug, Clone)]
pub struct ColumnInfo {
    /// Column name.
    pub name: String,
    /// The type as PostgreSQL spells it (`bigint`, `timestamp with time zone`, …).
    pub sql_type: String,
}

/// The columns of every table in one schema, in table order.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    tables: HashMap<String, Vec<ColumnInfo>>,
}

#[derive(QueryableByName)]
struct ColumnRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    sql_type: String,
    #[diesel(sql_type = Integer)]
    #[expect(dead_code, reason = "read only to order the rows")]
    position: i32,
}

impl Catalog {
    /// Reads the tables and columns of `schema`.
    pub async fn load(conn: &mut AsyncPgConnection, schema: &str) -> diesel::QueryResult<Self> {
        let rows: Vec<ColumnRow> = diesel::sql_query(
            "SELECT c.relname::text AS table_name, a.attname::text AS column_name, \
                    format_type(a.atttypid, a.atttypmod) AS sql_type, a.attnum::int AS position \
             FROM pg_attribute a \
             JOIN pg_class c ON c.oid = a.attrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY c.relname, a.attnum",
        )
        .bind::<Text, _>(schema)
        .load(conn)
        .await?;
        let mut tables: HashMap<String, Vec<ColumnInfo>> = HashMap::new();
        for row in rows {
            tables
                .entry(row.table_name)
                .or_default()
                .push(ColumnInfo { name: row.column_name, sql_type: row.sql_type });
        }
        Ok(Self { tables })
    }

    /// The columns of a table, in order, or `None` if it does not exist.
    pub fn columns(&self, table: &str) -> Option<&[ColumnInfo]> {
        self.tables.get(table).map(Vec::as_slice)
    }

    /// One column of a table.
    pub fn column(&self, table: &str, column: &str) -> Option<&ColumnInfo> {
        self.columns(table)?.iter().find(|c| c.name == column)
    }
}

/// Quotes an SQL identifier (doubling embedded quotes), so any name is safe to splice.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes a string literal for PostgreSQL with `standard_conforming_strings` on (the default
/// since 9.1): only single quotes need doubling. Used for the subject key, which Lethe read
/// from the platform database itself, inside cursor declarations that take no parameters.
pub fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}
