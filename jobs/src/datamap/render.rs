//! Writing data maps (format version 2) as TOML people read: one line per link, inline
//! tables, comments beside decisions. Used by discovery and conversion; everything
//! written parses with [`super::DataMap::parse`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::rule::ColumnRule;
use super::spec::{Category, KeyFormat, LinkSpec, ObjectSpec, SubjectSpec, TableRule};

/// A TOML basic string.
pub fn quoted(value: &str) -> String {
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

/// A TOML key: bare when it can be, quoted otherwise.
pub fn key(name: &str) -> String {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        name.to_owned()
    } else {
        quoted(name)
    }
}

/// Text safe on one `#` comment line.
pub fn plain(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A column rule as written in a map.
pub fn column_rule(rule: &ColumnRule) -> String {
    match rule {
        ColumnRule::Null => "\"null\"".into(),
        ColumnRule::Hash => "\"hash\"".into(),
        ColumnRule::Redact => "\"redact\"".into(),
        ColumnRule::JsonPaths(paths) => {
            let list: Vec<String> = paths.iter().map(|p| quoted(p)).collect();
            format!("{{ json_paths = [{}] }}", list.join(", "))
        }
        ColumnRule::Value(v) => format!("{{ value = {} }}", quoted(v)),
    }
}

/// `{ a = "null", b = "redact" }`.
pub fn anonymize(rules: &BTreeMap<String, ColumnRule>) -> String {
    let parts: Vec<String> = rules
        .iter()
        .map(|(c, r)| format!("{} = {}", key(c), column_rule(r)))
        .collect();
    format!("{{ {} }}", parts.join(", "))
}

/// A link's value: the short form (`"delete"`) when only the action is set, else an
/// inline table.
pub fn link_value(link: &LinkSpec) -> String {
    let only_action = link.basis.is_none()
        && link.period.is_none()
        && link.unlink.is_none()
        && link.anonymize.is_empty()
        && link.export.is_none()
        && !link.soft
        && link.to.is_none();
    match &link.action {
        Some(action) if only_action => quoted(action.as_str()),
        _ => {
            let mut parts: Vec<String> = Vec::new();
            if link.soft {
                parts.push("soft = true".into());
            }
            if let Some(to) = &link.to {
                parts.push(format!("to = {}", quoted(to)));
            }
            if let Some(action) = &link.action {
                parts.push(format!("action = {}", quoted(action.as_str())));
            }
            if let Some(basis) = &link.basis {
                parts.push(format!("basis = {}", quoted(basis)));
            }
            if let Some(period) = &link.period {
                parts.push(format!("period = {}", quoted(period)));
            }
            if let Some(unlink) = &link.unlink {
                parts.push(format!("unlink = {}", quoted(unlink.as_str())));
            }
            if !link.anonymize.is_empty() {
                parts.push(format!("anonymize = {}", anonymize(&link.anonymize)));
            }
            if let Some(export) = link.export {
                parts.push(format!("export = {export}"));
            }
            format!("{{ {} }}", parts.join(", "))
        }
    }
}

/// One `[links]` line, with an optional trailing comment.
pub fn link_line(out: &mut String, name: &str, link: &LinkSpec, comment: &str) {
    let _ = write!(out, "{} = {}", quoted(name), link_value(link));
    if !comment.is_empty() {
        let _ = write!(out, "  # {}", plain(comment));
    }
    out.push('\n');
}

/// `# text` lines, one per line of `text`.
pub fn comment(out: &mut String, text: &str) {
    for line in text.lines() {
        if line.is_empty() {
            out.push_str("#\n");
        } else {
            let _ = writeln!(out, "# {}", plain(line));
        }
    }
}

/// The `[subject]` table; `tombstone_hint`, when given, is written commented out.
pub fn subject(
    out: &mut String,
    s: &SubjectSpec,
    placeholder_note: Option<&str>,
    tombstone_hint: Option<&str>,
) {
    let _ = writeln!(out, "[subject]");
    let _ = writeln!(out, "table = {}", quoted(&s.table));
    let _ = writeln!(out, "key = {}", quoted(&s.key));
    let _ = writeln!(out, "email = {}", quoted(&s.email));
    if let Some(u) = &s.username {
        let _ = writeln!(out, "username = {}", quoted(u));
    }
    if let Some(p) = &s.placeholder {
        if let Some(note) = placeholder_note {
            comment(out, note);
        }
        let _ = writeln!(out, "placeholder = {}", quoted(p));
    }
    if let Some(t) = &s.tombstone {
        let parts: Vec<String> = t
            .iter()
            .map(|(c, v)| format!("{} = {}", key(c), quoted(v)))
            .collect();
        let _ = writeln!(out, "tombstone = {{ {} }}", parts.join(", "));
    } else if let Some(hint) = tombstone_hint {
        comment(out, hint);
    }
}

/// A `[tables.NAME]` block.
pub fn table_rule(out: &mut String, name: &str, rule: &TableRule) {
    let _ = writeln!(out, "[tables.{}]", key(name));
    if let Some(a) = &rule.action {
        let _ = writeln!(out, "action = {}", quoted(a.as_str()));
    }
    if let Some(b) = &rule.basis {
        let _ = writeln!(out, "basis = {}", quoted(b));
    }
    if let Some(p) = &rule.period {
        let _ = writeln!(out, "period = {}", quoted(p));
    }
    if let Some(u) = &rule.unlink {
        let _ = writeln!(out, "unlink = {}", quoted(u.as_str()));
    }
    if let Some(e) = rule.export {
        let _ = writeln!(out, "export = {e}");
    }
    for (field, list) in [("omit", &rule.omit), ("mask", &rule.mask)] {
        if !list.is_empty() {
            let items: Vec<String> = list.iter().map(|c| quoted(c)).collect();
            let _ = writeln!(out, "{field} = [{}]", items.join(", "));
        }
    }
    if !rule.anonymize.is_empty() {
        let _ = writeln!(out, "anonymize = {}", anonymize(&rule.anonymize));
    }
}

/// The `[categories]` table, arrays wrapped at about 100 columns.
pub fn categories(out: &mut String, categories: &BTreeMap<Category, Vec<String>>) {
    let _ = writeln!(out, "[categories]");
    for category in Category::ALL {
        let Some(tables) = categories.get(&category).filter(|t| !t.is_empty()) else {
            continue;
        };
        let items: Vec<String> = tables.iter().map(|t| quoted(t)).collect();
        let head = format!("{} = [", category.as_str());
        if head.len() + items.iter().map(|i| i.len() + 2).sum::<usize>() <= 100 {
            let _ = writeln!(out, "{head}{}]", items.join(", "));
            continue;
        }
        let _ = writeln!(out, "{head}");
        let mut line = String::from("   ");
        for item in items {
            if line.len() + item.len() + 2 > 100 {
                let _ = writeln!(out, "{}", line.trim_end());
                line = String::from("   ");
            }
            let _ = write!(line, " {item},");
        }
        let _ = writeln!(out, "{}", line.trim_end());
        let _ = writeln!(out, "]");
    }
}

/// One `[[objects]]` block.
pub fn object(out: &mut String, o: &ObjectSpec) {
    let _ = writeln!(out, "[[objects]]");
    let _ = writeln!(out, "bucket = {}", quoted(&o.bucket));
    let _ = writeln!(out, "table = {}", quoted(&o.table));
    if let Some(c) = &o.column {
        let _ = writeln!(out, "column = {}", quoted(c));
        if o.format == KeyFormat::Url {
            let _ = writeln!(out, "format = \"url\"");
        }
    }
    if let Some(t) = &o.template {
        let _ = writeln!(out, "template = {}", quoted(t));
    }
    if !o.export {
        let _ = writeln!(out, "export = false");
    }
    if let Some(c) = o.category {
        let _ = writeln!(out, "category = {}", quoted(c.as_str()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datamap::rule::{Action, Unlink};

    #[test]
    fn strings_and_keys_are_quoted_for_toml() {
        assert_eq!(quoted("we\"ird\\\n"), "\"we\\\"ird\\\\\\n\"");
        assert_eq!(quoted("\u{1}"), "\"\\u0001\"");
        assert_eq!(key("billingName"), "billingName");
        assert_eq!(key("with space"), "\"with space\"");
    }

    #[test]
    fn links_use_the_short_form_when_they_can() {
        let short = LinkSpec {
            action: Some(Action::Delete),
            ..LinkSpec::default()
        };
        assert_eq!(link_value(&short), "\"delete\"");
        let mut full = LinkSpec {
            action: Some(Action::Retain),
            basis: Some("tax law".into()),
            period: Some("10 years".into()),
            unlink: Some(Unlink::Placeholder),
            soft: true,
            ..LinkSpec::default()
        };
        full.anonymize.insert(
            "billing name".into(),
            ColumnRule::JsonPaths(vec!["a.b".into()]),
        );
        assert_eq!(
            link_value(&full),
            "{ soft = true, action = \"retain\", basis = \"tax law\", period = \"10 years\", unlink = \"placeholder\", anonymize = { \"billing name\" = { json_paths = [\"a.b\"] } } }"
        );
    }
}
