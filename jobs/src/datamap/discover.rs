//! `lethe datamap discover`: a complete, compact version 2 map for a whole schema.
//!
//! Discovery walks the schema from the subject table exactly as the planner does
//! ([`super::graph::walk`]), proposes an entry for every link that needs one
//! ([`super::propose`]), confirms links without foreign keys and object-key columns by
//! sampling the data ([`super::sample`]), and writes the map: the subject, one line per
//! link into the subject table (and per deeper key that needs a decision), table rules
//! only where kept rows may name the person, a category for every table reached, and the
//! objects. Every decision left to a person is a `TODO…` value, which `check` refuses.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use diesel_async::AsyncPgConnection;

use super::catalog::Catalog;
use super::names::{category_for, is_free_text, looks_like_object_key, personal_kind, words};
use super::propose::{Group, Proposal, SoftCandidate, propose, soft_candidates};
use super::render;
use super::rule::ColumnRule;
use super::sample::{self, Probe, Samples};
use super::spec::{Category, KeyFormat, ObjectSpec, SubjectSpec, TableRule};

/// What discovery wrote, with counts for the command's summary.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// The map (TOML).
    pub text: String,
    /// Undecided (`TODO…`) values in it.
    pub undecided: usize,
    /// `[links]` entries.
    pub links: usize,
    /// Tables the walk reaches (deleted or kept).
    pub reached: usize,
    /// `[[objects]]` entries.
    pub objects: usize,
    /// Tables whose data could not be sampled, with the database's message.
    pub unsampled: BTreeMap<String, String>,
}

/// The subject table, key, email and username: as given, else guessed. The subject table
/// defaults to the table with an email column that most foreign keys point at; the key to
/// its one-column primary key; the email and username columns to the columns named so in
/// any style (`email`, `emailAddress`; `username`, `user_name`, `handle`).
pub fn guess_subject(
    catalog: &Catalog,
    table: Option<&str>,
    key: Option<&str>,
    email: Option<&str>,
    username: Option<&str>,
) -> Result<SubjectSpec, String> {
    let email_of = |t: &str| {
        catalog.columns(t).unwrap_or_default().iter().find(|c| {
            c.is_text()
                && matches!(words(&c.name).as_slice(), [e] | [e, _] if e == "email")
                && !c.name.to_lowercase().contains("verified")
        })
    };
    let table = match table {
        Some(t) if catalog.columns(t).is_none() => {
            return Err(format!("table `{t}` does not exist"));
        }
        Some(t) => t.to_owned(),
        None => catalog
            .table_names()
            .into_iter()
            .filter(|t| email_of(t).is_some())
            .max_by_key(|t| {
                catalog
                    .foreign_keys
                    .iter()
                    .filter(|fk| fk.references == *t)
                    .count()
            })
            .ok_or("no table has an email column; name the subject table")?
            .to_owned(),
    };
    let column = |given: Option<&str>,
                  what: &str,
                  guess: Option<String>|
     -> Result<Option<String>, String> {
        match given {
            Some(c) if catalog.column(&table, c).is_none() => {
                Err(format!("column `{table}.{c}` ({what}) does not exist"))
            }
            Some(c) => Ok(Some(c.to_owned())),
            None => Ok(guess),
        }
    };
    let pk = match catalog.primary_key(&table) {
        Some([k]) => Some(k.clone()),
        _ => None,
    };
    let key = column(key, "key", pk)?
        .ok_or_else(|| format!("`{table}` has no one-column primary key; name the key"))?;
    let email = column(email, "email", email_of(&table).map(|c| c.name.clone()))?
        .ok_or_else(|| format!("`{table}` has no email column; name it"))?;
    let guessed_username = catalog
        .columns(&table)
        .unwrap_or_default()
        .iter()
        .find_map(|c| {
            let w = words(&c.name);
            let named = w == ["username"]
                || w == ["user", "name"]
                || w == ["handle"]
                || w == ["screen", "name"];
            (c.is_text() && named).then(|| c.name.clone())
        });
    let username = column(username, "username", guessed_username)?;
    Ok(SubjectSpec {
        table,
        key,
        email,
        username,
        profile_urls: Vec::new(),
        placeholder: None,
        tombstone: None,
    })
}

/// How much of a candidate's sample matched, and what that means.
fn verdict(counts: Option<&Vec<i64>>) -> (bool, String) {
    match counts.map(Vec::as_slice) {
        Some([0, ..]) => (true, "no values to sample: unconfirmed".into()),
        Some([n, m]) if *m > 0 && m * 3 >= *n => (true, format!("{m} of {n} sampled values match")),
        Some([n, m]) => (false, format!("{m} of {n} sampled values match")),
        _ => (true, "could not be sampled: unconfirmed".into()),
    }
}

/// Discovers a map for `subject` in the schema `catalog` was loaded from.
pub async fn discover(
    conn: &mut AsyncPgConnection,
    catalog: &Catalog,
    schema: &str,
    subject: &SubjectSpec,
) -> Discovery {
    let candidates = soft_candidates(catalog, subject);
    let probes: Vec<Probe> = candidates
        .iter()
        .map(|c| Probe::Keys {
            table: c.table.clone(),
            column: c.column.clone(),
            target_table: c.target_table.clone(),
            target_column: c.target_column.clone(),
        })
        .collect();
    let first = sample::run(conn, catalog, schema, &probes).await;
    let mut confirmed = Vec::new();
    let mut rejected = Vec::new();
    for (c, counts) in candidates.into_iter().zip(&first.counts) {
        match verdict(counts.as_ref()) {
            (true, note) => confirmed.push((c, note)),
            (false, note) => rejected.push((c, note)),
        }
    }
    let proposal = propose(catalog, subject, schema, &confirmed);
    let asks = second_probes(catalog, subject, &proposal);
    let second = sample::run(conn, catalog, schema, &asks).await;
    let mut unsampled = first.failed;
    unsampled.extend(second.failed.clone());
    let mut discovery = write(
        catalog, schema, subject, proposal, &rejected, &asks, &second,
    );
    discovery.unsampled = unsampled;
    discovery
}

/// Free text of kept rows (may it name the person?) and object-key columns of deleted
/// rows (keys or URLs?).
fn second_probes(catalog: &Catalog, subject: &SubjectSpec, proposal: &Proposal) -> Vec<Probe> {
    let mut probes = Vec::new();
    let mut seen = BTreeSet::new();
    for (edge, t) in &proposal.walk.edges {
        if !t.action.keeps_rows() {
            continue;
        }
        for c in catalog.columns(&edge.table).unwrap_or_default() {
            let identity = edge.table == subject.table
                && (c.name == subject.email || Some(&c.name) == subject.username.as_ref());
            if is_free_text(c)
                && !edge.columns.contains(&c.name)
                && !identity
                && seen.insert((edge.table.clone(), c.name.clone(), edge.columns.clone()))
            {
                probes.push(Probe::Identities {
                    table: edge.table.clone(),
                    column: c.name.clone(),
                    json_paths: vec![],
                    rows_with: edge.columns.clone(),
                    own: own_identity(subject, &edge.table),
                });
            }
        }
    }
    for table in &proposal.walk.deleted {
        for c in catalog
            .columns(table)
            .unwrap_or_default()
            .iter()
            .filter(|c| looks_like_object_key(c))
        {
            probes.push(Probe::ObjectKeys {
                table: table.clone(),
                column: c.name.clone(),
            });
        }
    }
    probes
}

/// The subject table's identity columns, when `table` is the subject table: other
/// accounts' rows naming themselves do not name the person.
pub(crate) fn own_identity(subject: &SubjectSpec, table: &str) -> Vec<String> {
    if table != subject.table {
        return vec![];
    }
    std::iter::once(subject.email.clone())
        .chain(subject.username.clone())
        .collect()
}

/// What identity-like values a sample found, e.g. `emails, @usernames`.
pub(crate) fn identities_found(counts: &[i64]) -> Option<String> {
    let kinds: Vec<&str> = ["emails", "IP addresses", "@usernames"]
        .iter()
        .zip(counts.iter().skip(1))
        .filter(|(_, n)| **n > 0)
        .map(|(k, _)| *k)
        .collect();
    (!kinds.is_empty()).then(|| kinds.join(", "))
}

/// Writes the map from the proposal and the second round of samples.
fn write(
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
                let kept = |e: &super::graph::Edge, keeps: bool| {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datamap::propose::tests::platform;
    use crate::datamap::rule::Action;
    use crate::datamap::spec::DataMap;

    #[test]
    fn the_written_map_parses_and_leaves_every_open_decision_as_todo() {
        let (catalog, subject) = platform();
        let proposal = propose(&catalog, &subject, "public", &[]);
        let found = write(
            &catalog,
            "public",
            &subject,
            proposal,
            &[],
            &[],
            &Samples::default(),
        );
        let map = DataMap::parse(&found.text).unwrap_or_else(|e| panic!("{e}\n{}", found.text));
        assert_eq!(map.links["images.user_id"].action, Some(Action::Delete));
        assert_eq!(map.links["users.referred_by"].action, Some(Action::Leave));
        for undecided in [
            "contacts.user_id",
            "payments.user_id",
            "tax_profiles.user_id",
            "reviews.reviewer_id",
            "comment_flags.comment_id",
        ] {
            assert!(
                matches!(map.links[undecided].action, Some(Action::Undecided(_))),
                "{undecided}:\n{}",
                found.text
            );
        }
        assert!(
            map.links["payments.user_id"]
                .basis
                .as_deref()
                .is_some_and(|b| b.starts_with("TODO"))
        );
        assert!(
            map.subject
                .placeholder
                .as_deref()
                .is_some_and(|p| p.starts_with("TODO"))
        );
        assert!(
            found
                .text
                .contains("# tombstone = { email = \"deleted-{hash}@tombstone.invalid\""),
            "{}",
            found.text
        );
        assert!(found.text.contains("\"contacts.user_id\" = \"TODO: delete, detach, reassign or retain\"  # ON DELETE RESTRICT"));
        assert_eq!(map.category_of("payments"), Category::Payments);
        assert_eq!(map.category_of("users"), Category::Account);
        assert!(found.undecided >= 8, "{}", found.undecided);
    }

    #[test]
    fn kept_rows_naming_people_get_a_rule_and_object_columns_an_entry() {
        let (catalog, subject) = platform();
        let proposal = propose(&catalog, &subject, "public", &[]);
        let asks = [
            Probe::Identities {
                table: "tags".into(),
                column: "note".into(),
                json_paths: vec![],
                rows_with: vec!["creator_id".into()],
                own: vec![],
            },
            Probe::Identities {
                table: "comments".into(),
                column: "body".into(),
                json_paths: vec![],
                rows_with: vec!["image_id".into()],
                own: vec![],
            },
            Probe::ObjectKeys {
                table: "images".into(),
                column: "object_key".into(),
            },
            Probe::ObjectKeys {
                table: "images".into(),
                column: "source_url".into(),
            },
        ];
        let samples = Samples {
            counts: vec![
                Some(vec![10, 0, 0, 3]),
                Some(vec![10, 0, 0, 3]),
                Some(vec![50, 0, 0, 50]),
                Some(vec![50, 50, 0, 0]),
            ],
            failed: BTreeMap::new(),
        };
        let found = write(&catalog, "public", &subject, proposal, &[], &asks, &samples);
        let map = DataMap::parse(&found.text).unwrap();
        assert_eq!(
            map.links["tags.creator_id"].anonymize.get("note"),
            Some(&ColumnRule::Redact),
            "{}",
            found.text
        );
        assert!(
            !map.tables.contains_key("comments"),
            "comments under images are deleted, not kept"
        );
        assert_eq!(map.objects.len(), 1);
        assert_eq!(map.objects[0].column.as_deref(), Some("object_key"));
        assert!(map.objects[0].bucket.starts_with("TODO"));
        assert!(found.text.contains("not written): images.source_url"));
    }
}
