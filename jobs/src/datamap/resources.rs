//! The `[[resources]]` section of the data map: the platform's removable resources (models,
//! images, posts) that a likeness-removal request may list.
//!
//! ```toml
//! [[resources]]
//! name = "model"                                    # listed as `model:<key>`
//! table = "models"
//! key = "id"                                        # default `id`
//! urls = ["https://demo.lethe.test/models/{id}"]    # its public pages
//! unpublish = { published = false }                 # what removing it writes on its row
//! ```
//!
//! The files of a resource are the objects that the map's `[[objects]]` entries name from
//! its row and from the rows it owns: rows whose foreign keys cascade from it, to any
//! depth (a model's versions, their files). Removing a resource unpublishes its row at
//! once; its files are deleted after a hold. Nothing else of the uploader is touched.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use super::catalog::{Catalog, OnDelete, ident};
use super::graph::Problem;
use super::marketing::{MarketingSpec, OptOut, as_text, write_statement};
use super::url_template::UrlTemplate;

/// One kind of removable resource.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceSpec {
    /// Its name: lower-case letters, digits and `_` (a listing says `name:key`).
    pub name: String,
    /// The table with one row per resource.
    pub table: String,
    /// Its key column.
    #[serde(default = "default_key")]
    pub key: String,
    /// URL templates of its public pages; the placeholder names the key column.
    #[serde(default)]
    pub urls: Vec<String>,
    /// Column → value written on the row to unpublish it.
    pub unpublish: BTreeMap<String, toml::Value>,
}

fn default_key() -> String {
    "id".to_owned()
}

/// A listing recognised as a resource of the map: its kind's name and its key as given.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Listed {
    /// The resource kind's name.
    pub resource: String,
    /// The key, as text.
    pub key: String,
}

/// Recognises a listing: `name:key`, or a URL of one of the resources' pages.
pub fn recognise(specs: &[ResourceSpec], listing: &str) -> Option<Listed> {
    let listing = listing.trim();
    for spec in specs {
        if let Some(key) = listing
            .strip_prefix(spec.name.as_str())
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::trim)
            .filter(|k| !k.is_empty())
        {
            return Some(Listed {
                resource: spec.name.clone(),
                key: key.to_owned(),
            });
        }
        for template in &spec.urls {
            if let Some(key) = UrlTemplate::parse(template)
                .ok()
                .and_then(|t| t.capture(listing))
            {
                return Some(Listed {
                    resource: spec.name.clone(),
                    key,
                });
            }
        }
    }
    None
}

/// What is wrong with the section against the live schema.
pub fn problems(specs: &[ResourceSpec], catalog: &Catalog) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut names = BTreeSet::new();
    for spec in specs {
        let entry = format!("resources `{}`", spec.name);
        let mut p = |problem: String| {
            problems.push(Problem {
                entry: entry.clone(),
                problem,
            })
        };
        if spec.name.is_empty()
            || !spec
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            p("the name must be lower-case letters, digits and `_`".into());
        }
        if !names.insert(spec.name.as_str()) {
            p("the name is used twice".into());
        }
        if catalog.columns(&spec.table).is_none() {
            p(format!("table `{}` does not exist", spec.table));
            continue;
        }
        if catalog.column(&spec.table, &spec.key).is_none() {
            p(format!(
                "column `{}.{}` does not exist",
                spec.table, spec.key
            ));
        } else if !catalog
            .unique_keys
            .iter()
            .any(|u| u.table == spec.table && u.columns == [spec.key.clone()])
        {
            p(format!(
                "`{}.{}` is not a unique key: a listing must name one row",
                spec.table, spec.key
            ));
        }
        if spec.unpublish.is_empty() {
            p("`unpublish` names no column to write".into());
        }
        for (column, value) in &spec.unpublish {
            if catalog.column(&spec.table, column).is_none() {
                p(format!("column `{}.{column}` does not exist", spec.table));
            }
            if as_text(value).is_none() {
                p(format!(
                    "`unpublish.{column}` must be a boolean, a number or a string"
                ));
            }
        }
        for template in &spec.urls {
            match UrlTemplate::parse(template) {
                Err(problem) => p(format!("the URL template `{template}` {problem}")),
                Ok(t) if t.column() != spec.key => p(format!(
                    "the URL template `{template}` must name the key column `{}`",
                    spec.key
                )),
                Ok(_) => {}
            }
        }
    }
    problems
}

/// The resource kind called `name`.
pub fn find<'a>(specs: &'a [ResourceSpec], name: &str) -> Option<&'a ResourceSpec> {
    specs.iter().find(|s| s.name == name)
}

/// SQL yielding the key (`key`, as text) of the resource's row if it exists. Takes `$1`.
pub fn exists_sql(schema: &str, catalog: &Catalog, spec: &ResourceSpec) -> String {
    let key_type = key_type(catalog, spec);
    format!(
        "SELECT t.{k}::text AS key FROM {s}.{t} t WHERE t.{k} = CAST($1 AS {key_type})",
        k = ident(&spec.key),
        s = ident(schema),
        t = ident(&spec.table),
    )
}

/// The statement unpublishing the resource whose key is `$1`.
pub fn unpublish_statement(schema: &str, catalog: &Catalog, spec: &ResourceSpec) -> OptOut {
    write_statement(
        schema,
        catalog,
        &format!("resources.{}", spec.name),
        &MarketingSpec {
            table: spec.table.clone(),
            link: spec.key.clone(),
            set: spec.unpublish.clone(),
        },
    )
}

fn key_type(catalog: &Catalog, spec: &ResourceSpec) -> String {
    catalog
        .column(&spec.table, &spec.key)
        .map_or_else(|| "text".to_owned(), |c| c.sql_type.clone())
}

/// One table a resource owns, and how its rows are reached from the resource's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owned {
    /// The table.
    pub table: String,
    /// `FROM … WHERE …` over aliases `t0` (the resource) … `tN` (this table), for the
    /// resource whose key is `key` (a literal the caller quotes).
    pub from_where: String,
    /// The alias of this table's rows.
    pub alias: String,
}

/// The resource's own table and every table whose rows it owns (foreign keys cascading
/// from it, to any depth, each table once by its shortest path), with the SQL reaching
/// them from the resource whose key is the quoted literal `key`.
pub fn owned(schema: &str, catalog: &Catalog, spec: &ResourceSpec, key: &str) -> Vec<Owned> {
    let q = |t: &str| format!("{}.{}", ident(schema), ident(t));
    let root = Owned {
        table: spec.table.clone(),
        from_where: format!(
            "FROM {} t0 WHERE t0.{} = CAST({key} AS {})",
            q(&spec.table),
            ident(&spec.key),
            key_type(catalog, spec)
        ),
        alias: "t0".into(),
    };
    let mut out = vec![root.clone()];
    let mut seen: BTreeSet<String> = BTreeSet::from([spec.table.clone()]);
    // (table, joins so far, alias index)
    let mut queue: VecDeque<(String, Vec<String>, usize)> =
        VecDeque::from([(spec.table.clone(), Vec::new(), 0)]);
    let mut next_alias = 1;
    while let Some((table, joins, alias)) = queue.pop_front() {
        for fk in catalog
            .foreign_keys
            .iter()
            .filter(|fk| fk.references == table && fk.on_delete == OnDelete::Cascade)
        {
            if !seen.insert(fk.table.clone()) {
                continue;
            }
            let child = next_alias;
            next_alias += 1;
            let on: Vec<String> = fk
                .columns
                .iter()
                .zip(&fk.referenced_columns)
                .map(|(c, r)| format!("t{child}.{} = t{alias}.{}", ident(c), ident(r)))
                .collect();
            let mut joins = joins.clone();
            joins.push(format!(
                "JOIN {} t{child} ON {}",
                q(&fk.table),
                on.join(" AND ")
            ));
            out.push(Owned {
                table: fk.table.clone(),
                from_where: format!(
                    "FROM {} t0 {} WHERE t0.{} = CAST({key} AS {})",
                    q(&spec.table),
                    joins.join(" "),
                    ident(&spec.key),
                    key_type(catalog, spec)
                ),
                alias: format!("t{child}"),
            });
            queue.push_back((fk.table.clone(), joins, child));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, urls: &[&str]) -> ResourceSpec {
        ResourceSpec {
            name: name.into(),
            table: format!("{name}s"),
            key: "id".into(),
            urls: urls.iter().map(|u| u.to_string()).collect(),
            unpublish: BTreeMap::new(),
        }
    }

    #[test]
    fn listings_are_recognised_by_name_or_url_and_nothing_else() {
        let specs = [
            spec("model", &["https://demo.lethe.test/models/{id}"]),
            spec("image", &["https://demo.lethe.test/images/{id}"]),
        ];
        let listed = |r: &str, k: &str| {
            Some(Listed {
                resource: r.into(),
                key: k.into(),
            })
        };
        assert_eq!(recognise(&specs, " model:12 "), listed("model", "12"));
        assert_eq!(
            recognise(&specs, "https://demo.lethe.test/images/7?ref=x"),
            listed("image", "7")
        );
        assert_eq!(
            recognise(&specs, "https://demo.lethe.test/models/9/dana-vale-lora"),
            listed("model", "9")
        );
        assert_eq!(recognise(&specs, "model:"), None);
        assert_eq!(recognise(&specs, "post:3"), None);
        assert_eq!(recognise(&specs, "https://elsewhere.test/models/9"), None);
    }
}
