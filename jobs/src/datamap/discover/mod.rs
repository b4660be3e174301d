//! `lethe datamap discover`: a complete, compact version 2 map for a whole schema.
//!
//! Discovery walks the schema from the subject table exactly as the planner does
//! ([`super::graph::walk`]), proposes an entry for every link that needs one
//! ([`super::propose`]), confirms links without foreign keys and object-key columns by
//! sampling the data ([`super::sample`]), and writes the map: the subject, one line per
//! link into the subject table (and per deeper key that needs a decision), table rules
//! only where kept rows may name the person, a category for every table reached, and the
//! objects. Every decision left to a person is a `TODO…` value, which `check` refuses.

#[cfg(test)]
mod tests;
mod write;

use std::collections::{BTreeMap, BTreeSet};

use diesel_async::AsyncPgConnection;

use super::catalog::Catalog;
use super::names::{is_free_text, looks_like_object_key, words};
use super::propose::{Proposal, propose, soft_candidates};
use super::sample::{self, Probe};
use super::spec::SubjectSpec;
use write::write;

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
