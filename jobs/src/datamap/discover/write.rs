//! The map text discovery writes: the subject, the `[links]` grouped by the decision they
//! need, table rules for kept rows that may name the person, categories and objects, with
//! every open decision a `TODO…` value.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::datamap::catalog::Catalog;
use crate::datamap::names::{category_for, personal_kind, words};
use crate::datamap::propose::{Group, Proposal, SoftCandidate};
use crate::datamap::render;
use crate::datamap::rule::ColumnRule;
use crate::datamap::sample::{Probe, Samples};
use crate::datamap::spec::{Category, KeyFormat, ObjectSpec, SubjectSpec, TableRule};

use super::{Discovery, identities_found};

/// Writes the map from the proposal and the second round of samples.
pub(super) fn write(
    catalog: &Catalog,
    schema: &str,
    subject: &SubjectSpec,
    mut proposal: Proposal,
    rejected: &[(SoftCandidate, String)],
    asks: &[Probe],
    samples: &Samples,
) -> Discovery {
    let mut tables: BTreeMap<String, (TableRule, Vec<String>)> = BTreeMap::new();
    let mut objects: Vec<(ObjectSpec, String)> = Vec::new();
    let mut not_objects: Vec<String> = Vec::new();
    for (probe, counts) in asks.iter().zip(&samples.counts) {
        match probe {
            Probe::Identities { table, column, .. } => {
                let Some(found) = counts.as_deref().and_then(identities_found) else {
                    continue;
                };
                let rule = match (personal_kind(table, column), catalog.column(table, column)) {
                    (Some(_), Some(c)) if !c.not_null => ColumnRule::Null,
                    _ => ColumnRule::Redact,
                };
                let why = format!("{column}: sample found {found}");
                let Probe::Identities { rows_with, .. } = probe else {
                    continue;
                };
                // On the kept edge sampled: its own entry if it has one, else the table rule.
                let kept = |e: &crate::datamap::graph::Edge, keeps: bool| {
                    e.table == *table && e.columns == *rows_with && keeps
                };
                for (edge, _) in proposal
                    .walk
                    .edges
                    .iter()
                    .filter(|(e, t)| kept(e, t.action.keeps_rows()))
                {
                    match proposal.drafts.get_mut(&edge.label) {
                        Some(d) => {
                            d.spec.anonymize.insert(column.clone(), rule.clone());
                            d.note = if d.note.is_empty() {
                                why.clone()
                            } else {
                                format!("{}; {why}", d.note)
                            };
                        }
                        None => {
                            let entry = tables.entry(table.clone()).or_default();
                            entry.0.anonymize.insert(column.clone(), rule.clone());
                            if !entry.1.contains(&why) {
                                entry.1.push(why.clone());
                            }
                        }
                    }
                }
            }
            Probe::ObjectKeys { table, column } => {
                let url_name = words(column)
                    .last()
                    .is_some_and(|w| w == "url" || w == "uri");
                let (format, note) = match counts.as_deref() {
                    Some([0, ..]) | None => (
                        Some(if url_name {
                            KeyFormat::Url
                        } else {
                            KeyFormat::Key
                        }),
                        "no values sampled".to_owned(),
                    ),
                    Some([n, urls, files, keys]) if urls * 2 >= *n && files * 2 >= *urls => (
                        Some(KeyFormat::Url),
                        format!("{files} of {n} sampled values are file URLs"),
                    ),
                    Some([n, _, _, keys]) if keys * 2 >= *n => (
                        Some(KeyFormat::Key),
                        format!("{keys} of {n} sampled values look like keys"),
                    ),
                    Some(_) => (None, String::new()),
                };
                match format {
                    Some(format) => objects.push((
                        ObjectSpec {
                            bucket: "TODO: bucket name".into(),
                            table: table.clone(),
                            column: Some(column.clone()),
                            format,
                            template: None,
                            hosts: Vec::new(),
                            export: true,
                            category: None,
                        },
                        note,
                    )),
                    None => not_objects.push(format!("{table}.{column}")),
                }
            }
            Probe::Keys { .. } => {}
        }
    }

    objects.sort_by(|(a, _), (b, _)| (&a.table, &a.column).cmp(&(&b.table, &b.column)));
    let mut reached: BTreeSet<&str> = proposal.walk.deleted.iter().map(String::as_str).collect();
    reached.extend(proposal.walk.edges.iter().map(|(e, _)| e.table.as_str()));
    let mut categories: BTreeMap<Category, Vec<String>> = BTreeMap::new();
    for table in &reached {
        let c = if *table == subject.table {
            Category::Account
        } else {
            category_for(catalog, table)
        };
        categories.entry(c).or_default().push((*table).to_owned());
    }

    let mut out = String::new();
    let deleted = proposal.walk.deleted.len();
    render::comment(
        &mut out,
        &format!(
            "Data map written by `lethe datamap discover` for schema `{schema}` ({} tables, {} foreign keys).\n\
             With every TODO decided as suggested, the walk from `{}` reaches {} tables and deletes rows in {deleted}.\n\
             Foreign keys not listed follow their delete rule (CASCADE: delete, SET NULL: leave).\n\
             Every value starting with TODO is a decision for a person: `lethe datamap check` refuses\n\
             the map until each is decided. Objects named by key templates (e.g. \"avatars/{{id}}/\")\n\
             cannot be discovered: add them to [[objects]].",
            catalog.table_names().len(),
            catalog.foreign_keys.len(),
            subject.table,
            reached.len(),
        ),
    );
    let _ = writeln!(out, "\nversion = 2\nschema = {}\n", render::quoted(schema));
    let mut s = subject.clone();
    if proposal.needs_placeholder {
        s.placeholder = Some(format!(
            "TODO: key of a \"deleted user\" row in {}",
            subject.table
        ));
    }
    let tombstone_hint = proposal
        .needs_tombstone
        .then(|| tombstone_hint(catalog, subject));
    render::subject(
        &mut out,
        &s,
        Some(
            "Kept rows that must keep pointing at an account point at this one (unlink = \"placeholder\").",
        ),
        tombstone_hint.as_deref(),
    );

    let _ = writeln!(out, "\n[links]");
    let headings = [
        (
            Group::Restrict,
            "Decide: keys that block deleting (RESTRICT / NO ACTION): delete, detach, reassign or retain.",
        ),
        (
            Group::Money,
            "Decide: money records the law may keep (retain with basis, period, unlink) or delete.",
        ),
        (
            Group::Other,
            "Decide: rows the database cannot treat by itself.",
        ),
        (
            Group::Soft,
            "Decide: links without a foreign key (columns whose sampled values are keys).",
        ),
        (
            Group::Cascade,
            "Deleted with the person (ON DELETE CASCADE).",
        ),
        (
            Group::SetNull,
            "Other people's rows, detached by the database (ON DELETE SET NULL).",
        ),
    ];
    for (group, heading) in headings {
        let mut drafts: Vec<_> = proposal
            .drafts
            .iter()
            .filter(|(_, d)| d.group == group)
            .collect();
        if drafts.is_empty() {
            continue;
        }
        drafts.sort_by_key(|(k, _)| k.to_lowercase());
        let _ = writeln!(out);
        render::comment(&mut out, heading);
        for (key, d) in drafts {
            render::link_line(&mut out, key, &d.spec, &d.note);
        }
    }
    if !rejected.is_empty() {
        let _ = writeln!(out);
        render::comment(
            &mut out,
            "Named like links, but their sampled values are mostly not keys (not written):",
        );
        for (c, note) in rejected {
            render::comment(
                &mut out,
                &format!(
                    "  {}.{} -> {}.{}: {note}",
                    c.table, c.column, c.target_table, c.target_column
                ),
            );
        }
    }
    if !proposal.ambiguous.is_empty() {
        render::comment(
            &mut out,
            &format!(
                "Several foreign keys share these columns: {}",
                proposal.ambiguous.join(", ")
            ),
        );
    }

    for (table, (rule, why)) in &tables {
        let _ = writeln!(out);
        render::comment(
            &mut out,
            &format!("Kept rows may name the person ({}).", why.join("; ")),
        );
        render::table_rule(&mut out, table, rule);
    }
    let _ = writeln!(out);
    render::categories(&mut out, &categories);
    for (object, note) in &objects {
        let _ = writeln!(out);
        if !note.is_empty() {
            render::comment(&mut out, note);
        }
        render::object(&mut out, object);
    }
    if !not_objects.is_empty() {
        let _ = writeln!(out);
        render::comment(
            &mut out,
            &format!(
                "Named like object keys, but their values are not (not written): {}",
                not_objects.join(", ")
            ),
        );
    }
    let remaining: Vec<String> = proposal
        .walk
        .problems
        .iter()
        .map(ToString::to_string)
        .collect();
    if !remaining.is_empty() {
        let _ = writeln!(out);
        render::comment(
            &mut out,
            "Even with every TODO decided as suggested, check would report:",
        );
        for p in remaining {
            render::comment(&mut out, &format!("  {p}"));
        }
    }
    let undecided = out
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| l.split(" # ").next().unwrap_or(l).matches("\"TODO").count())
        .sum();
    Discovery {
        undecided,
        links: proposal.drafts.len(),
        reached: reached.len(),
        objects: objects.len(),
        unsampled: BTreeMap::new(),
        text: out,
    }
}

/// A commented-out tombstone for the subject table: every NOT NULL column without a
/// default gets a value, the email one with `{hash}`.
fn tombstone_hint(catalog: &Catalog, subject: &SubjectSpec) -> String {
    let mut fields: Vec<String> = vec![format!(
        "{} = \"deleted-{{hash}}@tombstone.invalid\"",
        render::key(&subject.email)
    )];
    if let Some(u) = &subject.username {
        fields.push(format!("{} = \"deleted-{{hash}}\"", render::key(u)));
    }
    for c in catalog.columns(&subject.table).unwrap_or_default() {
        let named = c.name == subject.email
            || Some(&c.name) == subject.username.as_ref()
            || c.name == subject.key;
        if c.not_null && !c.has_default && !named {
            fields.push(format!("{} = \"TODO\"", render::key(&c.name)));
        }
    }
    format!(
        "A link column in a unique key cannot point many people at one placeholder: such rows get a\n\
         per-person tombstone account (unlink = \"tombstone\"). Uncomment and complete:\n\
         tombstone = {{ {} }}",
        fields.join(", ")
    )
}
