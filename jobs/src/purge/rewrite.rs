//! The SQL of rewrites: how a kept row's link is cut and its columns rewritten, and the
//! condition that a row still needs it. Statement parameters: `$1` the hash key, `$2` the
//! identity pattern for text, `$3` the identity pattern for JSON text (both bound, never
//! spliced).

use crate::datamap::BoundMap;
use crate::datamap::catalog::{ident, literal};
use crate::datamap::graph::{Edge, Treatment};
use crate::datamap::rule::{ColumnRule, Unlink};

/// SET clauses (over the target row) and the "still needs work" conditions (over alias
/// `x`) of one edge's rewrite.
#[derive(Debug, Clone, Default)]
pub(crate) struct RewriteSql {
    /// `column = expression`.
    pub sets: Vec<String>,
    /// Conditions, one of which holds while a row still needs rewriting. Empty when the
    /// link itself is cut: then every reached row needs it (and is no longer reached after).
    pub needs: Vec<String>,
    /// Whether the link is cut.
    pub unlinks: bool,
}

impl RewriteSql {
    /// The needs as one condition, or `None` for "every reached row".
    pub fn needs_condition(&self) -> Option<String> {
        (!self.unlinks && !self.needs.is_empty()).then(|| self.needs.join(" OR "))
    }
}

/// Builds the rewrite of `edge` under `treatment`. `tombstone` is an SQL expression of the
/// subject's tombstone key (a quoted literal, or a subquery finding it) when the link is
/// reassigned to it; `redact` whether identity patterns exist.
pub(crate) fn rewrite_sql(
    map: &BoundMap,
    edge: &Edge,
    treatment: &Treatment,
    tombstone: Option<&str>,
    redact: bool,
) -> anyhow::Result<RewriteSql> {
    let mut out = RewriteSql::default();
    let column_type = |c: &str| {
        map.column(&edge.table, c)
            .map_or("text".to_owned(), |i| i.sql_type.clone())
    };
    if let Some(unlink) = &treatment.unlink {
        out.unlinks = true;
        let columns = edge.unlinked_columns(&map.map.subject.table, &map.map.subject.key);
        for column in columns {
            let ty = column_type(column);
            let value = match unlink {
                Unlink::Null => "NULL".to_owned(),
                Unlink::Placeholder => {
                    let p = map
                        .map
                        .subject
                        .placeholder
                        .as_deref()
                        .ok_or_else(|| anyhow::anyhow!("no placeholder"))?;
                    format!("CAST({} AS {ty})", literal(p))
                }
                Unlink::Tombstone => {
                    let t = tombstone
                        .ok_or_else(|| anyhow::anyhow!("the tombstone account is missing"))?;
                    format!("CAST({t} AS {ty})")
                }
                Unlink::Undecided(_) => anyhow::bail!("undecided unlink"),
            };
            out.sets.push(format!("{} = {value}", ident(column)));
        }
    }
    for (column, rule) in &treatment.anonymize {
        let c = ident(column);
        let info = map
            .column(&edge.table, column)
            .ok_or_else(|| anyhow::anyhow!("column {column} vanished"))?;
        let ty = &info.sql_type;
        match rule {
            ColumnRule::Null => {
                out.sets.push(format!("{c} = NULL"));
                out.needs.push(format!("x.{c} IS NOT NULL"));
            }
            ColumnRule::Value(value) => {
                out.sets
                    .push(format!("{c} = CAST({} AS {ty})", literal(value)));
                out.needs.push(format!(
                    "x.{c} IS DISTINCT FROM CAST({} AS {ty})",
                    literal(value)
                ));
            }
            ColumnRule::Hash => {
                out.sets.push(format!(
                    "{c} = CAST('anon:' || encode(sha256(convert_to($1 || {c}, 'UTF8')), 'hex') AS {ty})"
                ));
                out.needs
                    .push(format!("(x.{c} IS NOT NULL AND x.{c} NOT LIKE 'anon:%')"));
            }
            ColumnRule::Redact if !redact => {}
            ColumnRule::Redact if info.is_json() => {
                // String values and keys only (see `platform::REDACT_FUNCTION`), so the
                // result stays valid JSON whatever the identity looks like.
                // Only values whose text names the subject go through the function.
                out.sets.push(format!(
                    "{c} = CASE WHEN {c}::text ~* $3 THEN CAST(pg_temp.lethe_redact({c}::jsonb, $2) AS {ty}) ELSE {c} END"
                ));
                out.needs.push(format!(
                    "(x.{c}::text ~* $3 AND pg_temp.lethe_redact(x.{c}::jsonb, $2) IS DISTINCT FROM x.{c}::jsonb)"
                ));
            }
            ColumnRule::Redact if info.is_text_array() => {
                out.sets.push(format!(
                    "{c} = CAST(ARRAY(SELECT regexp_replace(e, $2, '[redacted]', 'gi') FROM unnest({c}) WITH ORDINALITY u(e, i) ORDER BY i) AS {ty})"
                ));
                out.needs
                    .push(format!("array_to_string(x.{c}, chr(31)) ~* $2"));
            }
            ColumnRule::Redact => {
                out.sets.push(format!(
                    "{c} = CAST(regexp_replace({c}, $2, '[redacted]', 'gi') AS {ty})"
                ));
                out.needs.push(format!("x.{c} ~* $2"));
            }
            ColumnRule::JsonPaths(paths) => {
                let mut expr = c.clone();
                for path in paths {
                    let p = literal(&format!("{{{}}}", path.replace('.', ",")));
                    expr = format!("({expr} #- {p})");
                    out.needs.push(format!("(x.{c} #> {p}) IS NOT NULL"));
                }
                out.sets.push(format!("{c} = {expr}"));
            }
        }
    }
    Ok(out)
}

/// A case-insensitive pattern matching any identity string literally, at word boundaries
/// (not inside a longer name: `@ada` matches, `@ada2` does not). `json` escapes each
/// identity as it appears inside a JSON string first. Identities shorter than three
/// characters are left out (they would match ordinary words).
pub fn identity_pattern(identities: &[String], json: bool) -> Option<String> {
    let escaped: Vec<String> = identities
        .iter()
        .filter(|s| s.chars().count() >= 3)
        .map(|s| {
            let text = if json {
                let quoted = serde_json::to_string(s).expect("strings serialize");
                quoted[1..quoted.len() - 1].to_owned()
            } else {
                s.clone()
            };
            text.chars()
                .map(|c| {
                    if c.is_alphanumeric() || !c.is_ascii() {
                        c.to_string()
                    } else {
                        format!("\\{c}")
                    }
                })
                .collect()
        })
        .collect();
    (!escaped.is_empty())
        .then(|| format!("(?<![[:alnum:]_])(?:{})(?![[:alnum:]_])", escaped.join("|")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_patterns_escape_regex_characters_and_keep_word_boundaries() {
        assert_eq!(
            identity_pattern(&["a.b+c@x.com".into(), "ab".into()], false).unwrap(),
            "(?<![[:alnum:]_])(?:a\\.b\\+c\\@x\\.com)(?![[:alnum:]_])"
        );
        assert_eq!(identity_pattern(&[], false), None);
        assert_eq!(
            identity_pattern(&["a\"b".into()], true).unwrap(),
            "(?<![[:alnum:]_])(?:a\\\\\\\"b)(?![[:alnum:]_])"
        );
    }
}
