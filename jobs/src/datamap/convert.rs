//! `lethe datamap convert`: a version 1 map rewritten as an equivalent version 2 map.
//!
//! Version 1 listed paths: one `[[table]]` entry per way a table's rows link to the
//! subject, directly or through a parent entry. Version 2 states decisions: entries
//! without a parent become `[links]` entries; entries with a parent become rules on that
//! foreign key where they differ from what its delete rule does (with the live catalog)
//! or always (without it); categories move to `[categories]` (`profile` is `account`);
//! objects name a table instead of an entry, and `prefix = "avatars/{subject}/"` becomes a
//! template over the subject table's key.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Deserialize;

use super::catalog::{Catalog, OnDelete};
use super::render;
use super::rule::{Action, ColumnRule, Unlink};
use super::spec::{
    Category, DataMap, KeyFormat, LinkKey, LinkSpec, MapError, ObjectSpec, SubjectSpec,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct V1Map {
    version: u32,
    #[serde(default = "public")]
    schema: String,
    subject: V1Subject,
    #[serde(default, rename = "table")]
    tables: Vec<V1Table>,
    #[serde(default)]
    objects: Vec<V1Object>,
}

fn public() -> String {
    "public".into()
}
fn id() -> String {
    "id".into()
}
fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct V1Subject {
    table: String,
    #[serde(default = "id")]
    key: String,
    email: String,
    username: Option<String>,
    category: Option<String>,
    erase: V1Erase,
    placeholder: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct V1Table {
    name: String,
    table: Option<String>,
    link: V1Link,
    category: String,
    #[serde(default = "yes")]
    export: bool,
    erase: V1Erase,
    note: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct V1Link {
    column: String,
    parent: Option<String>,
    parent_column: Option<String>,
    #[serde(default)]
    soft: bool,
}

#[derive(Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
enum V1Erase {
    Delete,
    Anonymize {
        columns: BTreeMap<String, ColumnRule>,
    },
    Retain {
        basis: String,
        period: String,
        #[serde(default)]
        anonymize: BTreeMap<String, ColumnRule>,
        #[serde(default)]
        reassign: bool,
    },
    Detach {
        columns: Vec<String>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct V1Object {
    name: String,
    bucket: String,
    category: String,
    from: Option<String>,
    column: Option<String>,
    #[serde(default)]
    format: KeyFormat,
    prefix: Option<String>,
    #[serde(default = "yes")]
    export: bool,
}

fn err(entry: &str, problem: impl Into<String>) -> MapError {
    MapError::Entry {
        entry: entry.into(),
        problem: problem.into(),
    }
}

fn category(name: &str, entry: &str) -> Result<Category, MapError> {
    Ok(match name {
        "profile" | "account" => Category::Account,
        "content" => Category::Content,
        "activity" => Category::Activity,
        "device_location" => Category::DeviceLocation,
        "payments" => Category::Payments,
        "preferences" => Category::Preferences,
        "moderation" => Category::Moderation,
        "security" => Category::Security,
        other => return Err(err(entry, format!("unknown category `{other}`"))),
    })
}

/// The v2 rule for a v1 entry (export left to the caller).
fn rule(entry: &V1Table) -> LinkSpec {
    let column = &entry.link.column;
    let mut spec = LinkSpec::default();
    match &entry.erase {
        V1Erase::Delete => spec.action = Some(Action::Delete),
        V1Erase::Anonymize { columns } => {
            spec.action = Some(Action::Anonymize);
            spec.anonymize = columns.clone();
        }
        V1Erase::Retain {
            basis,
            period,
            anonymize,
            reassign,
        } => {
            spec.action = Some(Action::Retain);
            spec.basis = Some(basis.clone());
            spec.period = Some(period.clone());
            spec.anonymize = anonymize.clone();
            spec.unlink = reassign.then_some(Unlink::Placeholder);
        }
        V1Erase::Detach { columns } => {
            let others: BTreeMap<String, ColumnRule> = columns
                .iter()
                .filter(|c| *c != column)
                .map(|c| (c.clone(), ColumnRule::Null))
                .collect();
            spec.action = Some(if columns.contains(column) {
                Action::Detach
            } else {
                Action::Anonymize
            });
            spec.anonymize = others;
        }
    }
    spec
}

/// What version 2 does to rows without a rule for this action.
fn default_export(action: Option<&Action>) -> bool {
    matches!(action, Some(Action::Delete | Action::Retain))
}

/// The result: the map's text and what the conversion could not carry over exactly.
#[derive(Debug, Clone)]
pub struct Converted {
    /// The version 2 map (TOML).
    pub text: String,
    /// Notes for the person converting (also written as comments in the map).
    pub notes: Vec<String>,
}

/// Converts a version 1 map. With `catalog`, rules on deeper foreign keys that do what the
/// key's delete rule already does are dropped (with a comment).
pub fn convert(v1: &str, catalog: Option<&Catalog>) -> Result<Converted, MapError> {
    let old: V1Map = toml::from_str(v1)?;
    if old.version != 1 {
        return Err(err("version", "not a version 1 map"));
    }
    let subject_table = old.subject.table.clone();
    let mut notes: Vec<String> = Vec::new();
    if !matches!(old.subject.erase, V1Erase::Delete) {
        notes.push("subject.erase is not delete; version 2 always deletes the subject row".into());
    }
    let by_name: BTreeMap<&str, &V1Table> =
        old.tables.iter().map(|t| (t.name.as_str(), t)).collect();
    let table_of = |t: &V1Table| t.table.clone().unwrap_or_else(|| t.name.clone());
    let mut categories: BTreeMap<String, Category> = BTreeMap::new();
    let subject_category = category(
        old.subject.category.as_deref().unwrap_or("profile"),
        "subject",
    )?;
    categories.insert(subject_table.clone(), subject_category);
    let mut direct = String::new();
    let mut deeper = String::new();
    let mut dropped: Vec<String> = Vec::new();
    let mut links: BTreeMap<String, String> = BTreeMap::new();
    // Direct entries first, so that a table's category is that of its own rows.
    let ordered = old
        .tables
        .iter()
        .filter(|t| t.link.parent.is_none())
        .chain(old.tables.iter().filter(|t| t.link.parent.is_some()));
    for entry in ordered {
        let table = table_of(entry);
        let c = category(&entry.category, &entry.name)?;
        if let Some(previous) = categories.get(&table).copied().filter(|p| *p != c) {
            notes.push(format!(
                "`{}` is {} in entry {}, but a table has one category: kept {}",
                table,
                c.as_str(),
                entry.name,
                previous.as_str()
            ));
        }
        categories.entry(table.clone()).or_insert(c);
        let key = LinkKey::render(&table, std::slice::from_ref(&entry.link.column));
        let parent = match &entry.link.parent {
            Some(p) => {
                Some(table_of(by_name.get(p.as_str()).ok_or_else(|| {
                    err(&entry.name, format!("unknown parent `{p}`"))
                })?))
            }
            None => None,
        };
        let mut spec = rule(entry);
        spec.soft = entry.link.soft;
        if entry.link.soft {
            spec.to = match (&parent, &entry.link.parent_column) {
                (Some(p), c) => Some(format!("{p}.{}", c.as_deref().unwrap_or("id"))),
                (None, Some(c)) if *c != old.subject.key => Some(format!("{subject_table}.{c}")),
                _ => None,
            };
        }
        let fk = parent.as_ref().and_then(|p| {
            catalog?.foreign_keys.iter().find(|fk| {
                fk.table == table
                    && fk.columns == [entry.link.column.clone()]
                    && fk.references == *p
            })
        });
        let same = match (fk.map(|f| f.on_delete), &spec.action) {
            (Some(OnDelete::Cascade), Some(Action::Delete)) => Some(("delete", true)),
            (Some(OnDelete::SetNull), Some(Action::Detach)) if spec.anonymize.is_empty() => {
                Some(("detach (the database sets it to NULL)", false))
            }
            _ => None,
        };
        if let Some((what, export)) = same
            && export == entry.export
            && !entry.link.soft
        {
            dropped.push(format!(
                "{} ({key}): its foreign key's delete rule already does {what}",
                entry.name
            ));
            continue;
        }
        if entry.export != default_export(spec.action.as_ref()) {
            spec.export = Some(entry.export);
        }
        if let Some(first) = links.get(&key) {
            notes.push(format!(
                "entry {} is a second rule for {key} (after {first}); dropped, merge it by hand",
                entry.name
            ));
            continue;
        }
        links.insert(key.clone(), entry.name.clone());
        let out = if parent.is_some() {
            &mut deeper
        } else {
            &mut direct
        };
        let comment = match (&entry.note, &parent) {
            (Some(n), _) => format!("{}: {n}", entry.name),
            (None, Some(p)) => format!("{}, under {p}", entry.name),
            (None, None) if entry.name != table => entry.name.clone(),
            _ => String::new(),
        };
        if comment.len() > 60 {
            render::comment(out, &comment);
            render::link_line(out, &key, &spec, "");
        } else {
            render::link_line(out, &key, &spec, &comment);
        }
    }

    let mut objects: Vec<(ObjectSpec, String)> = Vec::new();
    for o in &old.objects {
        let (table, column, template) = match (&o.from, &o.column, &o.prefix) {
            (Some(from), Some(column), None) => {
                let t = by_name
                    .get(from.as_str())
                    .ok_or_else(|| err(&o.name, format!("unknown table entry `{from}`")))?;
                (table_of(t), Some(column.clone()), None)
            }
            (None, None, Some(prefix)) => {
                let mut template = prefix.replace("{subject}", &format!("{{{}}}", old.subject.key));
                if template.ends_with('}') {
                    template.push('/');
                    notes.push(format!("object {}: prefix `{prefix}` now ends in `/`, so it lists only that key's folder", o.name));
                }
                (subject_table.clone(), None, Some(template))
            }
            _ => return Err(err(&o.name, "give either `from` and `column`, or `prefix`")),
        };
        let c = category(&o.category, &o.name)?;
        let table_category = categories.get(&table).copied().unwrap_or(Category::Content);
        objects.push((
            ObjectSpec {
                bucket: o.bucket.clone(),
                table,
                column,
                format: o.format,
                template,
                hosts: Vec::new(),
                export: o.export,
                category: (c != table_category).then_some(c),
            },
            o.name.clone(),
        ));
    }

    let mut out = String::new();
    render::comment(
        &mut out,
        "Converted from a version 1 data map by `lethe datamap convert`. Foreign keys not listed follow\n\
         their delete rule (CASCADE: delete, SET NULL: leave); run `lethe datamap check`.",
    );
    for n in &notes {
        render::comment(&mut out, &format!("NOTE: {n}"));
    }
    let _ = writeln!(
        out,
        "\nversion = 2\nschema = {}\n",
        render::quoted(&old.schema)
    );
    let subject = SubjectSpec {
        table: subject_table.clone(),
        key: old.subject.key.clone(),
        email: old.subject.email.clone(),
        username: old.subject.username.clone(),
        profile_urls: Vec::new(),
        placeholder: old.subject.placeholder.clone(),
        tombstone: None,
    };
    render::subject(&mut out, &subject, None, None);
    let _ = writeln!(out, "\n[links]");
    out.push_str(&direct);
    if !deeper.is_empty() {
        let _ = writeln!(out);
        render::comment(
            &mut out,
            "Rules on deeper foreign keys (version 1 entries with a parent).",
        );
        out.push_str(&deeper);
    }
    if !dropped.is_empty() {
        let _ = writeln!(out);
        render::comment(
            &mut out,
            "Version 1 entries left to their foreign key's delete rule:",
        );
        for d in &dropped {
            render::comment(&mut out, &format!("  {d}"));
        }
    }
    let mut grouped: BTreeMap<Category, Vec<String>> = BTreeMap::new();
    for (table, c) in categories {
        grouped.entry(c).or_default().push(table);
    }
    let _ = writeln!(out);
    render::categories(&mut out, &grouped);
    for (object, name) in &objects {
        let _ = writeln!(out);
        render::comment(&mut out, name);
        render::object(&mut out, object);
    }
    DataMap::parse(&out)?;
    Ok(Converted { text: out, notes })
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = r#"
        version = 1
        [subject]
        table = "users"
        email = "email"
        username = "username"
        erase = { action = "delete" }
        placeholder = "0"
        [[table]]
        name = "images"
        link = { column = "user_id" }
        category = "content"
        erase = { action = "delete" }
        [[table]]
        name = "images_made_with_subject_models"
        table = "images"
        link = { column = "model_id", parent = "models" }
        category = "content"
        export = false
        erase = { action = "detach", columns = ["model_id"] }
        [[table]]
        name = "models"
        link = { column = "user_id" }
        category = "content"
        erase = { action = "delete" }
        [[table]]
        name = "comments_on_subject_images"
        table = "comments"
        link = { column = "image_id", parent = "images" }
        category = "content"
        export = false
        erase = { action = "delete" }
        [[table]]
        name = "profiles"
        link = { column = "user_id" }
        category = "profile"
        erase = { action = "delete" }
        [[table]]
        name = "payments"
        link = { column = "user_id" }
        category = "payments"
        erase = { action = "retain", basis = "tax law", period = "10 years", anonymize = { billing_name = "null" }, reassign = true }
        [[table]]
        name = "tips_sent"
        table = "tips"
        link = { column = "from_user_id", soft = true }
        category = "payments"
        erase = { action = "retain", basis = "tax law", period = "10 years" }
        [[objects]]
        name = "image_files"
        bucket = "platform-images"
        category = "content"
        from = "images"
        column = "object_key"
        [[objects]]
        name = "avatars"
        bucket = "platform-avatars"
        category = "profile"
        prefix = "avatars/{subject}/"
    "#;

    use crate::datamap::catalog::test_fk as fk;

    #[test]
    fn a_version_1_map_becomes_links_categories_and_objects() {
        let converted = convert(V1, None).unwrap();
        let map = DataMap::parse(&converted.text).unwrap();
        let link = |k: &str| {
            map.links
                .get(k)
                .unwrap_or_else(|| panic!("{k} missing in\n{}", converted.text))
        };
        assert_eq!(link("images.user_id").action, Some(Action::Delete));
        let payments = link("payments.user_id");
        assert_eq!(payments.action, Some(Action::Retain));
        assert_eq!(payments.unlink, Some(Unlink::Placeholder));
        assert_eq!(
            payments.anonymize.get("billing_name"),
            Some(&ColumnRule::Null)
        );
        assert!(link("tips.from_user_id").soft);
        let detach = link("images.model_id");
        assert_eq!(
            (detach.action.clone(), detach.export),
            (Some(Action::Detach), None)
        );
        assert_eq!(link("comments.image_id").export, Some(false));
        assert_eq!(map.category_of("profiles"), Category::Account);
        assert_eq!(map.category_of("tips"), Category::Payments);
        assert_eq!(map.category_of("images"), Category::Content);
        assert_eq!(map.objects[0].table, "images");
        assert_eq!(map.objects[1].table, "users");
        assert_eq!(map.objects[1].template.as_deref(), Some("avatars/{id}/"));
        assert_eq!(map.subject.placeholder.as_deref(), Some("0"));
    }

    #[test]
    fn rules_the_delete_rule_already_follows_are_dropped_with_the_catalog() {
        let mut catalog = Catalog::default();
        catalog.foreign_keys = vec![
            fk("images", "model_id", "models", OnDelete::SetNull),
            fk("comments", "image_id", "images", OnDelete::Cascade),
        ];
        let converted = convert(
            &V1.replace(
                "export = false\n        erase = { action = \"delete\" }",
                "erase = { action = \"delete\" }",
            ),
            Some(&catalog),
        )
        .unwrap();
        let map = DataMap::parse(&converted.text).unwrap();
        assert!(
            !map.links.contains_key("comments.image_id"),
            "{}",
            converted.text
        );
        assert!(
            !map.links.contains_key("images.model_id"),
            "{}",
            converted.text
        );
        assert!(converted.text.contains("comments_on_subject_images (comments.image_id): its foreign key's delete rule already does delete"));
    }

    #[test]
    fn version_2_maps_and_unknown_parents_are_refused() {
        assert!(convert("version = 2\n[subject]\ntable = \"u\"\nemail = \"e\"\nerase = { action = \"delete\" }\n", None).is_err());
        assert!(
            convert(
                &V1.replace("parent = \"models\"", "parent = \"nope\""),
                None
            )
            .is_err()
        );
    }
}
