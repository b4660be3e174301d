//! A reference purge for tests: the intended decisions applied with plain SQL (and the
//! database's own cascades, SET NULLs and triggers), to check that the answer key
//! describes what really happens.

use std::fmt::Write as _;

use super::answer::{AnswerKey, keep_steps};
use super::model::{Act, ColRule, Table, Unlink, q};

fn redact(col: &str, jsonb: bool, email: &str, username: &str) -> String {
    let e = email.replace('\'', "''");
    let text = if jsonb {
        format!("{col}::text")
    } else {
        col.to_owned()
    };
    let out = format!(
        "regexp_replace(replace({text}, '{e}', '[redacted]'), '(^|[^A-Za-z0-9_])' || '{username}' || '(?=$|[^A-Za-z0-9_])', '\\1[redacted]', 'gi')"
    );
    if jsonb {
        format!("({out})::jsonb")
    } else {
        out
    }
}

/// The SQL that purges `subject` the intended way (objects aside).
pub(crate) fn purge_sql(
    tables: &[Table],
    key: &AnswerKey,
    subject: i64,
    email: &str,
    username: &str,
) -> String {
    let s = subject.to_string();
    let bind = |sql: &str| sql.replace("$1", &s);
    let mut sql = String::from("BEGIN;\n");
    let steps = keep_steps(tables);
    let needs_tomb: Vec<String> = steps
        .iter()
        .filter(|(_, _, _, e)| {
            matches!(
                e.act,
                Act::Retain(Unlink::Tombstone, _) | Act::Reassign(Unlink::Tombstone)
            )
        })
        .map(|(t, _, pred, _)| format!("EXISTS (SELECT 1 FROM {} t WHERE {})", q(t), bind(pred)))
        .collect();
    let _ = writeln!(
        sql,
        "CREATE TEMP TABLE ref_tomb ON COMMIT DROP AS WITH i AS (INSERT INTO \"User\" (\"email\", \"username\") \
         SELECT 'deleted-' || md5('{s}') || '@tombstone.invalid', 'deleted-' || md5('{s}') WHERE {} RETURNING \"id\") SELECT \"id\" FROM i;",
        if needs_tomb.is_empty() {
            "false".to_owned()
        } else {
            needs_tomb.join(" OR ")
        }
    );
    for (i, t) in key.tables.iter().enumerate() {
        if let Some(g) = &t.gone {
            let _ = writeln!(
                sql,
                "CREATE TEMP TABLE ref_gone_{i} ON COMMIT DROP AS SELECT {} AS k FROM {} t WHERE {};",
                t.key,
                q(&t.table),
                bind(g)
            );
        }
    }
    for (j, (table, key_sql, pred, _)) in steps.iter().enumerate() {
        let _ = writeln!(
            sql,
            "CREATE TEMP TABLE ref_keep_{j} ON COMMIT DROP AS SELECT {key_sql} AS k FROM {} t WHERE {};",
            q(table),
            bind(pred)
        );
    }
    for (j, (table, key_sql, _, e)) in steps.iter().enumerate() {
        let Some(t) = tables.iter().find(|t| &t.name == table) else {
            continue;
        };
        let mut sets = Vec::new();
        for (col, rule) in e.anonymize() {
            let jsonb = t
                .columns
                .iter()
                .any(|(c, ty)| c == col && ty.to_uppercase().starts_with("JSONB"));
            let value = match rule {
                ColRule::Null => "NULL".to_owned(),
                ColRule::Redact => redact(&q(col), jsonb, email, username),
                ColRule::Hash => format!("md5({}::text)", q(col)),
            };
            sets.push(format!("{} = {value}", q(col)));
        }
        let unlink = match &e.act {
            Act::Detach => Unlink::Null,
            Act::Reassign(u) | Act::Retain(u, _) | Act::Anonymize(u, _) => *u,
            _ => Unlink::Keep,
        };
        let value = match unlink {
            Unlink::Keep => None,
            Unlink::Null => Some("NULL".to_owned()),
            Unlink::Placeholder => Some(super::PLACEHOLDER_ID.to_string()),
            Unlink::Tombstone => Some("(SELECT \"id\" FROM ref_tomb)".to_owned()),
        };
        if let Some(v) = value {
            sets.push(format!("{} = {v}", q(&e.cols[0])));
        }
        if !sets.is_empty() {
            let _ = writeln!(
                sql,
                "UPDATE {} t SET {} WHERE {key_sql} IN (SELECT k FROM ref_keep_{j});",
                q(table),
                sets.join(", ")
            );
        }
    }
    for (i, t) in key.tables.iter().enumerate() {
        if t.gone.is_some() && t.table != "User" {
            let _ = writeln!(
                sql,
                "DELETE FROM {} t WHERE {} IN (SELECT k FROM ref_gone_{i});",
                q(&t.table),
                t.key
            );
        }
    }
    let _ = writeln!(sql, "DELETE FROM \"User\" WHERE \"id\" = {s};\nCOMMIT;");
    sql
}
