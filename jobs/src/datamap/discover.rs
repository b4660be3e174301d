//! A starting data map from the platform's foreign keys (`lethe datamap discover`).
//!
//! Discovery walks the foreign-key graph breadth-first from the subject table: every
//! foreign key into the subject table becomes a direct entry, every foreign key into a
//! table an entry already reads becomes a multi-hop entry (`link.parent`), one entry per
//! path, never visiting a table twice on one path. Each entry's `export` flag and erase
//! action are guessed from the graph and the keys' delete rules, and comments list what a
//! human still has to decide: personal-looking columns, object keys, soft links, legal
//! bases. The output is TOML in exactly the format [`super::DataMap::parse`] reads.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt::Write;

use super::catalog::{Catalog, ColumnInfo, ForeignKey, OnDelete};
use super::coverage::{Schema, on_delete_sql, personal_column, soft_links_in};
use super::spec::Category;

/// How many foreign keys deep discovery follows from the subject table.
pub const MAX_DEPTH: usize = 6;

/// The most entries one discovered map holds; dense schemas have many paths.
pub const MAX_ENTRIES: usize = 1000;

/// The stand-in for a legal basis a human has to state.
pub const TODO_BASIS: &str = "TODO: state the legal basis";

/// The stand-in for anything else a human has to fill in (retention periods, the
/// placeholder account's key).
pub const TODO: &str = "TODO";

/// A data map for the platform described by `catalog` (schema `public`), with
/// `subject_table` as the subject: `key` its primary key, `email` and `username` its
/// identifying columns. See [`discover_in_schema`].
pub fn discover(
    catalog: &Catalog,
    subject_table: &str,
    key: &str,
    email: &str,
    username: Option<&str>,
) -> String {
    discover_in_schema(catalog, "public", subject_table, key, email, username)
}

/// Like [`discover`], for a catalog loaded from `schema`. The result parses with
/// [`super::DataMap::parse`]; it binds once every `TODO` in it is replaced (the subject's
/// `placeholder`, present when a `RESTRICT` key makes retained rows be reassigned).
pub fn discover_in_schema(
    catalog: &Catalog,
    schema: &str,
    subject_table: &str,
    key: &str,
    email: &str,
    username: Option<&str>,
) -> String {
    let subject = Subject {
        schema,
        table: subject_table,
        key,
        email,
        username,
    };
    render(&Schema::from_catalog(catalog), &subject)
}

struct Subject<'a> {
    schema: &'a str,
    table: &'a str,
    key: &'a str,
    email: &'a str,
    username: Option<&'a str>,
}

/// A data category guessed from a table's name: sessions, devices and logins are
/// `device_location`; payments, invoices, orders and tips `payments`; reports and
/// moderation `moderation`; preferences, settings and consents `preferences`; follows,
/// reactions, likes and notifications `activity`; profiles `profile`; anything else
/// `content`. Words match at the start of a `_`-separated part (`tips`, `user_settings`).
pub fn category_for_table(table: &str) -> Category {
    let lower = table.to_lowercase();
    let parts: Vec<&str> = lower.split('_').filter(|p| !p.is_empty()).collect();
    let any = |words: &[&str]| parts.iter().any(|p| words.iter().any(|w| p.starts_with(w)));
    if any(&["session", "device", "login", "signin"]) {
        Category::DeviceLocation
    } else if any(&[
        "payment",
        "invoice",
        "order",
        "tip",
        "purchase",
        "subscription",
        "billing",
        "payout",
        "refund",
    ]) {
        Category::Payments
    } else if any(&["report", "moderation", "ban", "flag", "appeal"]) {
        Category::Moderation
    } else if any(&["preference", "setting", "consent", "unsubscribe"]) {
        Category::Preferences
    } else if any(&[
        "follow",
        "reaction",
        "like",
        "notification",
        "vote",
        "favorite",
        "favourite",
        "bookmark",
    ]) {
        Category::Activity
    } else if any(&["profile"]) {
        Category::Profile
    } else {
        Category::Content
    }
}

/// What erasure does to a discovered entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Delete,
    Detach,
    Retain { reassign: bool },
}

/// One discovered entry: the foreign key it follows and the entry it follows it into.
struct Found<'a> {
    fk: &'a ForeignKey,
    parent: Option<usize>,
    /// Tables on the path to the subject, the subject table first.
    path: Vec<String>,
    export: bool,
    action: Action,
    /// Why the action is what it is, when the delete rule alone does not say.
    why: Option<String>,
    name: String,
}

impl Found<'_> {
    fn table(&self) -> &str {
        &self.fk.table
    }

    fn column(&self) -> &str {
        &self.fk.columns[0]
    }
}

/// Whether a column could hold an object key: text named `*key`, `*url` or `*path`.
fn object_key_column(column: &ColumnInfo) -> bool {
    let name = column.name.to_lowercase();
    let text = column.sql_type == "text" || column.sql_type.starts_with("character");
    text && (name.ends_with("key") || name.ends_with("url") || name.ends_with("path"))
}

/// A TOML basic string.
fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Text safe inside a `#` comment line.
fn plain(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Walks the foreign-key graph breadth-first from the subject table. Returns the entries
/// and notes on the keys it did not follow.
fn walk<'a>(schema: &Schema<'a>, subject: &Subject<'_>) -> (Vec<Found<'a>>, Vec<String>) {
    let mut found: Vec<Found<'a>> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let mut noted: HashSet<(&str, &str)> = HashSet::new();
    let mut note = |fk: &'a ForeignKey, why: String| {
        if noted.insert((fk.name.as_str(), fk.table.as_str())) {
            notes.push(format!(
                "{}.{} -> {}.{} (ON DELETE {}): {why}",
                fk.table,
                fk.columns.join(","),
                fk.references,
                fk.referenced_columns.join(","),
                on_delete_sql(fk.on_delete)
            ));
        }
    };
    let links_to_subject: HashSet<&str> = schema
        .foreign_keys
        .iter()
        .filter(|fk| fk.references == subject.table && fk.table != subject.table)
        .map(|fk| fk.table.as_str())
        .collect();

    for &fk in schema
        .foreign_keys
        .iter()
        .filter(|fk| fk.references == subject.table)
    {
        if fk.table == subject.table {
            note(
                fk,
                "a self-reference of the subject table; not followed".into(),
            );
        } else if fk.columns.len() != 1 {
            note(
                fk,
                "a composite key; a link has one column, so not followed".into(),
            );
        } else if fk.referenced_columns[0] != subject.key {
            let referenced = &fk.referenced_columns[0];
            note(
                fk,
                format!(
                    "references `{referenced}`, not the subject key `{}`; not followed",
                    subject.key
                ),
            );
        } else if found.len() >= MAX_ENTRIES {
            note(
                fk,
                format!("not followed: discovery stops at {MAX_ENTRIES} entries"),
            );
        } else {
            let action = match fk.on_delete {
                OnDelete::Cascade => Action::Delete,
                OnDelete::SetNull => Action::Detach,
                OnDelete::Restrict => Action::Retain { reassign: true },
            };
            let why = (action == Action::Retain { reassign: true }).then(|| {
                "the foreign key restricts deleting the subject: the rows are retained and reassigned to the placeholder \
                 account (or change this to delete)"
                    .to_owned()
            });
            found.push(Found {
                fk,
                parent: None,
                path: vec![subject.table.to_owned(), fk.table.clone()],
                export: true,
                action,
                why,
                name: String::new(),
            });
        }
    }

    let mut next = 0;
    while next < found.len() {
        let (table, depth, parent_action, parent_export, path) = {
            let node = &found[next];
            (
                node.fk.table.as_str(),
                node.path.len() - 1,
                node.action,
                node.export,
                node.path.clone(),
            )
        };
        for &fk in schema
            .foreign_keys
            .iter()
            .filter(|fk| fk.references == table)
        {
            if fk.table == subject.table {
                continue; // The subject row referring to other rows is part of the subject row.
            }
            if fk.table == fk.references {
                note(
                    fk,
                    "a self-reference; not followed (add an entry with link.parent if rows of other people under \
                     the subject's rows need treatment)"
                        .into(),
                );
                continue;
            }
            if fk.columns.len() != 1 {
                note(
                    fk,
                    "a composite key; a link has one column, so not followed".into(),
                );
                continue;
            }
            if path.contains(&fk.table) {
                note(
                    fk,
                    format!(
                        "would close a cycle ({} -> {}); not followed on that path",
                        path.join(" <- "),
                        fk.table
                    ),
                );
                continue;
            }
            if depth >= MAX_DEPTH {
                note(
                    fk,
                    format!(
                        "more than {MAX_DEPTH} foreign keys away from the subject; not followed"
                    ),
                );
                continue;
            }
            if found.len() >= MAX_ENTRIES {
                note(
                    fk,
                    format!("not followed: discovery stops at {MAX_ENTRIES} entries"),
                );
                continue;
            }
            let (action, why) = match parent_action {
                Action::Delete => match fk.on_delete {
                    OnDelete::Cascade => (Action::Delete, None),
                    OnDelete::SetNull => (Action::Detach, None),
                    OnDelete::Restrict => (
                        Action::Delete,
                        Some(format!(
                            "the foreign key restricts deleting the `{}` rows: these rows are deleted first \
                             (retain the parent entry too if they must be kept)",
                            fk.references
                        )),
                    ),
                },
                Action::Detach | Action::Retain { .. } => (
                    Action::Retain { reassign: false },
                    Some(format!(
                        "the `{}` rows these hang off are kept, so these are kept with them",
                        fk.references
                    )),
                ),
            };
            let mut child_path = path.clone();
            child_path.push(fk.table.clone());
            found.push(Found {
                fk,
                parent: Some(next),
                path: child_path,
                export: parent_export && !links_to_subject.contains(fk.table.as_str()),
                action,
                why,
                name: String::new(),
            });
        }
        next += 1;
    }
    name_entries(&mut found);
    (found, notes)
}

/// Unique entry names: the table name when the table appears once, `table_via_column`
/// when it appears more than once, `table_via_column_under_parent` when that still
/// repeats, and a numeric suffix as a last resort.
fn name_entries(found: &mut [Found<'_>]) {
    let mut per_table: HashMap<String, usize> = HashMap::new();
    let mut per_column: HashMap<(String, String), usize> = HashMap::new();
    for f in found.iter() {
        *per_table.entry(f.table().to_owned()).or_default() += 1;
        *per_column
            .entry((f.table().to_owned(), f.column().to_owned()))
            .or_default() += 1;
    }
    let mut taken: HashSet<String> = HashSet::new();
    for i in 0..found.len() {
        let (table, column) = (found[i].table().to_owned(), found[i].column().to_owned());
        let base = if per_table[&table] == 1 {
            table.clone()
        } else if per_column[&(table.clone(), column.clone())] == 1 {
            format!("{table}_via_{column}")
        } else {
            let parent = found[i]
                .parent
                .map_or_else(|| "subject".to_owned(), |p| found[p].name.clone());
            format!("{table}_via_{column}_under_{parent}")
        };
        let mut name = base.clone();
        let mut n = 2;
        while !taken.insert(name.clone()) {
            name = format!("{base}_{n}");
            n += 1;
        }
        found[i].name = name;
    }
}

fn render(schema: &Schema<'_>, subject: &Subject<'_>) -> String {
    let (found, notes) = walk(schema, subject);
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(
        w,
        "# Data map discovered by `lethe datamap discover` from the foreign keys reachable from"
    );
    let _ = writeln!(
        w,
        "# `{}` in schema `{}`. A starting point, not a finished map:",
        plain(subject.table),
        plain(subject.schema)
    );
    let _ = writeln!(
        w,
        "# - check every entry's category, export flag and erase action;"
    );
    let _ = writeln!(
        w,
        "# - replace every TODO (legal bases, retention periods, the placeholder account);"
    );
    let _ = writeln!(
        w,
        "# - decide on the personal-looking columns of retained or detached rows (erase.anonymize);"
    );
    let _ = writeln!(
        w,
        "# - add the objects and soft links suggested (commented out) at the end;"
    );
    let _ = writeln!(w, "# - then run `lethe datamap check`.");
    let _ = writeln!(
        w,
        "# How entries were guessed: one entry per foreign-key path to the subject (a table reached"
    );
    let _ = writeln!(
        w,
        "# through another entry names it as `link.parent`); ON DELETE CASCADE -> delete, SET NULL ->"
    );
    let _ = writeln!(
        w,
        "# detach, RESTRICT/NO ACTION -> retain (reassigned to the placeholder when it links to the"
    );
    let _ = writeln!(
        w,
        "# subject directly); rows of a table that also links to the subject directly, reached"
    );
    let _ = writeln!(
        w,
        "# through another entry, are other people's rows: export = false. Categories come from"
    );
    let _ = writeln!(w, "# table names.");
    let _ = writeln!(w);
    let _ = writeln!(w, "version = 1");
    let _ = writeln!(w, "schema = {}", quoted(subject.schema));
    let _ = writeln!(w);
    let _ = writeln!(w, "[subject]");
    let _ = writeln!(w, "table = {}", quoted(subject.table));
    let _ = writeln!(w, "key = {}", quoted(subject.key));
    let _ = writeln!(w, "email = {}", quoted(subject.email));
    if let Some(username) = subject.username {
        let _ = writeln!(w, "username = {}", quoted(username));
    }
    let _ = writeln!(w, "category = \"profile\"");
    let _ = writeln!(w, "erase = {{ action = \"delete\" }}");
    column_notes(w, schema, subject.table);
    let restricting: Vec<String> = found
        .iter()
        .filter(|f| f.action == Action::Retain { reassign: true })
        .map(|f| format!("{}.{}", f.table(), f.column()))
        .collect();
    if !restricting.is_empty() {
        let _ = writeln!(
            w,
            "# {} restrict{} deleting the subject: those rows are retained and reassigned to this",
            plain(&restricting.join(", ")),
            if restricting.len() == 1 { "s" } else { "" }
        );
        let _ = writeln!(
            w,
            "# placeholder account. TODO: the key of a \"deleted user\" account in `{}`.",
            plain(subject.table)
        );
        let _ = writeln!(w, "placeholder = {}", quoted(TODO));
    }

    for f in &found {
        let _ = writeln!(w);
        let mut hops = Vec::new();
        let mut cur = Some(f);
        while let Some(node) = cur {
            hops.push(format!(
                "{}.{} -> {}.{} ({})",
                node.fk.table,
                node.column(),
                node.fk.references,
                node.fk.referenced_columns[0],
                on_delete_sql(node.fk.on_delete)
            ));
            cur = node.parent.map(|p| &found[p]);
        }
        let _ = writeln!(w, "# {}", plain(&hops.join(", ")));
        if !f.export {
            let _ = writeln!(
                w,
                "# Other people's rows: `{}` links to `{}` directly too, so rows reached through `{}` are not the subject's.",
                plain(f.table()),
                plain(subject.table),
                plain(&f.fk.references)
            );
        }
        if let Some(why) = &f.why {
            let _ = writeln!(w, "# {}", plain(why));
        }
        let _ = writeln!(w, "[[table]]");
        let _ = writeln!(w, "name = {}", quoted(&f.name));
        if f.name != f.table() {
            let _ = writeln!(w, "table = {}", quoted(f.table()));
        }
        let mut link = format!("column = {}", quoted(f.column()));
        let referenced = f.fk.referenced_columns[0].as_str();
        if let Some(parent) = f.parent {
            let _ = write!(link, ", parent = {}", quoted(&found[parent].name));
            if referenced != "id" {
                let _ = write!(link, ", parent_column = {}", quoted(referenced));
            }
        }
        let _ = writeln!(w, "link = {{ {link} }}");
        let _ = writeln!(
            w,
            "category = {}",
            quoted(category_for_table(f.table()).as_str())
        );
        if !f.export {
            let _ = writeln!(w, "export = false");
        }
        let erase = match f.action {
            Action::Delete => "{ action = \"delete\" }".to_owned(),
            Action::Detach => format!(
                "{{ action = \"detach\", columns = [{}] }}",
                quoted(f.column())
            ),
            Action::Retain { reassign } => format!(
                "{{ action = \"retain\", basis = {}, period = {}{} }}",
                quoted(TODO_BASIS),
                quoted(TODO),
                if reassign { ", reassign = true" } else { "" }
            ),
        };
        let _ = writeln!(w, "erase = {erase}");
        column_notes(w, schema, f.table());
    }

    objects_section(w, schema, &found);
    soft_links_section(w, schema, subject);
    if !notes.is_empty() {
        let _ = writeln!(w);
        let _ = writeln!(w, "# Foreign keys not followed:");
        for n in &notes {
            let _ = writeln!(w, "# - {}", plain(n));
        }
    }
    out
}

/// Comments naming a table's personal-looking and possible object-key columns.
fn column_notes(w: &mut String, schema: &Schema<'_>, table: &str) {
    let columns = schema.columns(table);
    let personal: Vec<String> = columns
        .iter()
        .filter(|c| c.sql_type != "boolean")
        .filter_map(|c| personal_column(table, &c.name).map(|kind| format!("{} ({kind})", c.name)))
        .collect();
    if !personal.is_empty() {
        let _ = writeln!(
            w,
            "# personal-looking columns: {}",
            plain(&personal.join(", "))
        );
    }
    let keys: Vec<&str> = columns
        .iter()
        .filter(|c| object_key_column(c))
        .map(|c| c.name.as_str())
        .collect();
    if !keys.is_empty() {
        let _ = writeln!(
            w,
            "# possible object-key columns: {} (see the [[objects]] suggestions below)",
            plain(&keys.join(", "))
        );
    }
}

/// Commented-out `[[objects]]` entries for the possible object-key columns, one per
/// table and column, from the table's first exported entry (else its first entry).
fn objects_section(w: &mut String, schema: &Schema<'_>, found: &[Found<'_>]) {
    let mut done: BTreeSet<(&str, &str)> = BTreeSet::new();
    let mut blocks = Vec::new();
    let mut order: Vec<&Found<'_>> = found.iter().filter(|f| f.export).collect();
    order.extend(found.iter().filter(|f| !f.export));
    for f in order {
        for column in schema
            .columns(f.table())
            .iter()
            .filter(|c| object_key_column(c))
        {
            if !done.insert((f.table(), column.name.as_str())) {
                continue;
            }
            let format = if column.name.to_lowercase().ends_with("url") {
                "url"
            } else {
                "key"
            };
            blocks.push(format!(
                "# [[objects]]\n# name = {}\n# bucket = {}\n# category = {}\n# from = {}\n# column = {}\n# format = \"{format}\"\n",
                quoted(&format!("{}_{}", f.name, column.name)),
                quoted(TODO),
                quoted(category_for_table(f.table()).as_str()),
                quoted(&f.name),
                quoted(&column.name),
            ));
        }
    }
    if blocks.is_empty() {
        return;
    }
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "# Objects: columns that may hold object keys. Uncomment the ones that do, name their"
    );
    let _ = writeln!(
        w,
        "# bucket, and add prefix entries for objects stored under a path built from the subject's"
    );
    let _ = writeln!(w, "# key (prefix = \"avatars/{{subject}}/\").");
    for block in blocks {
        let _ = writeln!(w);
        w.push_str(&block);
    }
}

/// Commented-out entries for columns that look like user references without a foreign key.
fn soft_links_section(w: &mut String, schema: &Schema<'_>, subject: &Subject<'_>) {
    let candidates = soft_links_in(schema, subject.table, subject.key);
    if candidates.is_empty() {
        return;
    }
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "# Possible soft links: columns that look like references to `{}` but have no",
        plain(subject.table)
    );
    let _ = writeln!(
        w,
        "# foreign key. `lethe datamap check` tells whether their values match subject keys."
    );
    let _ = writeln!(
        w,
        "# Uncomment the ones that hold the subject's key and choose the erase action."
    );
    for (table, column) in candidates {
        let _ = writeln!(w);
        let _ = writeln!(w, "# [[table]]");
        let _ = writeln!(
            w,
            "# name = {}",
            quoted(&format!("{table}_via_{}", column.name))
        );
        let _ = writeln!(w, "# table = {}", quoted(table));
        let _ = writeln!(
            w,
            "# link = {{ column = {}, soft = true }}",
            quoted(&column.name)
        );
        let _ = writeln!(
            w,
            "# category = {}",
            quoted(category_for_table(table).as_str())
        );
        let _ = writeln!(w, "# erase = {{ action = \"delete\" }}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datamap::coverage::coverage_in;
    use crate::datamap::coverage::tests::Fixture;
    use crate::datamap::spec::{DataMap, Erase};

    fn discovered(fixture: &Fixture) -> String {
        render(
            &fixture.schema(),
            &Subject {
                schema: "public",
                table: "users",
                key: "id",
                email: "email",
                username: None,
            },
        )
    }

    #[test]
    fn table_names_suggest_categories() {
        assert_eq!(category_for_table("sessions"), Category::DeviceLocation);
        assert_eq!(
            category_for_table("login_attempts"),
            Category::DeviceLocation
        );
        assert_eq!(category_for_table("payments"), Category::Payments);
        assert_eq!(category_for_table("tips"), Category::Payments);
        assert_eq!(
            category_for_table("moderation_reports"),
            Category::Moderation
        );
        assert_eq!(
            category_for_table("marketing_preferences"),
            Category::Preferences
        );
        assert_eq!(category_for_table("user_settings"), Category::Preferences);
        assert_eq!(category_for_table("follows"), Category::Activity);
        assert_eq!(category_for_table("notifications"), Category::Activity);
        assert_eq!(category_for_table("profiles"), Category::Profile);
        assert_eq!(category_for_table("images"), Category::Content);
        assert_eq!(category_for_table("multiple_choices"), Category::Content);
    }

    #[test]
    fn strings_are_quoted_for_toml() {
        assert_eq!(quoted("plain"), "\"plain\"");
        assert_eq!(quoted("we\"ird\\\n"), "\"we\\\"ird\\\\\\n\"");
        assert_eq!(quoted("\u{1}"), "\"\\u0001\"");
    }

    #[test]
    fn the_discovered_map_parses_and_covers_every_foreign_key() {
        let fixture = Fixture::new();
        let text = discovered(&fixture);
        let map =
            DataMap::parse(&text.replace("placeholder = \"TODO\"", "placeholder = \"0\"")).unwrap();
        let entry = |table: &str, column: &str| {
            map.tables
                .iter()
                .find(|t| t.table_name() == table && t.link.column == column)
                .unwrap_or_else(|| panic!("no entry for {table}.{column} in\n{text}"))
        };
        assert!(entry("images", "user_id").link.parent.is_none());
        assert!(matches!(entry("images", "user_id").erase, Erase::Delete));
        let comments = entry("comments", "image_id");
        assert_eq!(comments.link.parent.as_deref(), Some("images"));
        assert!(
            comments.export,
            "comments have no key of their own to the subject"
        );
        let contacts = entry("contacts", "user_id");
        assert!(
            matches!(contacts.erase, Erase::Retain { reassign: true, .. }),
            "RESTRICT: retained and reassigned"
        );
        assert_eq!(map.subject.placeholder.as_deref(), Some("0"));
        assert!(
            text.contains("comments.parent_id -> comments.id"),
            "the self-reference is named:\n{text}"
        );
        assert!(
            text.contains("# link = { column = \"owner_id\", soft = true }"),
            "the soft link is suggested:\n{text}"
        );
        assert!(
            text.contains("personal-looking columns: phone (phone)"),
            "{text}"
        );
        let report = coverage_in(&map, &fixture.schema());
        assert!(report.foreign_keys.is_empty(), "{:?}", report.foreign_keys);
        assert!(
            report.personal_columns.is_empty(),
            "{:?}",
            report.personal_columns
        );
    }
}
