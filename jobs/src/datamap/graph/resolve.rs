//! An edge's rule resolved: the link's own rule, else the child table's rule, else the
//! key's delete rule, with what it unlinks, rewrites, exports and retains.

use crate::datamap::catalog::OnDelete;
use crate::datamap::rule::{Action, Unlink};
use crate::datamap::spec::{DataMap, RuleRef};

use super::{Edge, LinkIndex, RuleSource, Treatment};

/// The rule for an edge: link, then table, then delete rule. `owned`: the edge's table has
/// a link of its own into the subject table.
pub(super) fn resolve(map: &DataMap, links: &LinkIndex<'_>, edge: &Edge, owned: bool) -> Treatment {
    let link = links
        .get(&(edge.table.as_str(), edge.columns.as_slice()))
        .copied();
    let (rule, source): (Option<RuleRef<'_>>, RuleSource) =
        match (link, map.tables.get(&edge.table)) {
            (Some(l), _) if l.action.is_some() => (Some(l.rule()), RuleSource::Link),
            (_, Some(t)) if t.action.is_some() => (Some(t.rule()), RuleSource::Table),
            (Some(l), _) => (Some(l.rule()), RuleSource::DeleteRule),
            (None, Some(t)) => (Some(t.rule()), RuleSource::DeleteRule),
            (None, None) => (None, RuleSource::DeleteRule),
        };
    let retention_without_action = rule.is_some_and(|r| {
        r.action.is_none() && (r.basis.is_some() || r.period.is_some() || r.unlink.is_some())
    });
    let action = match rule.and_then(|r| r.action) {
        Some(action) => action.clone(),
        // A basis, period or unlink says rows should stay; falling back to a CASCADE key's
        // delete would silently do the opposite.
        None if retention_without_action => Action::Undecided(
            "undecided: the rule states a legal basis, period or unlink but no action; write action = \"retain\" (or another)".into(),
        ),
        None => match edge.on_delete {
            Some(OnDelete::Cascade) => Action::Delete,
            Some(OnDelete::SetNull) => Action::Leave,
            Some(OnDelete::Restrict) => Action::Undecided(format!(
                "undecided: ON DELETE RESTRICT ({}); decide delete, detach, reassign or retain",
                edge.constraint.as_deref().unwrap_or("")
            )),
            None => Action::Undecided("undecided: a soft link needs an action".into()),
        },
    };
    let unlink = match &action {
        Action::Detach => Some(Unlink::Null),
        Action::Reassign => Some(
            rule.and_then(|r| r.unlink)
                .cloned()
                .unwrap_or(Unlink::Placeholder),
        ),
        Action::Retain | Action::Anonymize | Action::Leave => rule.and_then(|r| r.unlink).cloned(),
        Action::Delete | Action::Undecided(_) => None,
    };
    let anonymize = rule.map(|r| r.anonymize.clone()).unwrap_or_default();
    // Exported by default: the subject's own rows (deleted or retained through a link into
    // the subject table), and rows below them in tables with no owner column of their own.
    let through_subject = edge.parent == map.subject.table;
    let export = rule.and_then(|r| r.export).unwrap_or(
        matches!(action, Action::Delete | Action::Retain) && (through_subject || !owned),
    );
    let basis = match (rule.and_then(|r| r.basis), rule.and_then(|r| r.period)) {
        (Some(b), Some(p)) => Some((b.to_owned(), p.to_owned())),
        (Some(b), None) => Some((b.to_owned(), String::new())),
        _ => None,
    };
    Treatment {
        action,
        source,
        unlink,
        anonymize,
        export,
        basis,
    }
}
