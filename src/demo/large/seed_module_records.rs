//! Seeds the rest of a feature module: reports (resolved by moderators), revision
//! chains, activity logs naming the actor, daily stats, tags and files.

use std::collections::HashMap;

use serde_json::json;

use super::FILES;
use super::modules::Module;
use super::seed::{Gen, Rec, V};

fn put(g: &mut Gen, table: &str, cols: &[String], owner: i64, row: Vec<V>) {
    let cols: Vec<&str> = cols.iter().map(String::as_str).collect();
    g.put(table, &cols, owner, row);
}

/// Reports, revisions, logs, stats, tags and assets of module `m`'s `roots`.
pub(crate) fn records(g: &mut Gen, m: &Module, roots: &[Rec]) {
    let c = |n: &str| m.col(n);
    let (root, rfk) = (m.table(""), m.root_fk());
    let slug = m.root.to_lowercase();
    let report = m.table(m.report);
    let mut cols = vec![rfk.clone(), c("reporterId")];
    if m.resolver {
        cols.push(c("resolvedById"));
    }
    cols.extend(["reason".to_owned(), "status".into()]);
    g.rows(
        &report,
        &cols.iter().map(String::as_str).collect::<Vec<_>>(),
        0.1,
        0.0005,
        |g, u, _| {
            let r = g.pick_not(&root, u)?;
            let mut row = vec![V::I(r.id), V::I(u)];
            if m.resolver {
                let mods: Vec<i64> = g
                    .mods
                    .iter()
                    .copied()
                    .filter(|x| *x != u && *x != r.owner)
                    .collect();
                row.push(if g.rng.chance(0.4) && !mods.is_empty() {
                    V::I(*g.rng.of(&mods))
                } else {
                    V::N
                });
            }
            row.extend([V::S("spam".into()), V::S("open".into())]);
            Some(row)
        },
    );

    if let Some(rev) = m.revision {
        let table = m.table(rev);
        let cols = [
            "id".to_owned(),
            rfk.clone(),
            c("editorId"),
            c("previousRevisionId"),
            "snapshot".into(),
            c("createdAt"),
        ];
        let mut last: HashMap<i64, i64> = HashMap::new();
        let mut jobs: Vec<(i64, i64)> = Vec::new();
        for r in roots {
            for _ in 0..g.rng.range(1, 3) {
                let editor = if g.rng.chance(0.7) {
                    r.owner
                } else {
                    g.anyone()
                };
                jobs.push((r.id, editor));
            }
        }
        for h in g.heavy.clone() {
            for _ in 0..g.heavy_n(0.0005) {
                jobs.extend(g.pick_not(&root, h).map(|r| (r.id, h)));
            }
        }
        for (r, editor) in jobs {
            let id = g.id(&table);
            let prev = last.insert(r, id).map_or(V::N, V::I);
            let row = vec![
                V::I(id),
                V::I(r),
                V::I(editor),
                prev,
                V::J(json!({"name": format!("draft {id}")})),
                g.ts(),
            ];
            put(g, &table, &cols, editor, row);
        }
    }

    let log = m.table(m.log);
    let cols = [
        rfk.clone(),
        c(m.log_actor),
        "action".into(),
        "details".into(),
        c("createdAt"),
    ];
    g.rows(
        &log,
        &cols.iter().map(String::as_str).collect::<Vec<_>>(),
        2.0,
        0.003,
        |g, u, _| {
            let r = g.pick(&root)?;
            let details = json!({"ip": g.ip(), "actor": {"username": g.username(u)}});
            Some(vec![
                V::I(r.id),
                V::I(u),
                V::S((*g.rng.of(&["view", "edit", "share"])).into()),
                V::J(details),
                g.ts(),
            ])
        },
    );

    let stat = m.table(m.stat);
    let tag = m.table("Tag");
    let mut assets: HashMap<i64, usize> = g
        .heavy
        .iter()
        .map(|h| (*h, g.heavy_objects(0.05)))
        .collect();
    for r in roots {
        for day in 1..=2 {
            let row = vec![
                V::I(r.id),
                V::S(format!("2024-05-{day:02}")),
                V::I(g.rng.range(0, 900)),
                V::I(g.rng.range(0, 90)),
            ];
            put(
                g,
                &stat,
                &[
                    rfk.clone(),
                    "day".into(),
                    "views".into(),
                    "downloads".into(),
                ],
                r.owner,
                row,
            );
        }
        for _ in 0..g.rng.range(1, 2) {
            let t = g.rng.range(1, 40);
            if g.once(&tag, r.id, t) {
                put(
                    g,
                    &tag,
                    &[rfk.clone(), c("tagId")],
                    r.owner,
                    vec![V::I(r.id), V::I(t)],
                );
            }
        }
        let (Some(asset), Some(table)) = (m.asset, m.asset_table()) else {
            continue;
        };
        let wanted = match assets.get_mut(&r.owner) {
            Some(left) => {
                let take = (*left > 0) as usize;
                *left -= take;
                take
            }
            None => usize::from(g.rng.chance(0.6)),
        };
        for _ in 0..wanted {
            let key = format!("{slug}/{}/{}.bin", r.id, g.rng.hex(10));
            g.object(FILES, &key, 0);
            let value = if asset.url {
                format!("https://cdn.example/{key}")
            } else {
                key
            };
            let row = vec![
                V::I(r.id),
                V::S(value),
                V::S("cover".into()),
                V::I(g.rng.range(10, 900)),
            ];
            put(
                g,
                &table,
                &[rfk.clone(), asset.column.into(), "kind".into(), c("sizeKB")],
                r.owner,
                row,
            );
        }
    }
}
