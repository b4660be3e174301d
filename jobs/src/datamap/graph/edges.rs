//! Every edge of the schema: the catalog's foreign keys and the map's declared soft links,
//! each soft link checked against the catalog.

use crate::datamap::catalog::Catalog;
use crate::datamap::spec::{DataMap, LinkKey};

use super::{Edge, Problem, problem};

/// Every edge of the schema: foreign keys and the map's declared soft links.
pub fn all_edges(map: &DataMap, catalog: &Catalog, problems: &mut Vec<Problem>) -> Vec<Edge> {
    let mut edges: Vec<Edge> = catalog
        .foreign_keys
        .iter()
        .map(|fk| Edge {
            label: LinkKey::render(&fk.table, &fk.columns),
            table: fk.table.clone(),
            columns: fk.columns.clone(),
            parent: fk.references.clone(),
            parent_columns: fk.referenced_columns.clone(),
            on_delete: Some(fk.on_delete),
            constraint: Some(fk.name.clone()),
        })
        .collect();
    for (key, link) in map.links.iter().filter(|(_, l)| l.soft) {
        let entry = format!("links.\"{key}\"");
        let Some(from) = LinkKey::parse(key) else {
            continue;
        };
        let (parent, parent_columns) = match &link.to {
            Some(to) => {
                let to = LinkKey::parse(to).expect("checked by parse");
                (to.table, to.columns)
            }
            None => (map.subject.table.clone(), vec![map.subject.key.clone()]),
        };
        if catalog.columns(&from.table).is_none() {
            problems.push(problem(
                &entry,
                format!("table `{}` does not exist", from.table),
            ));
            continue;
        }
        let missing: Vec<&String> = from
            .columns
            .iter()
            .filter(|c| catalog.column(&from.table, c).is_none())
            .collect();
        if !missing.is_empty() {
            problems.push(problem(
                &entry,
                format!("column `{}.{}` does not exist", from.table, missing[0]),
            ));
            continue;
        }
        if let Some(c) = parent_columns
            .iter()
            .find(|c| catalog.column(&parent, c).is_none())
        {
            problems.push(problem(
                &entry,
                format!("soft-link target `{parent}.{c}` does not exist"),
            ));
            continue;
        }
        if parent_columns.len() != from.columns.len() {
            problems.push(problem(
                &entry,
                format!(
                    "{} columns cannot point at {} target columns",
                    from.columns.len(),
                    parent_columns.len()
                ),
            ));
            continue;
        }
        if edges
            .iter()
            .any(|e| e.table == from.table && e.columns == from.columns && e.parent == parent)
        {
            problems.push(problem(
                &entry,
                "this column already has a foreign key; drop `soft = true`",
            ));
            continue;
        }
        edges.push(Edge {
            label: key.clone(),
            table: from.table,
            columns: from.columns,
            parent,
            parent_columns,
            on_delete: None,
            constraint: None,
        });
    }
    edges.sort_by(|a, b| (&a.table, &a.columns, &a.parent).cmp(&(&b.table, &b.columns, &b.parent)));
    edges
}
