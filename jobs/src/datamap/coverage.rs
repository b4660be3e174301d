//! `lethe datamap check`: whether a map is safe to run on the live platform.
//!
//! **Problems** (the map is refused): everything [`BoundMap::bind`] and
//! [`BoundMap::live_problems`] report; object entries whose bucket is undecided; keys the
//! database would set to NULL itself (`ON DELETE SET NULL`) where it cannot (NOT NULL, or
//! a CHECK constraint today's rows would fail); and free text (`text`, `varchar`, `json`,
//! `jsonb`, `text[]`) of rows the walk keeps in which a sample finds emails, IP addresses
//! or @usernames and no `redact`, `null`, `hash` or `value` rule covers the column.
//!
//! **Warnings** (printed, not refused): triggers on tables the walk touches, link rules
//! that never apply, personal-looking columns in tables with no link to the subject, and
//! columns named like links whose sampled values are keys of a table the walk deletes but
//! that the map does not declare.

use std::collections::{BTreeMap, BTreeSet};

use diesel_async::AsyncPgConnection;

use super::bind::BoundMap;
use super::catalog::{Catalog, OnDelete};
use super::discover::{identities_found, own_identity};
use super::graph::{Problem, Walk, all_edges, walk};
use super::names::{is_free_text, personal_kind};
use super::propose::soft_candidates;
use super::rule::{Action, ColumnRule, is_todo};
use super::sample::{self, Probe};
use super::spec::{DataMap, KeyFormat, LinkKey};

/// What `check` found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// What makes the map unsafe or undecided.
    pub problems: Vec<Problem>,
    /// What deserves a look but does not make the map unsafe.
    pub warnings: Vec<Problem>,
    /// Counts for the success line.
    pub summary: Summary,
    /// Tables whose data could not be sampled, with the database's message.
    pub unsampled: BTreeMap<String, String>,
}

impl Report {
    /// Whether the map is safe to run.
    pub fn is_safe(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Counts for the summary of a safe map.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Tables the walk reaches (deleted or kept).
    pub reached: usize,
    /// Tables some of whose rows are deleted (the subject table included).
    pub deleted: usize,
    /// Tables some of whose rows are kept by a rule (other than deleted).
    pub kept: usize,
    /// `[links]` entries with a decided action.
    pub links: usize,
    /// `[[objects]]` entries.
    pub objects: usize,
}

fn problem(entry: impl Into<String>, text: impl Into<String>) -> Problem {
    Problem {
        entry: entry.into(),
        problem: text.into(),
    }
}

/// Object entries whose bucket is undecided (`TODO…`) or empty.
pub fn object_problems(map: &DataMap) -> Vec<Problem> {
    map.objects
        .iter()
        .enumerate()
        .filter(|(_, o)| o.bucket.trim().is_empty() || is_todo(&o.bucket))
        .map(|(i, o)| {
            problem(
                format!("objects[{i}] ({})", o.label()),
                "the bucket is undecided; name the bucket",
            )
        })
        .collect()
}

/// The problems, warnings and sampling questions that need no database: everything but
/// the live checks.
pub(crate) fn static_report(
    map: &DataMap,
    catalog: &Catalog,
    walked: &Walk,
    bound: &Result<BoundMap, Vec<Problem>>,
) -> (Report, Vec<Probe>, Vec<Ask>) {
    let mut report = Report::default();
    let unused = match bound {
        Ok(b) => b.warnings().unused_links,
        Err(problems) => {
            report.problems.extend(problems.iter().cloned());
            walked.unused_links.clone()
        }
    };
    report.warnings.extend(unused.iter().map(|l| {
        problem(
            format!("links.\"{l}\""),
            "this rule never applies: the walk does not reach this link",
        )
    }));
    report.problems.extend(object_problems(map));
    for (i, o) in map.objects.iter().enumerate() {
        if o.format == KeyFormat::Url && o.hosts.is_empty() {
            report.warnings.push(problem(
                format!("objects[{i}] ({})", o.label()),
                "URLs of any host name objects of this bucket; if people can set these URLs, list the real `hosts` so that a purge cannot be pointed at someone else's object",
            ));
        }
    }
    report.warnings.extend(trigger_warnings(catalog, walked));
    report
        .warnings
        .extend(unlinked_personal_columns(map, catalog));
    let (probes, asks) = questions(map, catalog, walked);
    report.summary = summary(map, walked);
    (report, probes, asks)
}

/// Why a sampling question was asked.
#[derive(Debug, Clone)]
pub(crate) enum Ask {
    /// A column named like a link the map does not declare.
    Soft {
        /// `table.column`.
        link: String,
        /// `table.column` it points at.
        target: String,
    },
    /// Free text of kept rows reached through these map entries.
    Text {
        /// The map entries (rules) treating the rows.
        entries: Vec<String>,
        /// `table.column`.
        column: String,
    },
}

fn summary(map: &DataMap, walked: &Walk) -> Summary {
    let mut reached: BTreeSet<&str> = walked.deleted.iter().map(String::as_str).collect();
    reached.extend(walked.edges.iter().map(|(e, _)| e.table.as_str()));
    let kept: BTreeSet<&str> = walked
        .edges
        .iter()
        .filter(|(_, t)| t.action.keeps_rows())
        .map(|(e, _)| e.table.as_str())
        .collect();
    Summary {
        reached: reached.len(),
        deleted: walked.deleted.len(),
        kept: kept.len(),
        links: map
            .links
            .values()
            .filter(|l| !matches!(l.action, Some(Action::Undecided(_)) | None))
            .count(),
        objects: map.objects.len(),
    }
}

/// Triggers on tables whose rows the purge deletes or rewrites, or the database detaches.
fn trigger_warnings(catalog: &Catalog, walked: &Walk) -> Vec<Problem> {
    let mut touched: BTreeSet<&str> = walked.deleted.iter().map(String::as_str).collect();
    touched.extend(
        walked
            .edges
            .iter()
            .filter(|(e, t)| {
                t.rewrites()
                    || (t.action == Action::Leave && e.on_delete == Some(OnDelete::SetNull))
            })
            .map(|(e, _)| e.table.as_str()),
    );
    let fired: Vec<String> = catalog
        .triggers
        .iter()
        .filter(|t| touched.contains(t.table.as_str()))
        .map(|t| format!("{} ({})", t.table, t.name))
        .collect();
    if fired.is_empty() {
        return vec![];
    }
    vec![problem(
        "triggers",
        format!(
            "{} fire when the purge deletes or rewrites rows (make sure none fails or copies personal data): {}",
            if fired.len() == 1 {
                "1 trigger".to_owned()
            } else {
                format!("{} triggers", fired.len())
            },
            fired.join(", ")
        ),
    )]
}

/// Personal-looking columns in tables no chain of links joins to the subject table.
fn unlinked_personal_columns(map: &DataMap, catalog: &Catalog) -> Vec<Problem> {
    let edges = all_edges(map, catalog, &mut Vec::new());
    let mut linked: BTreeSet<&str> = BTreeSet::from([map.subject.table.as_str()]);
    loop {
        let before = linked.len();
        for e in &edges {
            if linked.contains(e.parent.as_str()) {
                linked.insert(e.table.as_str());
            }
        }
        if linked.len() == before {
            break;
        }
    }
    let mut out = Vec::new();
    for table in catalog
        .table_names()
        .into_iter()
        .filter(|t| !linked.contains(t))
    {
        let found: Vec<String> = catalog
            .columns(table)
            .unwrap_or_default()
            .iter()
            .filter(|c| c.sql_type != "boolean")
            .filter_map(|c| {
                personal_kind(table, &c.name).map(|k| format!("{} ({})", c.name, k.as_str()))
            })
            .collect();
        if !found.is_empty() {
            out.push(problem(
                format!("tables.{table}"),
                format!("looks like personal data ({}) but no link joins the table to the subject; declare a soft link if its rows are someone's", found.join(", ")),
            ));
        }
    }
    out
}

/// The sampling questions: undeclared soft-link candidates into deleted tables, and free
/// text of kept rows not fully covered by a rule.
fn questions(map: &DataMap, catalog: &Catalog, walked: &Walk) -> (Vec<Probe>, Vec<Ask>) {
    let mut probes = Vec::new();
    let mut asks = Vec::new();
    let declared: BTreeSet<(String, Vec<String>)> = map
        .links
        .keys()
        .filter_map(|k| LinkKey::parse(k))
        .map(|l| (l.table, l.columns))
        .collect();
    for c in soft_candidates(catalog, &map.subject) {
        if declared.contains(&(c.table.clone(), vec![c.column.clone()]))
            || !walked.deleted.contains(&c.target_table)
        {
            continue;
        }
        asks.push(Ask::Soft {
            link: format!("{}.{}", c.table, c.column),
            target: format!("{}.{}", c.target_table, c.target_column),
        });
        probes.push(Probe::Keys {
            table: c.table,
            column: c.column,
            target_table: c.target_table,
            target_column: c.target_column,
        });
    }
    let s = &map.subject;
    // (table, column, json paths removed, link columns) → the entries treating those rows.
    type TextKey = (String, String, Vec<String>, Vec<String>);
    let mut text: BTreeMap<TextKey, Vec<String>> = BTreeMap::new();
    for (edge, t) in walked.edges.iter().filter(|(_, t)| t.action.keeps_rows()) {
        let entry = if map.links.keys().any(|k| {
            LinkKey::parse(k).is_some_and(|l| l.table == edge.table && l.columns == edge.columns)
                && map.links[k].action.is_some()
        }) {
            format!("links.\"{}\"", edge.label)
        } else if map.tables.contains_key(&edge.table) {
            format!("tables.{}", edge.table)
        } else {
            format!("links.\"{}\"", edge.label)
        };
        for c in catalog.columns(&edge.table).unwrap_or_default() {
            let identity = edge.table == s.table
                && (c.name == s.email || Some(&c.name) == s.username.as_ref());
            if !is_free_text(c) || edge.columns.contains(&c.name) || identity {
                continue;
            }
            let paths = match t.anonymize.get(&c.name) {
                Some(
                    ColumnRule::Null | ColumnRule::Hash | ColumnRule::Redact | ColumnRule::Value(_),
                ) => continue,
                Some(ColumnRule::JsonPaths(p)) => p.clone(),
                None => vec![],
            };
            let entries = text
                .entry((
                    edge.table.clone(),
                    c.name.clone(),
                    paths,
                    edge.columns.clone(),
                ))
                .or_default();
            if !entries.contains(&entry) {
                entries.push(entry.clone());
            }
        }
    }
    for ((table, column, json_paths, rows_with), entries) in text {
        asks.push(Ask::Text {
            entries,
            column: format!("{table}.{column}"),
        });
        let own = own_identity(&map.subject, &table);
        probes.push(Probe::Identities {
            table,
            column,
            json_paths,
            rows_with,
            own,
        });
    }
    (probes, asks)
}

/// Turns the sampling answers into problems and warnings.
pub(crate) fn judge(report: &mut Report, asks: &[Ask], counts: &[Option<Vec<i64>>]) {
    for (ask, counts) in asks.iter().zip(counts) {
        let Some(counts) = counts else { continue };
        match ask {
            Ask::Soft { link, target } => {
                if let [n, m] = counts.as_slice()
                    && *m > 0
                    && m * 3 >= *n
                {
                    report.warnings.push(problem(
                        format!("links.\"{link}\""),
                        format!("{m} of {n} sampled values are keys of {target}, but the map declares no link; if they are, add {{ soft = true, … }}"),
                    ));
                }
            }
            Ask::Text { entries, column } => {
                let name = column.rsplit_once('.').map_or(column.as_str(), |(_, c)| c);
                // Emails and @usernames may be the person's: `redact` removes exactly the
                // subject's and leaves everything else, so it is always a safe remedy and
                // an uncovered column is a problem. IP addresses in rows that stay are
                // most likely their own people's; removing them would destroy other
                // people's data, so they are a warning for a person to judge.
                let (emails, ips, handles) = match counts.as_slice() {
                    [_, e, i, h, ..] => (*e, *i, *h),
                    _ => (0, 0, 0),
                };
                if emails > 0 || handles > 0 {
                    let found = identities_found(&[0, emails, 0, handles]).unwrap_or_default();
                    report.problems.push(problem(
                        entries.join(", "),
                        format!("kept rows' `{column}` may name the person (sample found {found}) and no rule rewrites it; add anonymize = {{ {name} = \"redact\" }}"),
                    ));
                } else if ips > 0 {
                    report.warnings.push(problem(
                        entries.join(", "),
                        format!("kept rows' `{column}` hold IP addresses (sampled); if some can be the person's, add a json_paths, \"null\" or \"hash\" rule"),
                    ));
                }
            }
        }
    }
}

/// Checks `map` against the live platform database: loads the catalog, binds, samples,
/// and evaluates what only live rows can show.
pub async fn check(conn: &mut AsyncPgConnection, map: &DataMap) -> anyhow::Result<Report> {
    let catalog = Catalog::load(conn, &map.schema).await?;
    let bound = BoundMap::bind(map.clone(), &catalog);
    let walked = match &bound {
        Ok(b) => b.walk.clone(),
        Err(_) => walk(map, &catalog),
    };
    let (mut report, probes, asks) = static_report(map, &catalog, &walked, &bound);
    let samples = sample::run(conn, &catalog, &map.schema, &probes).await;
    judge(&mut report, &asks, &samples.counts);
    report.unsampled = samples.failed;
    // What only today's rows can show (a missing placeholder, a CHECK constraint that a
    // NULL would break) is judged once the map binds.
    if let Ok(b) = &bound {
        report.problems.extend(b.live_problems(conn).await?);
    }
    report.problems.sort();
    report.problems.dedup();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datamap::catalog::Trigger;

    const MAP: &str = r#"
        version = 2
        [subject]
        table = "users"
        email = "email"
        [links]
        "images.user_id" = "delete"
        "reviews.reviewer_id" = "detach"
        [[objects]]
        bucket = "TODO: bucket name"
        table = "images"
        column = "object_key"
        [[objects]]
        bucket = "avatars"
        table = "users"
        template = "avatars/{id}/"
    "#;

    use crate::datamap::catalog::test_fk as fk;

    fn catalog() -> Catalog {
        let mut c = Catalog::default();
        c.foreign_keys = vec![
            fk("images", "user_id", "users", OnDelete::Cascade),
            fk("reviews", "reviewer_id", "users", OnDelete::SetNull),
            fk("comments", "image_id", "images", OnDelete::Cascade),
        ];
        c.triggers = vec![
            Trigger {
                name: "count_comments".into(),
                table: "comments".into(),
                definition: String::new(),
            },
            Trigger {
                name: "audit_tags".into(),
                table: "tags".into(),
                definition: String::new(),
            },
        ];
        c
    }

    #[test]
    fn undecided_buckets_are_problems() {
        let map = DataMap::parse(MAP).unwrap();
        let problems = object_problems(&map);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].entry.starts_with("objects[0]"), "{problems:?}");
    }

    #[test]
    fn triggers_on_touched_tables_are_warnings() {
        let map = DataMap::parse(MAP).unwrap();
        let catalog = catalog();
        let walked = walk(&map, &catalog);
        let warnings = trigger_warnings(&catalog, &walked);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].problem.contains("comments (count_comments)"),
            "{warnings:?}"
        );
        assert!(!warnings[0].problem.contains("audit_tags"), "{warnings:?}");
        let s = summary(&map, &walked);
        assert_eq!(
            (s.deleted, s.kept, s.links, s.objects),
            (3, 1, 2, 2),
            "{s:?}"
        );
    }

    #[test]
    fn sampled_identities_in_kept_text_are_problems_and_undeclared_links_warnings() {
        let mut report = Report::default();
        let asks = [
            Ask::Text {
                entries: vec!["links.\"reviews.reviewer_id\"".into()],
                column: "reviews.body".into(),
            },
            Ask::Text {
                entries: vec!["tables.notes".into()],
                column: "notes.text".into(),
            },
            Ask::Soft {
                link: "tips.from_user_id".into(),
                target: "users.id".into(),
            },
            Ask::Soft {
                link: "ledger.owner_id".into(),
                target: "users.id".into(),
            },
        ];
        let counts = [
            Some(vec![10, 2, 0, 1]),
            Some(vec![10, 0, 0, 0]),
            Some(vec![20, 19]),
            Some(vec![20, 1]),
        ];
        judge(&mut report, &asks, &counts);
        assert_eq!(report.problems.len(), 1);
        assert!(
            report.problems[0].problem.contains("emails, @usernames"),
            "{:?}",
            report.problems
        );
        assert!(report.problems[0].problem.contains("body = \"redact\""));
        assert_eq!(report.warnings.len(), 1);
        assert!(report.warnings[0].entry.contains("tips.from_user_id"));
    }
}
