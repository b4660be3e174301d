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

/// What a foreign key does when the referenced row is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDelete {
    /// `NO ACTION` or `RESTRICT`: the delete fails while rows reference it.
    Restrict,
    /// `CASCADE`: referencing rows are deleted too.
    Cascade,
    /// `SET NULL` / `SET DEFAULT`: referencing rows survive, detached.
    SetNull,
}

/// A foreign key between two tables of the schema.
#[derive(Debug, Clone)]
pub struct ForeignKey {
    /// Constraint name.
    pub name: String,
    /// The referencing table.
    pub table: String,
    /// Its columns.
    pub columns: Vec<String>,
    /// The referenced table.
    pub references: String,
    /// The referenced columns.
    pub referenced_columns: Vec<String>,
    /// The delete rule.
    pub on_delete: OnDelete,
}

/// The columns of every table in one schema, in table order, and its foreign keys.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    tables: HashMap<String, Vec<ColumnInfo>>,
    /// Every foreign key among the schema's tables.
    pub foreign_keys: Vec<ForeignKey>,
}

#[derive(QueryableByName)]
struct ForeignKeyRow {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    columns: String,
    #[diesel(sql_type = Text)]
    references: String,
    #[diesel(sql_type = Text)]
    referenced_columns: String,
    #[diesel(sql_type = Text)]
    on_delete: String,
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
            tables.entry(row.table_name).or_default().push(ColumnInfo {
                name: row.column_name,
                sql_type: row.sql_type,
            });
        }
        let fks: Vec<ForeignKeyRow> = diesel::sql_query(
            "SELECT con.conname::text AS name, src.relname::text AS table_name, \
                    (SELECT string_agg(a.attname, ',' ORDER BY k.i) FROM unnest(con.conkey) WITH ORDINALITY k(n, i) \
                      JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n) AS columns, \
                    tgt.relname::text AS references, \
                    (SELECT string_agg(a.attname, ',' ORDER BY k.i) FROM unnest(con.confkey) WITH ORDINALITY k(n, i) \
                      JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n) AS referenced_columns, \
                    con.confdeltype::text AS on_delete \
             FROM pg_constraint con \
             JOIN pg_class src ON src.oid = con.conrelid \
             JOIN pg_class tgt ON tgt.oid = con.confrelid \
             JOIN pg_namespace n ON n.oid = src.relnamespace \
             WHERE con.contype = 'f' AND n.nspname = $1 \
             ORDER BY src.relname, con.conname",
        )
        .bind::<Text, _>(schema)
        .load(conn)
        .await?;
        let foreign_keys = fks
            .into_iter()
            .map(|r| ForeignKey {
                name: r.name,
                table: r.table_name,
                columns: r.columns.split(',').map(str::to_owned).collect(),
                references: r.references,
                referenced_columns: r.referenced_columns.split(',').map(str::to_owned).collect(),
                on_delete: match r.on_delete.as_str() {
                    "c" => OnDelete::Cascade,
                    "n" | "d" => OnDelete::SetNull,
                    _ => OnDelete::Restrict,
                },
            })
            .collect();
        Ok(Self {
            tables,
            foreign_keys,
        })
    }

    /// Every table name.
    pub fn table_names(&self) -> impl Iterator<Item = &str> {
        self.tables.keys().map(String::as_str)
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
