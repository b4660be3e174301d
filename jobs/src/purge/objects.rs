//! Objects named by rows about to be deleted: reading their keys (from a column, or from a
//! template over the row's columns, a trailing `/` making it a prefix whose objects are
//! listed), keeping the ones other rows still name, and deleting the rest.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use diesel::QueryableByName;
use diesel::sql_types::{Array, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures::{StreamExt, TryStreamExt};

use crate::datamap::catalog::ident;
use crate::datamap::spec::template_columns;
use crate::datamap::{BoundMap, KeyFormat, ObjectSpec, object_key};
use crate::storage::Storage;

#[derive(QueryableByName)]
struct TextRow {
    #[diesel(sql_type = Text)]
    v: String,
}

/// The object entries of one table and the columns their keys are built from.
pub(crate) struct TableObjects<'a> {
    /// The entries.
    pub specs: Vec<&'a ObjectSpec>,
    /// Every column read, in order.
    pub columns: Vec<String>,
}

impl<'a> TableObjects<'a> {
    /// The object entries of `table`, or `None` when it has none.
    pub fn of(map: &'a BoundMap, table: &str) -> Option<Self> {
        let specs = map.objects_of(table);
        if specs.is_empty() {
            return None;
        }
        let mut columns: Vec<String> = Vec::new();
        for spec in &specs {
            let used = match (&spec.column, &spec.template) {
                (Some(c), _) => vec![c.clone()],
                (None, Some(t)) => template_columns(t).unwrap_or_default(),
                (None, None) => vec![],
            };
            for c in used {
                if !columns.contains(&c) {
                    columns.push(c);
                }
            }
        }
        Some(Self { specs, columns })
    }

    /// `json_build_array(x.ctid::text, x.c1::text, …)::text`: one text value per row.
    pub fn select_list(&self, alias: &str) -> String {
        let mut parts = vec![format!("{alias}.ctid::text")];
        parts.extend(
            self.columns
                .iter()
                .map(|c| format!("{alias}.{}::text", ident(c))),
        );
        format!("json_build_array({})::text", parts.join(", "))
    }

    /// Reads the rows selected by `sql` (yielding [`Self::select_list`] as `v`): their
    /// ctids, and per bucket the keys and prefixes they name.
    pub async fn read(
        &self,
        conn: &mut AsyncPgConnection,
        sql: &str,
    ) -> anyhow::Result<(Vec<String>, NamedObjects)> {
        let rows: Vec<TextRow> = diesel::sql_query(sql).load(conn).await?;
        let mut ctids = Vec::with_capacity(rows.len());
        let mut named = NamedObjects::default();
        for row in rows {
            let fields: Vec<Option<String>> = serde_json::from_str(&row.v)?;
            let ctid = <[_]>::first(&fields)
                .cloned()
                .flatten()
                .ok_or_else(|| anyhow::anyhow!("row without ctid"))?;
            anyhow::ensure!(valid_ctid(&ctid), "unexpected ctid");
            ctids.push(ctid);
            let value = |column: &str| {
                self.columns
                    .iter()
                    .position(|c| c == column)
                    .and_then(|i| fields.get(i + 1).cloned().flatten())
            };
            for (i, spec) in self.specs.iter().enumerate() {
                match (&spec.column, &spec.template) {
                    (Some(column), _) => {
                        if let Some(key) = value(column).and_then(|v| spec.key_of(&v)) {
                            named.keys.entry(i).or_default().insert(key);
                        }
                    }
                    (None, Some(template)) => {
                        if let Some(rendered) = render(template, value) {
                            if template.ends_with('/') {
                                named.prefixes.entry(i).or_default().insert(rendered);
                            } else {
                                named.keys.entry(i).or_default().insert(rendered);
                            }
                        }
                    }
                    (None, None) => {}
                }
            }
        }
        Ok((ctids, named))
    }
}

/// Keys and prefixes named by a batch of rows, per object entry (by index).
#[derive(Debug, Default)]
pub(crate) struct NamedObjects {
    keys: BTreeMap<usize, BTreeSet<String>>,
    prefixes: BTreeMap<usize, BTreeSet<String>>,
}

impl NamedObjects {
    /// Every key and prefix with its entry: `(entry, key or prefix, is_prefix)`.
    pub fn iter<'s>(
        &'s self,
        objects: &'s TableObjects<'_>,
    ) -> impl Iterator<Item = (&'s ObjectSpec, String, bool)> + 's {
        let keys = self.keys.iter().flat_map(move |(i, keys)| {
            keys.iter()
                .map(move |k| (objects.specs[*i], k.clone(), false))
        });
        let prefixes = self.prefixes.iter().flat_map(move |(i, prefixes)| {
            prefixes
                .iter()
                .map(move |p| (objects.specs[*i], p.clone(), true))
        });
        keys.chain(prefixes)
    }
}

/// Fills a template from a row; `None` if a placeholder's column is NULL (the row names
/// no object).
fn render(template: &str, value: impl Fn(&str) -> Option<String>) -> Option<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}')? + open;
        out.push_str(&value(&rest[open + 1..close])?);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// Whether a string is a ctid as PostgreSQL prints it, so it is safe to splice.
pub(crate) fn valid_ctid(ctid: &str) -> bool {
    let inner = ctid.strip_prefix('(').and_then(|s| s.strip_suffix(')'));
    inner.is_some_and(|s| {
        let mut parts = s.split(',');
        let ok = |p: Option<&str>| {
            p.is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        };
        ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
    })
}

/// A `tid[]` literal of checked ctids.
pub(crate) fn tid_array(ctids: &[String]) -> String {
    format!(
        "'{{{}}}'::tid[]",
        ctids
            .iter()
            .map(|c| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join(",")
    )
}

/// What a batch's objects come to: the keys to delete per bucket, and how many stay
/// because other rows still name them.
#[derive(Debug, Default)]
pub(crate) struct Resolved {
    /// Keys to delete, per bucket.
    pub delete: BTreeMap<String, Vec<String>>,
    /// Keys kept because other rows name them.
    pub shared: u64,
}

/// Lists prefixes and drops keys other rows (outside `batch` of `table`) still name.
pub(crate) async fn resolve(
    map: &BoundMap,
    storage: &Storage,
    conn: &mut AsyncPgConnection,
    objects: &TableObjects<'_>,
    named: NamedObjects,
    table: &str,
    batch: &[String],
) -> anyhow::Result<Resolved> {
    let mut out = Resolved::default();
    let mut per_bucket: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // Prefixes are listed 16 at a time: a batch of rows can name thousands.
    let listings: Vec<(String, String)> = named
        .prefixes
        .into_iter()
        .flat_map(|(i, prefixes)| {
            let bucket = objects.specs[i].bucket.clone();
            prefixes.into_iter().map(move |p| (bucket.clone(), p))
        })
        .collect();
    let listed: Vec<(String, Vec<String>)> = futures::stream::iter(listings)
        .map(|(bucket, prefix)| async move {
            let keys = storage.list_prefix(&bucket, &prefix).await?;
            anyhow::Ok((bucket, keys))
        })
        .buffer_unordered(16)
        .try_collect()
        .await?;
    for (bucket, keys) in listed {
        per_bucket.entry(bucket).or_default().extend(keys);
    }
    for (i, keys) in named.keys {
        per_bucket
            .entry(objects.specs[i].bucket.clone())
            .or_default()
            .extend(keys);
    }
    // Every key, named or listed, stays while another row still names it.
    for (bucket, keys) in per_bucket {
        let keys: Vec<String> = keys.into_iter().collect();
        let shared = still_referenced(map, conn, &bucket, &keys, table, batch).await?;
        out.shared += shared.len() as u64;
        out.delete.insert(
            bucket,
            keys.into_iter().filter(|k| !shared.contains(k)).collect(),
        );
    }
    Ok(out)
}

/// Keys among `keys` that rows other than `batch` of `table` still name, in any column
/// entry of the same bucket, bare or as a URL: those objects must stay.
async fn still_referenced(
    map: &BoundMap,
    conn: &mut AsyncPgConnection,
    bucket: &str,
    keys: &[String],
    table: &str,
    batch: &[String],
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
    let mut checked = HashSet::new();
    for other in map.map.objects.iter().filter(|o| o.bucket == bucket) {
        let Some(column) = &other.column else {
            continue;
        };
        if !checked.insert((other.table.as_str(), column.as_str(), other.format)) {
            continue;
        }
        let c = ident(column);
        let exclude = if other.table == table && !batch.is_empty() {
            format!(" AND NOT (x.ctid = ANY({}))", tid_array(batch))
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
            t = map.qualified_table(&other.table)
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

/// A key as it appears, percent-encoded, in the path of a URL.
fn encoded_path(key: &str) -> String {
    let mut url = url::Url::parse("s3://bucket/").expect("a valid base URL");
    url.set_path(key);
    url.path().trim_start_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_from_the_row_and_a_null_names_nothing() {
        let row = |c: &str| match c {
            "modelVersionId" => Some("7".to_owned()),
            "userId" => Some("42".to_owned()),
            _ => None,
        };
        assert_eq!(
            render("{modelVersionId}/{userId}/", row).as_deref(),
            Some("7/42/")
        );
        assert_eq!(render("a/{missing}.png", row), None);
    }

    #[test]
    fn ctids_are_checked_before_they_are_spliced() {
        assert!(valid_ctid("(0,1)"));
        assert!(valid_ctid("(123,45)"));
        assert!(!valid_ctid("(1,2);DROP"));
        assert!(!valid_ctid("(,1)"));
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
}
