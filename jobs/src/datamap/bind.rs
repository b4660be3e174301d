//! A data map bound to the live schema: the walk resolved, every name checked, and the
//! facts the purge, the rehearsal and the export need (which tables are deleted, which
//! edges rewrite kept rows, which objects belong to which rows).

use std::collections::{BTreeMap, BTreeSet};

use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::catalog::{Catalog, ColumnInfo, OnDelete, ident, literal};
use super::graph::{Edge, Problem, Treatment, Walk, walk};
use super::rule::{Action, ColumnRule, Unlink, is_todo};
use super::spec::{Category, DataMap, KeyFormat, ObjectSpec, template_columns};

mod locate;

/// A subject's key in the platform database, as text (`42`, a UUID, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectKey(String);

impl SubjectKey {
    /// Wraps a key read from the platform database.
    pub fn new(key: String) -> Self {
        Self(key)
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A data map whose every name exists in the live schema and whose walk is safe.
#[derive(Debug, Clone)]
pub struct BoundMap {
    /// The map as written.
    pub map: DataMap,
    /// The live catalog it was bound to.
    pub catalog: Catalog,
    /// The walk: every edge into a deleted table, resolved.
    pub walk: Walk,
    /// The subject table's columns.
    pub subject_columns: Vec<ColumnInfo>,
    key_type: String,
    /// [`DataMap::content_hash`] of the map.
    pub map_hash: String,
    /// [`Catalog::fingerprint`] of the schema it was bound to.
    pub schema_fingerprint: String,
    /// The tables whose row counts purges and rehearsals read.
    pub(crate) counted: crate::purge::CountedTables,
}

/// Warnings that do not make a map unsafe.
#[derive(Debug, Clone, Default)]
pub struct BindWarnings {
    /// Link rules whose edge the walk never reaches.
    pub unused_links: Vec<String>,
}

impl BoundMap {
    /// Checks the map against `catalog`, walks it, and lists every problem.
    pub fn bind(map: DataMap, catalog: &Catalog) -> Result<Self, Vec<Problem>> {
        let mut problems = Vec::new();
        let subject = &map.subject;
        let subject_columns = catalog
            .columns(&subject.table)
            .map(<[_]>::to_vec)
            .unwrap_or_default();
        let p = |text: String| Problem {
            entry: "subject".into(),
            problem: text,
        };
        if subject_columns.is_empty() {
            problems.push(p(format!("table `{}` does not exist", subject.table)));
            return Err(problems);
        }
        for column in [
            Some(&subject.key),
            Some(&subject.email),
            subject.username.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            if catalog.column(&subject.table, column).is_none() {
                problems.push(p(format!(
                    "column `{}.{column}` does not exist",
                    subject.table
                )));
            }
        }
        if let Some(placeholder) = &subject.placeholder
            && is_todo(placeholder)
        {
            problems.push(p("the placeholder account is undecided (`TODO`)".into()));
        }
        if let Some(tombstone) = &subject.tombstone {
            for (column, template) in tombstone {
                if catalog.column(&subject.table, column).is_none() {
                    problems.push(p(format!(
                        "tombstone names column `{}.{column}`, which does not exist",
                        subject.table
                    )));
                }
                if is_todo(template) {
                    problems.push(p(format!(
                        "tombstone column `{column}` is undecided (`TODO`)"
                    )));
                }
            }
            for c in &subject_columns {
                if c.not_null
                    && !c.has_default
                    && c.name != subject.key
                    && !tombstone.contains_key(&c.name)
                {
                    problems.push(p(format!(
                        "tombstone must give `{}`: it is NOT NULL without a default",
                        c.name
                    )));
                }
            }
            if !tombstone
                .get(&subject.email)
                .is_some_and(|t| t.contains("{hash}"))
            {
                problems.push(p(format!(
                    "tombstone `{}` must contain {{hash}} (tombstones are found by it)",
                    subject.email
                )));
            }
            if !catalog
                .column(&subject.table, &subject.key)
                .is_some_and(|c| c.has_default)
            {
                problems.push(p(format!(
                    "tombstones need `{}.{}` to have a default (serial or identity)",
                    subject.table, subject.key
                )));
            }
        }
        let walked = walk(&map, catalog);
        problems.extend(walked.problems.iter().cloned());
        problems.extend(super::marketing::problems(
            &map.marketing,
            map.sale_sharing.as_ref(),
            catalog,
        ));
        let kept: Vec<String> = walked
            .edges
            .iter()
            .filter(|(_, t)| t.action != Action::Delete)
            .map(|(e, _)| e.table.clone())
            .collect();
        problems.extend(super::freeze::problems(&map, catalog, &kept));
        problems.extend(super::resources::problems(&map.resources, catalog));
        for template in &map.subject.profile_urls {
            let entry = format!("subject.profile_urls `{template}`");
            match super::url_template::UrlTemplate::parse(template) {
                Err(problem) => problems.push(Problem {
                    entry,
                    problem: format!("the template {problem}"),
                }),
                Ok(t)
                    if t.column() != map.subject.key
                        && Some(t.column()) != map.subject.username.as_deref() =>
                {
                    problems.push(Problem {
                        entry,
                        problem: "the placeholder must name the subject's key or username column"
                            .into(),
                    })
                }
                Ok(_) => {}
            }
        }
        let deleted: BTreeSet<&str> = walked.deleted.iter().map(String::as_str).collect();
        let reached: BTreeSet<&str> = walked
            .edges
            .iter()
            .map(|(e, _)| e.table.as_str())
            .chain(deleted.iter().copied())
            .collect();
        for table in catalog
            .parents
            .iter()
            .filter(|t| reached.contains(t.as_str()))
        {
            problems.push(Problem {
                entry: format!("tables.{table}"),
                problem: "is partitioned or has inheritance children; Lethe cannot purge such tables yet (rows of different partitions share row ids)".into(),
            });
        }
        for (key, table) in catalog
            .keys_from_outside
            .iter()
            .filter(|(_, t)| deleted.contains(t.as_str()))
        {
            problems.push(Problem {
                entry: format!("tables.{table}"),
                problem: format!(
                    "foreign key {key} points at `{table}` from another schema, which the map cannot see; its rows would be missed or cascaded. Map that schema's tables in the same schema, or drop the key"
                ),
            });
        }
        for (table, rule) in &map.tables {
            for column in rule.omit.iter().chain(&rule.mask) {
                if catalog.columns(table).is_some() && catalog.column(table, column).is_none() {
                    problems.push(Problem {
                        entry: format!("tables.{table}"),
                        problem: format!(
                            "export control names `{table}.{column}`, which does not exist"
                        ),
                    });
                }
            }
        }
        for (i, object) in map.objects.iter().enumerate() {
            let entry = format!("objects[{i}] ({})", object.label());
            let mut e = |text: String| {
                problems.push(Problem {
                    entry: entry.clone(),
                    problem: text,
                })
            };
            if catalog.columns(&object.table).is_none() {
                e(format!("table `{}` does not exist", object.table));
                continue;
            }
            if let Some(column) = &object.column {
                match catalog.column(&object.table, column) {
                    None => e(format!("column `{}.{column}` does not exist", object.table)),
                    Some(c) if !c.is_text() => e(format!(
                        "`{}.{column}` is {}, not text",
                        object.table, c.sql_type
                    )),
                    Some(_) => {}
                }
            }
            if let Some(template) = &object.template {
                for column in template_columns(template).unwrap_or_default() {
                    if catalog.column(&object.table, &column).is_none() {
                        e(format!(
                            "template names `{}.{column}`, which does not exist",
                            object.table
                        ));
                    }
                }
            }
            let reached = deleted.contains(object.table.as_str())
                || walked
                    .edges
                    .iter()
                    .any(|(edge, _)| edge.table == object.table);
            if !reached {
                e(format!("the walk never reaches rows of `{}`", object.table));
            }
        }
        problems.sort();
        problems.dedup();
        if !problems.is_empty() {
            return Err(problems);
        }
        let key_type = catalog
            .column(&subject.table, &subject.key)
            .map(|c| c.sql_type.clone())
            .unwrap_or_default();
        Ok(Self {
            map_hash: map.content_hash(),
            schema_fingerprint: catalog.fingerprint(),
            counted: crate::purge::CountedTables::of(catalog),
            map,
            catalog: catalog.clone(),
            walk: walked,
            subject_columns,
            key_type,
        })
    }

    /// Warnings: rules that never apply.
    pub fn warnings(&self) -> BindWarnings {
        BindWarnings {
            unused_links: self.walk.unused_links.clone(),
        }
    }

    /// Problems only the live data can show: the placeholder account must exist, and no
    /// CHECK constraint may fail when a link column of rows that stay becomes NULL —
    /// whether the purge sets it (`unlink = "null"`) or the database does (`ON DELETE SET
    /// NULL` on rows the map keeps as they are) — evaluated over the table's current rows.
    pub async fn live_problems(
        &self,
        conn: &mut AsyncPgConnection,
    ) -> anyhow::Result<Vec<Problem>> {
        let mut problems = Vec::new();
        let uses = |u: Unlink| {
            self.walk
                .edges
                .iter()
                .any(|(_, t)| t.unlink.as_ref() == Some(&u))
        };
        if let Some(placeholder) = &self.map.subject.placeholder
            && uses(Unlink::Placeholder)
        {
            let (table, _) = self.subject_filter(&SubjectKey::new(placeholder.clone()));
            let sql = format!(
                "SELECT count(*) AS n FROM {table} t0 WHERE t0.{} = CAST({} AS {})",
                ident(&self.map.subject.key),
                literal(placeholder),
                self.key_type
            );
            let found = diesel::sql_query(sql)
                .get_result::<CountRow>(conn)
                .await
                .map(|r| r.n);
            match found {
                Ok(1) => {}
                Ok(_) => problems.push(Problem {
                    entry: "subject".into(),
                    problem: format!(
                        "placeholder account `{placeholder}` does not exist in `{}`",
                        self.map.subject.table
                    ),
                }),
                Err(_) => problems.push(Problem {
                    entry: "subject".into(),
                    problem: format!(
                        "placeholder `{placeholder}` is not a valid {}",
                        self.key_type
                    ),
                }),
            }
        }
        for (edge, t) in &self.walk.edges {
            let by_purge = t.unlink == Some(Unlink::Null);
            let by_database = edge.on_delete == Some(OnDelete::SetNull)
                && t.action.keeps_rows()
                && t.unlink.is_none();
            if !by_purge && !by_database {
                continue;
            }
            let who = if by_purge {
                "setting it to NULL (unlink = \"null\")"
            } else {
                "the database's ON DELETE SET NULL"
            };
            // The database's SET NULL empties every column of the key; the purge only the
            // ones that name the subject.
            let nulled: Vec<&String> = if by_purge {
                edge.unlinked_columns(&self.map.subject.table, &self.map.subject.key)
            } else {
                edge.columns.iter().collect()
            };
            for check in
                self.catalog.checks.iter().filter(|c| {
                    c.table == edge.table && c.columns.iter().any(|c| nulled.contains(&c))
                })
            {
                let columns = self.catalog.columns(&edge.table).unwrap_or_default();
                let select: Vec<String> = columns
                    .iter()
                    .map(|c| {
                        if nulled.contains(&&c.name) {
                            format!("NULL::{} AS {}", c.sql_type, ident(&c.name))
                        } else {
                            format!("x.{}", ident(&c.name))
                        }
                    })
                    .collect();
                let sql = format!(
                    "SELECT count(*) AS n FROM (SELECT {} FROM {} x WHERE ({}) IS NOT NULL) AS {} WHERE NOT ({})",
                    select.join(", "),
                    self.qualified_table(&edge.table),
                    edge.columns
                        .iter()
                        .map(|c| format!("x.{}", ident(c)))
                        .collect::<Vec<_>>()
                        .join(", "),
                    ident(&edge.table),
                    check.expression
                );
                let n = diesel::sql_query(sql).get_result::<CountRow>(conn).await?.n;
                if n > 0 {
                    problems.push(Problem {
                        entry: edge.label.clone(),
                        problem: format!(
                            "{who} violates check constraint {} for {n} of today's rows; reassign these rows (unlink = \"placeholder\" or \"tombstone\") or delete them",
                            check.name
                        ),
                    });
                }
            }
        }
        Ok(problems)
    }

    /// The schema-qualified name of a table.
    pub fn qualified_table(&self, table: &str) -> String {
        format!("{}.{}", ident(&self.map.schema), ident(table))
    }

    /// The subject key's SQL type.
    pub fn key_type(&self) -> &str {
        &self.key_type
    }

    /// A column of a table.
    pub fn column(&self, table: &str, column: &str) -> Option<&ColumnInfo> {
        self.catalog.column(table, column)
    }

    /// Tables some of whose rows are deleted, the subject table first.
    pub fn deleted_tables(&self) -> &[String] {
        &self.walk.deleted
    }

    /// The edges whose rows are deleted into `table` (rows reached by them are deleted).
    pub fn delete_edges(&self, table: &str) -> Vec<&Edge> {
        self.walk
            .edges
            .iter()
            .filter(|(e, t)| e.table == table && t.action == Action::Delete)
            .map(|(e, _)| e)
            .collect()
    }

    /// The edge with this label and its treatment.
    pub fn edge(&self, label: &str) -> Option<&(Edge, Treatment)> {
        self.walk.edges.iter().find(|(e, _)| e.label == label)
    }

    /// Object entries whose keys rows of `table` hold.
    pub fn objects_of(&self, table: &str) -> Vec<&ObjectSpec> {
        self.map
            .objects
            .iter()
            .filter(|o| o.table == table)
            .collect()
    }

    /// Columns of kept rows that a `redact` rule covers: where verification searches for
    /// the subject's identity strings.
    pub fn redacted_columns(&self) -> BTreeSet<(String, String)> {
        self.walk
            .edges
            .iter()
            .filter(|(_, t)| t.action.keeps_rows())
            .flat_map(|(e, t)| {
                t.anonymize
                    .iter()
                    .filter(|(_, r)| **r == ColumnRule::Redact)
                    .map(|(c, _)| (e.table.clone(), c.clone()))
            })
            .collect()
    }

    /// The category of a table in exports.
    pub fn category_of(&self, table: &str) -> Category {
        self.map.category_of(table)
    }

    /// Whether some treatment reassigns to a per-subject tombstone.
    pub fn uses_tombstone(&self) -> bool {
        self.walk
            .edges
            .iter()
            .any(|(_, t)| t.unlink == Some(Unlink::Tombstone))
    }

    /// A short summary of each table's treatment, for dry-run reports: the actions (in
    /// map words) and the legal basis of retained rows.
    pub fn table_actions(&self) -> BTreeMap<String, (BTreeSet<String>, Option<String>)> {
        let mut out: BTreeMap<String, (BTreeSet<String>, Option<String>)> = BTreeMap::new();
        out.entry(self.map.subject.table.clone())
            .or_default()
            .0
            .insert("delete".into());
        for (edge, t) in &self.walk.edges {
            let entry = out.entry(edge.table.clone()).or_default();
            let word = match (&t.action, edge.on_delete) {
                (Action::Leave, Some(super::catalog::OnDelete::SetNull)) if !t.rewrites() => {
                    "detached by the database".to_owned()
                }
                (a, _) => a.as_str().to_owned(),
            };
            entry.0.insert(word);
            if let Some((basis, period)) = &t.basis {
                entry.1 = Some(if period.is_empty() {
                    basis.clone()
                } else {
                    format!("{basis} ({period})")
                });
            }
        }
        out
    }
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Turns a column value into an object key according to its format. URL paths are
/// percent-decoded as whole UTF-8 sequences; a path that does not decode to valid UTF-8
/// names no key.
pub fn object_key(value: &str, format: KeyFormat) -> Option<String> {
    match format {
        KeyFormat::Key => Some(value.to_owned()),
        KeyFormat::Url => {
            let url = url::Url::parse(value).ok()?;
            let path = url.path().trim_start_matches('/');
            let key = percent_decode(path)?;
            (!key.is_empty()).then_some(key)
        }
    }
}

/// Percent-decodes a URL path with the `percent-encoding` crate; `None` when the bytes are
/// not UTF-8. Only `%` followed by two hex digits is an escape: `%+1` or `%zz` stay as
/// they are.
fn percent_decode(path: &str) -> Option<String> {
    percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_keys_are_the_path_without_the_leading_slash() {
        assert_eq!(
            object_key("s3://b/models/1/w.bin", KeyFormat::Url).as_deref(),
            Some("models/1/w.bin")
        );
        assert_eq!(
            object_key("https://cdn.x/a/b%20c.png", KeyFormat::Url).as_deref(),
            Some("a/b c.png")
        );
        assert_eq!(
            object_key("https://cdn.x/a/b+c%2Bd.png", KeyFormat::Url).as_deref(),
            Some("a/b+c+d.png")
        );
        assert_eq!(
            object_key("https://cdn.x/a/%C3%A9t%C3%A9.png", KeyFormat::Url).as_deref(),
            Some("a/été.png")
        );
        assert_eq!(
            object_key("https://cdn.x/a/x%3Dy%26z.png", KeyFormat::Url).as_deref(),
            Some("a/x=y&z.png")
        );
        assert_eq!(
            object_key("images/1/x.png", KeyFormat::Key).as_deref(),
            Some("images/1/x.png")
        );
        assert_eq!(object_key("not a url", KeyFormat::Url), None);
        // Not escapes: a sign after `%` (which a hand-written hex parse takes as one),
        // or no hex digits; and bytes that are not UTF-8 name no key.
        assert_eq!(
            object_key("https://cdn.x/a/%+1.png", KeyFormat::Url).as_deref(),
            Some("a/%+1.png")
        );
        assert_eq!(
            object_key("https://cdn.x/a/%zz.png", KeyFormat::Url).as_deref(),
            Some("a/%zz.png")
        );
        assert_eq!(object_key("https://cdn.x/a/%FF.png", KeyFormat::Url), None);
    }

    #[test]
    fn identifiers_and_literals_are_quoted() {
        assert_eq!(ident("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(literal("o'brien"), "'o''brien'");
    }
}
