//! Small samples of the platform's data, to confirm what names only suggest: whether a
//! column without a foreign key holds keys of another table, whether free text holds
//! emails, IP addresses or @usernames, whether a column holds object keys or URLs.
//! Every question about one table is answered from one sample of at most
//! [`SAMPLE_ROWS`] rows, and all tables are asked in one statement (falling back to one
//! statement per table if that fails, so one unreadable table does not hide the rest).

use std::collections::BTreeMap;

use diesel::QueryableByName;
use diesel::sql_types::{Array, BigInt, Integer};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::catalog::{Catalog, ident, literal};
use super::names::is_integer;

/// Rows sampled per table.
pub const SAMPLE_ROWS: u32 = 500;

/// Above this estimated size a table is sampled by blocks (`TABLESAMPLE SYSTEM`).
const BIG_TABLE: f64 = 100_000.0;

/// An email address anywhere in a value.
pub const EMAIL_RE: &str = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}";
/// An IPv4 or IPv6 address anywhere in a value.
pub const IP_RE: &str = r"(^|[^0-9.])(25[0-5]|2[0-4][0-9]|1?[0-9]{1,2})(\.(25[0-5]|2[0-4][0-9]|1?[0-9]{1,2})){3}([^0-9.]|$)|(^|[^0-9A-Za-z_:])(([0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|([0-9A-Fa-f]{1,4}:){1,6}(:[0-9A-Fa-f]{1,4}){1,6})([^0-9A-Za-z_:]|$)";
/// An @username anywhere in a value (not the domain of an email).
pub const HANDLE_RE: &str = r"(^|[^A-Za-z0-9_.@])@[A-Za-z0-9_]{2,}";

/// One question about one column of one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// Counts `[non-null, keys of target]`: how many sampled values are keys of
    /// `target_table.target_column`.
    Keys {
        /// The table sampled.
        table: String,
        /// Its column.
        column: String,
        /// The referenced table.
        target_table: String,
        /// The referenced column.
        target_column: String,
    },
    /// Counts `[non-null, emails, IP addresses, @usernames]` in the column's text (after
    /// removing `json_paths` from a jsonb value).
    Identities {
        /// The table sampled.
        table: String,
        /// Its column.
        column: String,
        /// Paths removed before looking (a `json_paths` rule).
        json_paths: Vec<String>,
        /// Only rows where these columns are set (the link of the rows kept).
        rows_with: Vec<String>,
        /// Columns whose values are removed from the text first (an account's own email
        /// and username in its own row are not someone else's).
        own: Vec<String>,
    },
    /// Counts `[non-null, URLs, URLs of files, object-like keys]`.
    ObjectKeys {
        /// The table sampled.
        table: String,
        /// Its column.
        column: String,
    },
}

impl Probe {
    /// The table sampled.
    pub fn table(&self) -> &str {
        match self {
            Self::Keys { table, .. }
            | Self::Identities { table, .. }
            | Self::ObjectKeys { table, .. } => table,
        }
    }

    fn column(&self) -> &str {
        match self {
            Self::Keys { column, .. }
            | Self::Identities { column, .. }
            | Self::ObjectKeys { column, .. } => column,
        }
    }
}

/// The answers: one count vector per probe (`None` where the table could not be read),
/// and why tables could not be read.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    /// Counts per probe, in the order asked.
    pub counts: Vec<Option<Vec<i64>>>,
    /// Tables whose sample failed, with the database's message.
    pub failed: BTreeMap<String, String>,
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Integer)]
    i: i32,
    #[diesel(sql_type = Array<BigInt>)]
    v: Vec<i64>,
}

/// Asks every probe, one sample per table, in one round trip.
pub async fn run(
    conn: &mut AsyncPgConnection,
    catalog: &Catalog,
    schema: &str,
    probes: &[Probe],
) -> Samples {
    let mut by_table: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, p) in probes.iter().enumerate() {
        by_table.entry(p.table()).or_default().push(i);
    }
    let groups: Vec<(&str, Vec<usize>)> = by_table.into_iter().collect();
    let branches: Vec<String> = groups
        .iter()
        .enumerate()
        .map(|(g, (table, members))| {
            let asked: Vec<&Probe> = members.iter().map(|&i| &probes[i]).collect();
            format!(
                "SELECT {g} AS i, ({}) AS v",
                table_sql(catalog, schema, table, &asked)
            )
        })
        .collect();
    let mut samples = Samples {
        counts: vec![None; probes.len()],
        failed: BTreeMap::new(),
    };
    if branches.is_empty() {
        return samples;
    }
    let store = |rows: Vec<Row>, samples: &mut Samples| {
        for row in rows {
            let Some((_, members)) = usize::try_from(row.i).ok().and_then(|g| groups.get(g)) else {
                continue;
            };
            let mut values = row.v.into_iter();
            for &i in members {
                let width = width(&probes[i]);
                samples.counts[i] = Some(values.by_ref().take(width).collect());
            }
        }
    };
    match diesel::sql_query(branches.join(" UNION ALL "))
        .load::<Row>(conn)
        .await
    {
        Ok(rows) => store(rows, &mut samples),
        Err(_) => {
            for (g, branch) in branches.iter().enumerate() {
                match diesel::sql_query(branch.clone()).load::<Row>(conn).await {
                    Ok(rows) => store(rows, &mut samples),
                    Err(e) => {
                        samples.failed.insert(groups[g].0.to_owned(), e.to_string());
                    }
                }
            }
        }
    }
    samples
}

fn width(probe: &Probe) -> usize {
    match probe {
        Probe::Keys { .. } => 2,
        Probe::Identities { .. } => 4,
        Probe::ObjectKeys { .. } => 4,
    }
}

/// `SELECT ARRAY[…]` over one sample of `table`, for its probes.
fn table_sql(catalog: &Catalog, schema: &str, table: &str, probes: &[&Probe]) -> String {
    let rows_with = |p: &Probe| match p {
        Probe::Identities { rows_with, .. } => rows_with.clone(),
        _ => vec![],
    };
    let mut columns: Vec<&str> = probes.iter().map(|p| p.column()).collect();
    for p in probes {
        if let Probe::Identities { rows_with, own, .. } = p {
            columns.extend(rows_with.iter().chain(own).map(String::as_str));
        }
    }
    columns.sort_unstable();
    columns.dedup();
    let alias = |c: &str| format!("s.c{}", columns.iter().position(|x| *x == c).unwrap_or(0));
    let select: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("x.{} AS c{i}", ident(c)))
        .collect();
    // A row is sampled when it can answer some probe: the column set (and the probe's link).
    let wanted = |p: &Probe, set: &dyn Fn(&str) -> String| {
        std::iter::once(p.column().to_owned())
            .chain(rows_with(p))
            .map(|c| format!("{} IS NOT NULL", set(&c)))
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    let mut any_set: Vec<String> = probes
        .iter()
        .map(|p| format!("({})", wanted(p, &|c| format!("x.{}", ident(c)))))
        .collect();
    any_set.sort();
    any_set.dedup();
    let sampling = match catalog.estimated_rows.get(table) {
        Some(&n) if n > BIG_TABLE => format!(
            " TABLESAMPLE SYSTEM ({:.4})",
            (100.0 * 20_000.0 / n).clamp(0.01, 100.0)
        ),
        _ => String::new(),
    };
    let mut exprs: Vec<String> = Vec::new();
    for probe in probes {
        let v = alias(probe.column());
        exprs.push(format!("count({v})"));
        match probe {
            Probe::Keys {
                column,
                target_table,
                target_column,
                ..
            } => {
                let from = catalog
                    .column(table, column)
                    .map_or("text", |c| c.sql_type.as_str());
                let to = catalog
                    .column(target_table, target_column)
                    .map_or("text", |c| c.sql_type.as_str());
                let u = format!("u.{}", ident(target_column));
                let cond = match (from, to) {
                    (a, b) if a == b || (is_integer(a) && is_integer(b)) => format!("{u} = {v}"),
                    (a, b) if is_text(a) && is_integer(b) => {
                        format!("{u} = CASE WHEN {v} ~ '^-?[0-9]{{1,18}}$' THEN {v}::bigint END")
                    }
                    (a, "uuid") if is_text(a) => format!(
                        "{u} = CASE WHEN {v} ~* '^[0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}}$' THEN {v}::uuid END"
                    ),
                    (_, b) if is_text(b) => format!("{u} = {v}::text"),
                    _ => format!("{u}::text = {v}::text"),
                };
                exprs.push(format!(
                    "count(*) FILTER (WHERE EXISTS (SELECT 1 FROM {}.{} u WHERE {cond}))",
                    ident(schema),
                    ident(target_table)
                ));
            }
            Probe::Identities {
                json_paths,
                rows_with,
                own,
                ..
            } => {
                let text = if json_paths.is_empty() {
                    format!("{v}::text")
                } else {
                    let removed = json_paths.iter().fold(format!("{v}::jsonb"), |acc, p| {
                        format!(
                            "({acc} #- {}::text[])",
                            literal(&format!("{{{}}}", p.replace('.', ",")))
                        )
                    });
                    format!("{removed}::text")
                };
                let text = own.iter().fold(text, |acc, c| {
                    format!("replace({acc}, coalesce({}::text, chr(1)), '')", alias(c))
                });
                let linked: String = rows_with
                    .iter()
                    .map(|c| format!("{} IS NOT NULL AND ", alias(c)))
                    .collect();
                let last = exprs.len() - 1;
                exprs[last] = format!("count(*) FILTER (WHERE {linked}{v} IS NOT NULL)");
                for re in [EMAIL_RE, IP_RE, HANDLE_RE] {
                    exprs.push(format!(
                        "count(*) FILTER (WHERE {linked}{text} ~ {})",
                        literal(re)
                    ));
                }
            }
            Probe::ObjectKeys { .. } => {
                exprs.push(format!(
                    "count(*) FILTER (WHERE {v} ~* '^[a-z][a-z0-9+.-]*://')"
                ));
                exprs.push(format!(
                    "count(*) FILTER (WHERE {v} ~* '^(s3|gs|r2)://' OR {v} ~* '^https?://[^?#]*/[^/?#]+\\.[a-z0-9]{{2,12}}([?#].*)?$')"
                ));
                exprs.push(format!(
                    "count(*) FILTER (WHERE {v} !~ '\\s' AND {v} !~* '^[a-z][a-z0-9+.-]*:' AND {v} !~ '^/' AND ({v} ~ '/' OR {v} ~ '\\.[A-Za-z0-9]{{2,12}}$'))"
                ));
            }
        }
    }
    format!(
        "SELECT ARRAY[{}]::bigint[] FROM (SELECT {} FROM {}.{} x{sampling} WHERE {} LIMIT {SAMPLE_ROWS}) s",
        exprs.join(", "),
        select.join(", "),
        ident(schema),
        ident(table),
        any_set.join(" OR ")
    )
}

fn is_text(sql_type: &str) -> bool {
    sql_type == "text" || sql_type.starts_with("character") || sql_type == "citext"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_answers_every_probe_of_a_table() {
        let catalog = Catalog::default();
        let probes = [
            Probe::Keys {
                table: "tips".into(),
                column: "from_user_id".into(),
                target_table: "users".into(),
                target_column: "id".into(),
            },
            Probe::Identities {
                table: "tips".into(),
                column: "message".into(),
                json_paths: vec![],
                rows_with: vec![],
                own: vec![],
            },
        ];
        let refs: Vec<&Probe> = probes.iter().collect();
        let sql = table_sql(&catalog, "public", "tips", &refs);
        assert!(sql.contains("FROM \"public\".\"tips\" x WHERE (x.\"from_user_id\" IS NOT NULL) OR (x.\"message\" IS NOT NULL) LIMIT 500"), "{sql}");
        assert!(
            sql.contains("EXISTS (SELECT 1 FROM \"public\".\"users\" u WHERE u.\"id\" = s.c0)"),
            "{sql}"
        );
        assert_eq!(sql.matches("count(").count(), 2 + 4, "{sql}");
    }

    #[test]
    fn json_paths_are_removed_before_looking() {
        let catalog = Catalog::default();
        let probe = Probe::Identities {
            table: "n".into(),
            column: "payload".into(),
            json_paths: vec!["actor.name".into()],
            rows_with: vec!["actor_id".into()],
            own: vec![],
        };
        let sql = table_sql(&catalog, "public", "n", &[&probe]);
        assert!(sql.contains("count(*) FILTER (WHERE s.c0 IS NOT NULL AND (s.c1::jsonb #- '{actor,name}'::text[])::text ~"), "{sql}");
        assert!(
            sql.contains("WHERE (x.\"payload\" IS NOT NULL AND x.\"actor_id\" IS NOT NULL) LIMIT"),
            "{sql}"
        );
    }
}
