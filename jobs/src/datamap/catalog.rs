//! What the live platform database says about its own tables, read from the PostgreSQL
//! catalog: columns, foreign keys, unique keys, CHECK constraints and triggers, and a
//! fingerprint of all of it (a purge runs only on the schema it was rehearsed on).

use std::collections::{BTreeMap, HashMap};

use diesel::QueryableByName;
use diesel::sql_types::{Bool, Double, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use sha2::{Digest, Sha256};

/// One column of a platform table.
#[derive(Debug, Clone)]
pub struct ColumnInfo {
    /// Column name.
    pub name: String,
    /// The type as PostgreSQL spells it (`bigint`, `timestamp with time zone`, …).
    pub sql_type: String,
    /// `NOT NULL`.
    pub not_null: bool,
    /// Has a default (or is an identity or generated column).
    pub has_default: bool,
}

impl ColumnInfo {
    /// `text`, `character varying(…)`, `citext`.
    pub fn is_text(&self) -> bool {
        self.sql_type == "text"
            || self.sql_type.starts_with("character")
            || self.sql_type == "citext"
    }

    /// `json` or `jsonb`.
    pub fn is_json(&self) -> bool {
        self.sql_type == "json" || self.sql_type == "jsonb"
    }

    /// An array of text.
    pub fn is_text_array(&self) -> bool {
        self.sql_type == "text[]"
            || self.sql_type.starts_with("character varying") && self.sql_type.ends_with("[]")
    }
}

/// What a foreign key does when the referenced row is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OnDelete {
    /// `NO ACTION` or `RESTRICT`: the delete fails while rows reference it.
    Restrict,
    /// `CASCADE`: referencing rows are deleted too.
    Cascade,
    /// `SET NULL` / `SET DEFAULT`: referencing rows survive, detached.
    SetNull,
}

impl OnDelete {
    /// As SQL spells it (for messages).
    pub fn sql(self) -> &'static str {
        match self {
            Self::Restrict => "RESTRICT",
            Self::Cascade => "CASCADE",
            Self::SetNull => "SET NULL",
        }
    }
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

/// A unique key (primary key, unique constraint or unique index).
#[derive(Debug, Clone)]
pub struct UniqueKey {
    /// Constraint or index name.
    pub name: String,
    /// The table.
    pub table: String,
    /// Its columns (empty for expression indexes).
    pub columns: Vec<String>,
    /// Whether it is the primary key.
    pub primary: bool,
    /// `NULLS NOT DISTINCT`: two NULLs collide.
    pub nulls_not_distinct: bool,
}

/// A CHECK constraint.
#[derive(Debug, Clone)]
pub struct CheckConstraint {
    /// Constraint name.
    pub name: String,
    /// The table.
    pub table: String,
    /// Columns it mentions.
    pub columns: Vec<String>,
    /// The boolean expression, as `pg_get_constraintdef` prints it inside `CHECK (…)`.
    pub expression: String,
}

/// A user trigger (or a rewrite rule) on a platform table.
#[derive(Debug, Clone)]
pub struct Trigger {
    /// Trigger name.
    pub name: String,
    /// The table.
    pub table: String,
    /// Its definition (`CREATE TRIGGER …`).
    pub definition: String,
}

/// The columns of every table in one schema and its constraints.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    tables: HashMap<String, Vec<ColumnInfo>>,
    /// Estimated rows per table (from the planner's statistics; -1 unknown).
    pub estimated_rows: HashMap<String, f64>,
    /// Each table's object id (not part of the fingerprint: it changes with a restore).
    pub oids: HashMap<String, u32>,
    /// Partitioned tables and tables with inheritance children: a purge cannot tell their
    /// rows apart by `ctid` alone, so the map may not reach them (yet).
    pub parents: std::collections::BTreeSet<String>,
    /// Foreign keys from tables of other schemas into this one (`schema.table(cols) ->
    /// table`): the map cannot see those rows, and a purge would cascade into them.
    pub keys_from_outside: Vec<(String, String)>,
    /// Every foreign key among the schema's tables.
    pub foreign_keys: Vec<ForeignKey>,
    /// Primary keys, unique constraints and unique indexes.
    pub unique_keys: Vec<UniqueKey>,
    /// CHECK constraints.
    pub checks: Vec<CheckConstraint>,
    /// User triggers.
    pub triggers: Vec<Trigger>,
}

#[derive(QueryableByName)]
struct ColumnRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    sql_type: String,
    #[diesel(sql_type = Bool)]
    not_null: bool,
    #[diesel(sql_type = Bool)]
    has_default: bool,
}

#[derive(QueryableByName)]
struct TableRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Double)]
    estimate: f64,
    #[diesel(sql_type = diesel::sql_types::Oid)]
    oid: u32,
    #[diesel(sql_type = Bool)]
    parent: bool,
}

#[derive(QueryableByName)]
struct OutsideRow {
    #[diesel(sql_type = Text)]
    description: String,
    #[diesel(sql_type = Text)]
    references: String,
}

#[derive(QueryableByName)]
struct ConstraintRow {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    table_name: String,
    /// Column names joined by U+001F.
    #[diesel(sql_type = Text)]
    columns: String,
    #[diesel(sql_type = Text)]
    references: String,
    #[diesel(sql_type = Text)]
    referenced_columns: String,
    /// Delete rule for foreign keys, `NULLS NOT DISTINCT` flag (t/f) for unique keys.
    #[diesel(sql_type = Text)]
    flag: String,
    #[diesel(sql_type = Text)]
    definition: String,
}

const SEP: char = '\u{1f}';

fn split(list: &str) -> Vec<String> {
    if list.is_empty() {
        return vec![];
    }
    list.split(SEP).map(str::to_owned).collect()
}

impl Catalog {
    /// Reads the tables, columns and constraints of `schema`.
    pub async fn load(conn: &mut AsyncPgConnection, schema: &str) -> diesel::QueryResult<Self> {
        let rows: Vec<ColumnRow> = diesel::sql_query(
            "SELECT c.relname::text AS table_name, a.attname::text AS column_name, \
                    format_type(a.atttypid, a.atttypmod) AS sql_type, a.attnotnull AS not_null, \
                    (a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '') AS has_default \
             FROM pg_attribute a \
             JOIN pg_class c ON c.oid = a.attrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition \
               AND a.attnum > 0 AND NOT a.attisdropped \
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
                not_null: row.not_null,
                has_default: row.has_default,
            });
        }
        let estimates: Vec<TableRow> = diesel::sql_query(
            "SELECT c.relname::text AS table_name, c.reltuples::float8 AS estimate, c.oid, \
                    (c.relkind = 'p' OR c.relhassubclass) AS parent \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition",
        )
        .bind::<Text, _>(schema)
        .load(conn)
        .await?;
        // Constraints and unique indexes in one round trip. Columns are joined with U+001F,
        // which no sane identifier contains.
        let constraints: Vec<ConstraintRow> = diesel::sql_query(
            "SELECT con.contype::text AS kind, con.conname::text AS name, src.relname::text AS table_name, \
                    coalesce((SELECT string_agg(a.attname, chr(31) ORDER BY k.i) FROM unnest(con.conkey) WITH ORDINALITY k(n, i) \
                      JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n), '') AS columns, \
                    coalesce(tgt.relname::text, '') AS references, \
                    coalesce((SELECT string_agg(a.attname, chr(31) ORDER BY k.i) FROM unnest(con.confkey) WITH ORDINALITY k(n, i) \
                      JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n), '') AS referenced_columns, \
                    CASE WHEN con.contype = 'f' THEN con.confdeltype::text \
                         WHEN con.contype IN ('u', 'p') THEN coalesce((SELECT i.indnullsnotdistinct::text FROM pg_index i WHERE i.indexrelid = con.conindid), 'false') \
                         ELSE '' END AS flag, \
                    CASE WHEN con.contype = 'c' THEN pg_get_constraintdef(con.oid) ELSE '' END AS definition \
             FROM pg_constraint con \
             JOIN pg_class src ON src.oid = con.conrelid \
             LEFT JOIN pg_class tgt ON tgt.oid = con.confrelid \
             JOIN pg_namespace n ON n.oid = src.relnamespace \
             WHERE con.contype IN ('f', 'u', 'p', 'c') AND n.nspname = $1 \
               AND NOT src.relispartition AND con.conparentid = 0 \
             UNION ALL \
             SELECT 'i', ic.relname::text, c.relname::text, \
                    coalesce((SELECT string_agg(a.attname, chr(31) ORDER BY k.i) FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(n, i) \
                      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n WHERE k.n > 0), ''), \
                    '', '', i.indnullsnotdistinct::text, CASE WHEN i.indexprs IS NOT NULL OR i.indpred IS NOT NULL THEN 'partial' ELSE '' END \
             FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_class ic ON ic.oid = i.indexrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE i.indisunique AND n.nspname = $1 AND NOT c.relispartition \
               AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid) \
             UNION ALL \
             SELECT 't', t.tgname::text, c.relname::text, '', '', '', '', pg_get_triggerdef(t.oid) \
             FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE NOT t.tgisinternal AND n.nspname = $1 AND NOT c.relispartition AND t.tgparentid = 0 \
             UNION ALL \
             SELECT 't', r.rulename::text, r.tablename::text, '', '', '', '', r.definition \
             FROM pg_rules r WHERE r.schemaname = $1 \
             ORDER BY 1, 3, 2",
        )
        .bind::<Text, _>(schema)
        .load(conn)
        .await?;
        let mut catalog = Self {
            tables,
            oids: estimates
                .iter()
                .map(|r| (r.table_name.clone(), r.oid))
                .collect(),
            parents: estimates
                .iter()
                .filter(|r| r.parent)
                .map(|r| r.table_name.clone())
                .collect(),
            estimated_rows: estimates
                .into_iter()
                .map(|r| (r.table_name, r.estimate))
                .collect(),
            ..Self::default()
        };
        let outside: Vec<OutsideRow> = diesel::sql_query(
            "SELECT format('%s.%s(%s) ON DELETE %s', sn.nspname, src.relname, \
                      (SELECT string_agg(a.attname, ', ') FROM unnest(con.conkey) k(n) \
                       JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n), \
                      CASE con.confdeltype WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL' WHEN 'd' THEN 'SET DEFAULT' ELSE 'RESTRICT' END) AS description, \
                    tgt.relname::text AS references \
             FROM pg_constraint con \
             JOIN pg_class src ON src.oid = con.conrelid JOIN pg_namespace sn ON sn.oid = src.relnamespace \
             JOIN pg_class tgt ON tgt.oid = con.confrelid JOIN pg_namespace tn ON tn.oid = tgt.relnamespace \
             WHERE con.contype = 'f' AND tn.nspname = $1 AND sn.nspname <> $1 AND con.conparentid = 0",
        )
        .bind::<Text, _>(schema)
        .load(conn)
        .await?;
        catalog.keys_from_outside = outside
            .into_iter()
            .map(|r| (r.description, r.references))
            .collect();
        for row in constraints {
            let columns = split(&row.columns);
            match row.kind.as_str() {
                "f" => catalog.foreign_keys.push(ForeignKey {
                    name: row.name,
                    table: row.table_name,
                    columns,
                    references: row.references,
                    referenced_columns: split(&row.referenced_columns),
                    on_delete: match row.flag.as_str() {
                        "c" => OnDelete::Cascade,
                        "n" | "d" => OnDelete::SetNull,
                        _ => OnDelete::Restrict,
                    },
                }),
                "u" | "p" | "i" => catalog.unique_keys.push(UniqueKey {
                    name: row.name,
                    table: row.table_name,
                    // A partial or expression index is not a plain key on its columns.
                    columns: if row.definition == "partial" {
                        vec![]
                    } else {
                        columns
                    },
                    primary: row.kind == "p",
                    nulls_not_distinct: row.flag == "true",
                }),
                "c" => catalog.checks.push(CheckConstraint {
                    name: row.name,
                    table: row.table_name,
                    columns,
                    expression: row
                        .definition
                        .strip_prefix("CHECK (")
                        .and_then(|d| d.rsplit_once(')'))
                        .map_or(row.definition.clone(), |(e, _)| e.to_owned()),
                }),
                "t" => catalog.triggers.push(Trigger {
                    name: row.name,
                    table: row.table_name,
                    definition: row.definition,
                }),
                _ => {}
            }
        }
        Ok(catalog)
    }

    /// Every table name, sorted.
    pub fn table_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.tables.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// The columns of a table, in order, or `None` if it does not exist.
    pub fn columns(&self, table: &str) -> Option<&[ColumnInfo]> {
        self.tables.get(table).map(Vec::as_slice)
    }

    /// One column of a table.
    pub fn column(&self, table: &str, column: &str) -> Option<&ColumnInfo> {
        self.columns(table)?.iter().find(|c| c.name == column)
    }

    /// The primary key's columns of a table, if it has one.
    pub fn primary_key(&self, table: &str) -> Option<&[String]> {
        self.unique_keys
            .iter()
            .find(|k| k.table == table && k.primary)
            .map(|k| k.columns.as_slice())
    }

    /// A fingerprint of everything the planner reads: tables, columns (type, nullability,
    /// default), foreign keys, unique keys, CHECK constraints and triggers. SHA-256, hex.
    pub fn fingerprint(&self) -> String {
        let mut lines: BTreeMap<String, ()> = BTreeMap::new();
        for (table, columns) in &self.tables {
            for c in columns {
                lines.insert(
                    format!(
                        "c {table}.{} {} {} {}",
                        c.name, c.sql_type, c.not_null, c.has_default
                    ),
                    (),
                );
            }
        }
        for fk in &self.foreign_keys {
            lines.insert(
                format!(
                    "f {} {}({}) {}({}) {:?}",
                    fk.name,
                    fk.table,
                    fk.columns.join(","),
                    fk.references,
                    fk.referenced_columns.join(","),
                    fk.on_delete
                ),
                (),
            );
        }
        for k in &self.unique_keys {
            lines.insert(
                format!(
                    "u {} {}({}) {} {}",
                    k.name,
                    k.table,
                    k.columns.join(","),
                    k.primary,
                    k.nulls_not_distinct
                ),
                (),
            );
        }
        for c in &self.checks {
            lines.insert(format!("k {} {} {}", c.name, c.table, c.expression), ());
        }
        for t in &self.triggers {
            lines.insert(format!("t {} {}", t.table, t.definition), ());
        }
        for (key, table) in &self.keys_from_outside {
            lines.insert(format!("o {key} {table}"), ());
        }
        for table in &self.parents {
            lines.insert(format!("p {table}"), ());
        }
        let mut hasher = Sha256::new();
        for line in lines.keys() {
            hasher.update(line.as_bytes());
            hasher.update(b"\n");
        }
        hex::encode(hasher.finalize())
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

/// A single-column foreign key to `references.id`, for unit tests.
#[cfg(test)]
pub(crate) fn test_fk(
    table: &str,
    column: &str,
    references: &str,
    on_delete: OnDelete,
) -> ForeignKey {
    ForeignKey {
        name: format!("{table}_{column}_fkey"),
        table: table.into(),
        columns: vec![column.into()],
        references: references.into(),
        referenced_columns: vec!["id".into()],
        on_delete,
    }
}
