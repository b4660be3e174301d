//! The decisions discovery proposes, before anything is written: one draft per edge that
//! needs an entry, each with what is written (undecided values as `TODO…`) and what it
//! most likely becomes (the hypothesis). The hypothetical map, walked like any map, tells
//! which tables the person's deletion would reach once the TODOs are decided as
//! suggested, and so which deeper keys need a decision too.

use std::collections::{BTreeMap, BTreeSet};

use super::catalog::{Catalog, ColumnInfo, OnDelete};
use super::graph::{Edge, Walk, all_edges, walk};
use super::names::{
    could_hold_key, is_money_record, looks_like_person_reference, referenced_table,
};
use super::rule::{Action, Unlink};
use super::spec::{DataMap, LinkKey, LinkSpec, SubjectSpec};

/// A column that looks like a key of another table (the subject's or any other) but has
/// no foreign key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftCandidate {
    /// The table holding the column.
    pub table: String,
    /// The column.
    pub column: String,
    /// The table its name points at.
    pub target_table: String,
    /// That table's key column.
    pub target_column: String,
}

/// Columns outside the subject table that look like keys, by name in any style, with no
/// foreign key on them, of a type that can hold the target's key: person references
/// (`owner_id`, `fromUserId`, `createdById`) point at the subject, other references
/// (`postId`, `image_id`) at the table they name.
pub fn soft_candidates(catalog: &Catalog, subject: &SubjectSpec) -> Vec<SoftCandidate> {
    soft_candidates_in(catalog, subject, &catalog.table_names(), |t| {
        catalog.columns(t)
    })
}

/// [`soft_candidates`] over the tables and columns given (the catalog gives the keys).
fn soft_candidates_in<'a>(
    catalog: &Catalog,
    subject: &SubjectSpec,
    tables: &[&str],
    columns_of: impl Fn(&str) -> Option<&'a [ColumnInfo]>,
) -> Vec<SoftCandidate> {
    let mut out = Vec::new();
    let find = |t: &str, c: &str| columns_of(t).and_then(|cs| cs.iter().find(|x| x.name == c));
    for &table in tables.iter().filter(|t| **t != subject.table) {
        for column in columns_of(table).unwrap_or_default() {
            let has_fk = catalog
                .foreign_keys
                .iter()
                .any(|fk| fk.table == table && fk.columns.contains(&column.name));
            if has_fk {
                continue;
            }
            let target = match referenced_table(&column.name, tables) {
                Some(t) if t == table => continue,
                Some(t) if t == subject.table => Some((t.to_owned(), subject.key.clone())),
                Some(t) => match catalog.primary_key(t) {
                    Some([key]) => Some((t.to_owned(), key.clone())),
                    _ => None,
                },
                None if looks_like_person_reference(&column.name) => {
                    Some((subject.table.clone(), subject.key.clone()))
                }
                None => None,
            };
            let Some((target_table, target_column)) = target else {
                continue;
            };
            let fits = find(&target_table, &target_column)
                .is_some_and(|k| could_hold_key(&column.sql_type, &k.sql_type));
            if fits {
                out.push(SoftCandidate {
                    table: table.to_owned(),
                    column: column.name.clone(),
                    target_table,
                    target_column,
                });
            }
        }
    }
    out
}

/// Which part of `[links]` an entry is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    /// RESTRICT / NO ACTION keys: the database refuses the delete until decided.
    Restrict,
    /// Money records the law may make the platform keep.
    Money,
    /// Other links that need a decision (other accounts, SET NULL the database cannot do).
    Other,
    /// Links without a foreign key, confirmed by sampling.
    Soft,
    /// ON DELETE CASCADE into the subject table.
    Cascade,
    /// ON DELETE SET NULL into the subject table.
    SetNull,
}

/// One proposed `[links]` entry.
#[derive(Debug, Clone)]
pub struct Draft {
    /// What is written (undecided values as `TODO…`).
    pub spec: LinkSpec,
    /// What it most likely becomes.
    pub hypothesis: LinkSpec,
    /// Where it is written.
    pub group: Group,
    /// A short comment written beside it.
    pub note: String,
}

/// Every proposed entry, and the walk of the hypothetical map.
#[derive(Debug, Clone)]
pub struct Proposal {
    /// Entries by link key, only those the hypothetical walk reaches.
    pub drafts: BTreeMap<String, Draft>,
    /// The walk of the map with every TODO decided as suggested.
    pub walk: Walk,
    /// Some suggested entry needs the placeholder account.
    pub needs_placeholder: bool,
    /// Some suggested entry needs tombstones (a unique link column).
    pub needs_tombstone: bool,
    /// Foreign keys that share their columns with another (a link key cannot tell them apart).
    pub ambiguous: Vec<String>,
}

const TODO_BASIS: &str = "TODO: legal basis";
const TODO_PERIOD: &str = "TODO: retention period";

fn todo(text: &str) -> Action {
    Action::Undecided(format!("TODO: {text}"))
}

fn decided(action: Action) -> LinkSpec {
    LinkSpec {
        action: Some(action),
        ..LinkSpec::default()
    }
}

/// Whether the edge's columns are all part of one unique key.
pub fn in_unique_key(catalog: &Catalog, table: &str, columns: &[String]) -> bool {
    catalog.unique_keys.iter().any(|k| {
        k.table == table && !k.columns.is_empty() && columns.iter().all(|c| k.columns.contains(c))
    })
}

/// Whether none of the columns is known to be NOT NULL.
fn nullable(catalog: &Catalog, table: &str, columns: &[String]) -> bool {
    !columns
        .iter()
        .any(|c| catalog.column(table, c).is_some_and(|c| c.not_null))
}

/// Names of CHECK constraints that mention the edge's columns.
pub fn checks_on(catalog: &Catalog, table: &str, columns: &[String]) -> Vec<String> {
    catalog
        .checks
        .iter()
        .filter(|c| c.table == table && c.columns.iter().any(|x| columns.contains(x)))
        .map(|c| c.name.clone())
        .collect()
}

/// How a kept row's link to the subject is best cut: a tombstone for a unique column, the
/// placeholder for a single column, NULL for a nullable composite key.
fn unlink_into_subject(catalog: &Catalog, edge: &Edge) -> Unlink {
    if in_unique_key(catalog, &edge.table, &edge.columns) {
        Unlink::Tombstone
    } else if edge.columns.len() == 1 {
        Unlink::Placeholder
    } else if nullable(catalog, &edge.table, &edge.columns) {
        Unlink::Null
    } else {
        Unlink::Undecided("TODO: a NOT NULL composite key can only be cut by deleting".into())
    }
}

fn retain(catalog: &Catalog, edge: &Edge, subject: &str) -> (LinkSpec, LinkSpec) {
    let unlink = if edge.parent == subject {
        Some(unlink_into_subject(catalog, edge))
    } else if edge.on_delete.is_none() {
        None
    } else if nullable(catalog, &edge.table, &edge.columns) {
        Some(Unlink::Null)
    } else {
        Some(Unlink::Undecided(
            "TODO: the key is NOT NULL; delete these rows or make it nullable".into(),
        ))
    };
    let spec = LinkSpec {
        action: Some(todo("retain (a money record?) or delete")),
        basis: Some(TODO_BASIS.into()),
        period: Some(TODO_PERIOD.into()),
        unlink: unlink.clone(),
        ..LinkSpec::default()
    };
    let hypothesis = LinkSpec {
        action: Some(Action::Retain),
        basis: Some("hypothesis".into()),
        period: Some("hypothesis".into()),
        unlink: Some(match unlink {
            Some(Unlink::Undecided(_)) | None => Unlink::Null,
            Some(u) => u,
        }),
        ..LinkSpec::default()
    };
    (spec, hypothesis)
}

/// The draft for one edge, or `None` when its delete rule needs no entry.
fn draft(catalog: &Catalog, subject: &SubjectSpec, edge: &Edge) -> Option<Draft> {
    let into_subject = edge.parent == subject.table;
    let other_accounts = edge.table == subject.table;
    let money = !other_accounts && is_money_record(catalog, &edge.table);
    let checks = checks_on(catalog, &edge.table, &edge.columns);
    let not_null = !nullable(catalog, &edge.table, &edge.columns);
    let under = if into_subject {
        String::new()
    } else {
        format!(", under {}", edge.parent)
    };
    let rule = match edge.on_delete {
        Some(OnDelete::Restrict) => "ON DELETE RESTRICT/NO ACTION",
        Some(OnDelete::Cascade) => "ON DELETE CASCADE",
        Some(OnDelete::SetNull) => "ON DELETE SET NULL",
        None => "no foreign key",
    };
    let to = (edge.on_delete.is_none() && !into_subject)
        .then(|| format!("{}.{}", edge.parent, edge.parent_columns.join(",")));
    let make = |spec: LinkSpec, hypothesis: LinkSpec, group: Group, note: String| {
        let soft = |l: LinkSpec| LinkSpec {
            soft: edge.on_delete.is_none(),
            to: to.clone(),
            ..l
        };
        Some(Draft {
            spec: soft(spec),
            hypothesis: soft(hypothesis),
            group,
            note,
        })
    };
    let detach_other_accounts = || {
        let hypothesis = if nullable(catalog, &edge.table, &edge.columns) {
            decided(Action::Detach)
        } else if into_subject {
            decided(Action::Reassign)
        } else {
            decided(Action::Delete)
        };
        (
            decided(todo("detach or reassign: these are other accounts")),
            hypothesis,
        )
    };
    match edge.on_delete {
        Some(OnDelete::SetNull) if !checks.is_empty() || not_null => {
            let why = if not_null {
                "the column is NOT NULL".to_owned()
            } else {
                format!("CHECK {} forbids NULL in some rows", checks.join(", "))
            };
            let (action, hypothesis) = if into_subject {
                let unlink = unlink_into_subject(catalog, edge);
                (
                    todo("reassign or delete (SET NULL would fail)"),
                    LinkSpec {
                        unlink: Some(unlink),
                        ..decided(Action::Reassign)
                    },
                )
            } else {
                (
                    todo("delete, or keep with another rule (SET NULL would fail)"),
                    decided(Action::Delete),
                )
            };
            make(
                decided(action),
                hypothesis,
                Group::Other,
                format!("{rule}{under}, but {why}"),
            )
        }
        Some(OnDelete::SetNull) if into_subject => make(
            decided(Action::Leave),
            decided(Action::Leave),
            Group::SetNull,
            format!("{rule}: the database detaches"),
        ),
        Some(OnDelete::SetNull) => None,
        _ if other_accounts => {
            let (spec, hypothesis) = detach_other_accounts();
            make(spec, hypothesis, Group::Other, format!("{rule}{under}"))
        }
        _ if money => {
            let (spec, hypothesis) = retain(catalog, edge, &subject.table);
            let group = if edge.on_delete.is_none() {
                Group::Soft
            } else {
                Group::Money
            };
            make(
                spec,
                hypothesis,
                group,
                format!("{rule}{under}; money records are often kept by law"),
            )
        }
        Some(OnDelete::Cascade) if into_subject => make(
            decided(Action::Delete),
            decided(Action::Delete),
            Group::Cascade,
            rule.to_owned(),
        ),
        Some(OnDelete::Cascade) => None,
        Some(OnDelete::Restrict) => {
            let choices = if into_subject {
                "delete, detach, reassign or retain"
            } else {
                "delete, detach or retain"
            };
            let mut note = format!("{rule}{under}");
            if in_unique_key(catalog, &edge.table, &edge.columns) {
                note.push_str("; unique: reassign needs unlink = \"tombstone\"");
            } else if not_null {
                note.push_str("; NOT NULL: detach impossible");
            }
            if !checks.is_empty() {
                note.push_str(&format!("; CHECK {} may refuse NULL", checks.join(", ")));
            }
            make(
                decided(todo(choices)),
                decided(Action::Delete),
                Group::Restrict,
                note,
            )
        }
        None => {
            let choices = if into_subject {
                "delete, retain, detach or reassign"
            } else {
                "delete or leave"
            };
            make(
                decided(todo(choices)),
                decided(Action::Delete),
                Group::Soft,
                String::new(),
            )
        }
    }
}

/// Proposes an entry for every edge that needs one, given the confirmed soft links (with
/// a note on each, e.g. how much of the sample matched).
pub fn propose(
    catalog: &Catalog,
    subject: &SubjectSpec,
    schema: &str,
    soft: &[(SoftCandidate, String)],
) -> Proposal {
    let mut base = DataMap {
        version: 2,
        schema: schema.to_owned(),
        subject: subject.clone(),
        links: BTreeMap::new(),
        tables: BTreeMap::new(),
        categories: BTreeMap::new(),
        objects: Vec::new(),
        marketing: BTreeMap::new(),
        sale_sharing: None,
        freeze: None,
        resources: Vec::new(),
    };
    let mut edges = all_edges(&base, catalog, &mut Vec::new());
    for (c, _) in soft {
        edges.push(Edge {
            label: LinkKey::render(&c.table, std::slice::from_ref(&c.column)),
            table: c.table.clone(),
            columns: vec![c.column.clone()],
            parent: c.target_table.clone(),
            parent_columns: vec![c.target_column.clone()],
            on_delete: None,
            constraint: None,
        });
    }
    let mut drafts: BTreeMap<String, Draft> = BTreeMap::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for edge in &edges {
        *seen.entry(edge.label.clone()).or_default() += 1;
        if let Some(mut d) = draft(catalog, subject, edge) {
            if let Some((_, note)) = soft
                .iter()
                .find(|(c, _)| c.table == edge.table && c.column == edge.columns[0])
            {
                d.note = if d.note.is_empty() {
                    note.clone()
                } else {
                    format!("{}; {note}", d.note)
                };
            }
            drafts.entry(edge.label.clone()).or_insert(d);
        }
    }
    let ambiguous: Vec<String> = seen
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(k, _)| k)
        .collect();
    // The hypothetical map: every suggestion taken, placeholder and tombstone present.
    base.subject.placeholder = Some("hypothesis".into());
    base.subject.tombstone = Some(BTreeMap::from([(subject.email.clone(), "{hash}".into())]));
    base.links = drafts
        .iter()
        .map(|(k, d)| (k.clone(), d.hypothesis.clone()))
        .collect();
    let walked = walk(&base, catalog);
    let reached: BTreeSet<&str> = walked.edges.iter().map(|(e, _)| e.label.as_str()).collect();
    drafts.retain(|k, _| reached.contains(k.as_str()));
    let uses = |u: &Unlink| {
        drafts.values().any(|d| {
            d.spec.unlink.as_ref() == Some(u)
                || d.hypothesis.unlink.as_ref() == Some(u)
                || (*u == Unlink::Placeholder
                    && d.hypothesis.action == Some(Action::Reassign)
                    && d.hypothesis.unlink.is_none())
        })
    };
    Proposal {
        needs_placeholder: uses(&Unlink::Placeholder),
        needs_tombstone: uses(&Unlink::Tombstone),
        drafts,
        walk: walked,
        ambiguous,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::datamap::catalog::{CheckConstraint, UniqueKey};

    use crate::datamap::catalog::test_fk as fk;

    /// Users with images (comments below them, flagged by RESTRICT), payments and tax
    /// profiles (money), contacts (RESTRICT), reviews (SET NULL under a CHECK), other
    /// accounts whose avatar is an image (CASCADE from the subject table), and referrals.
    pub(crate) fn platform() -> (Catalog, SubjectSpec) {
        let mut c = Catalog::default();
        c.foreign_keys = vec![
            fk("images", "user_id", "users", OnDelete::Cascade),
            fk("comments", "image_id", "images", OnDelete::Cascade),
            fk(
                "comment_flags",
                "comment_id",
                "comments",
                OnDelete::Restrict,
            ),
            fk("payments", "user_id", "users", OnDelete::Restrict),
            fk("tax_profiles", "user_id", "users", OnDelete::Cascade),
            fk("contacts", "user_id", "users", OnDelete::Restrict),
            fk("reviews", "reviewer_id", "users", OnDelete::SetNull),
            fk("users", "avatar_image_id", "images", OnDelete::Cascade),
            fk("users", "referred_by", "users", OnDelete::SetNull),
            fk("tags", "creator_id", "users", OnDelete::SetNull),
        ];
        c.unique_keys = vec![UniqueKey {
            name: "tax_profiles_user_id_key".into(),
            table: "tax_profiles".into(),
            columns: vec!["user_id".into()],
            primary: false,
            nulls_not_distinct: false,
        }];
        c.checks = vec![CheckConstraint {
            name: "reviews_reviewed".into(),
            table: "reviews".into(),
            columns: vec!["status".into(), "reviewer_id".into()],
            expression: "status <> 'reviewed' OR reviewer_id IS NOT NULL".into(),
        }];
        let subject = SubjectSpec {
            table: "users".into(),
            key: "id".into(),
            email: "email".into(),
            username: Some("username".into()),
            profile_urls: Vec::new(),
            placeholder: None,
            tombstone: None,
        };
        (c, subject)
    }

    #[test]
    fn every_link_into_the_subject_and_every_deeper_blocking_key_gets_an_entry() {
        let (catalog, subject) = platform();
        let p = propose(&catalog, &subject, "public", &[]);
        let group = |k: &str| p.drafts.get(k).map(|d| d.group);
        assert_eq!(group("images.user_id"), Some(Group::Cascade));
        assert_eq!(group("users.referred_by"), Some(Group::SetNull));
        assert_eq!(group("tags.creator_id"), Some(Group::SetNull));
        assert_eq!(group("contacts.user_id"), Some(Group::Restrict));
        assert_eq!(group("payments.user_id"), Some(Group::Money));
        assert_eq!(
            group("tax_profiles.user_id"),
            Some(Group::Money),
            "money records are kept even when they cascade"
        );
        assert_eq!(
            p.drafts["tax_profiles.user_id"].spec.unlink,
            Some(Unlink::Tombstone),
            "a unique link column"
        );
        assert_eq!(
            group("reviews.reviewer_id"),
            Some(Group::Other),
            "SET NULL would break the CHECK"
        );
        assert_eq!(
            group("users.avatar_image_id"),
            Some(Group::Other),
            "other accounts"
        );
        assert_eq!(
            group("comment_flags.comment_id"),
            Some(Group::Restrict),
            "a deeper RESTRICT key"
        );
        assert_eq!(
            group("comments.image_id"),
            None,
            "a deeper CASCADE key follows its delete rule"
        );
        assert!(matches!(
            p.drafts["contacts.user_id"].spec.action,
            Some(Action::Undecided(_))
        ));
        assert!(p.needs_placeholder && p.needs_tombstone);
        assert!(
            p.walk.deleted.contains(&"contacts".to_owned()),
            "the hypothesis deletes RESTRICT rows"
        );
        assert!(
            !p.walk.deleted.contains(&"payments".to_owned()),
            "the hypothesis keeps money"
        );
    }
}
