//! Seeds one feature module: roots owned by skewed users (heavy subjects own many),
//! items, votes, comment trees, reactions and members by other people, reports,
//! revision chains, activity logs naming the actor, stats, tags and files.

use std::collections::HashMap;

use serde_json::json;

use super::model::OnDelete;
use super::modules::Module;
use super::seed::{Gen, Rec, V};
use super::seed_content::phrase;

fn put(g: &mut Gen, table: &str, cols: &[String], owner: i64, row: Vec<V>) {
    let cols: Vec<&str> = cols.iter().map(String::as_str).collect();
    g.put(table, &cols, owner, row);
}

/// (root, user) pairs: `users × rate` by ordinary users, and `heavy_rows × 0.001` per
/// heavy subject on other people's roots.
fn pairs(g: &mut Gen, root: &str, rate: f64) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for _ in 0..g.n(rate) {
        let u = g.actor();
        out.extend(g.pick(root).map(|r| (r.id, u)));
    }
    for h in g.heavy.clone() {
        for _ in 0..g.heavy_n(0.001) {
            out.extend(g.pick_not(root, h).map(|r| (r.id, h)));
        }
    }
    out
}

/// Seeds module `m` (the `index`th).
pub(crate) fn module(g: &mut Gen, m: &Module, index: usize) {
    let c = |n: &str| m.col(n);
    let (root, rfk) = (m.table(""), m.root_fk());

    let mut cols = vec![
        "id".to_owned(),
        c(m.owner),
        "name".into(),
        "description".into(),
        "status".into(),
        "settings".into(),
    ];
    if m.cover_image {
        cols.push(c("coverImageId"));
    }
    if m.version_link {
        cols.push(c("modelVersionId"));
    }
    cols.push(c("createdAt"));
    let new_root = |g: &mut Gen, u: i64| {
        let id = g.id(&root);
        g.rec(
            &root,
            Rec {
                id,
                owner: u,
                ctx: 0,
            },
        );
        let mut row = vec![
            V::I(id),
            V::I(u),
            V::S(format!("{} #{id}", m.root)),
            V::S(phrase(g)),
            V::S("active".into()),
            V::J(json!({"visibility": "public", "module": index})),
        ];
        if m.cover_image {
            row.push(if g.rng.chance(0.5) {
                g.pick("Image").map_or(V::N, |i| V::I(i.id))
            } else {
                V::N
            });
        }
        if m.version_link {
            row.push(if g.rng.chance(0.5) {
                g.pick("ModelVersion").map_or(V::N, |v| V::I(v.id))
            } else {
                V::N
            });
        }
        row.push(g.ts());
        put(g, &root, &cols, u, row);
    };
    for _ in 0..g.n(0.35) {
        let u = g.actor();
        new_root(g, u);
    }
    for h in g.heavy.clone() {
        for _ in 0..g.heavy_n(0.001).max(1) {
            new_root(g, h);
        }
    }
    let roots = g.recs(&root).to_vec();

    let item = m.table(m.item);
    let mut cols = vec!["id".to_owned(), rfk.clone(), c(m.item_user)];
    if m.item_image.is_some() {
        cols.push(c("imageId"));
    }
    cols.extend(["content".to_owned(), "meta".into(), c("createdAt")]);
    let new_item = |g: &mut Gen, r: Rec, u: i64| {
        let image = match m.item_image {
            Some(OnDelete::SetNull) if g.rng.chance(0.4) => Some(V::N),
            Some(_) => Some(g.pick("Image").map_or(V::N, |i| V::I(i.id))),
            None => None,
        };
        if matches!(image, Some(V::N)) && m.item_image == Some(OnDelete::Cascade) {
            return;
        }
        let id = g.id(&item);
        g.rec(
            &item,
            Rec {
                id,
                owner: u,
                ctx: r.id,
            },
        );
        let mut row = vec![V::I(id), V::I(r.id), V::I(u)];
        row.extend(image);
        row.extend([
            V::S(phrase(g)),
            V::J(json!({"tool": "comfyui", "seed": g.rng.below(1 << 20)})),
            g.ts(),
        ]);
        put(g, &item, &cols, u, row);
    };
    for r in &roots {
        for _ in 0..g.rng.below(6) {
            let u = g.other(r.owner);
            new_item(g, *r, u);
        }
    }
    for h in g.heavy.clone() {
        for _ in 0..g.heavy_n(0.003) {
            if let Some(r) = g.pick_not(&root, h) {
                new_item(g, r, h);
            }
        }
    }

    if let Some(vote) = m.vote_table() {
        let cols = [m.item_fk(), c("userId"), "score".into()];
        let mut jobs: Vec<(i64, i64)> = Vec::new();
        for it in g.recs(&item).to_vec() {
            for _ in 0..g.rng.below(4) {
                jobs.push((it.id, g.anyone()));
            }
        }
        for h in g.heavy.clone() {
            for _ in 0..g.heavy_n(0.002) {
                if let Some(it) = g.pick_not(&item, h) {
                    jobs.push((it.id, h));
                }
            }
        }
        for (it, u) in jobs {
            if g.once(&vote, it, u) {
                let row = vec![V::I(it), V::I(u), V::I(g.rng.range(1, 5))];
                put(g, &vote, &cols, u, row);
            }
        }
    }

    let comment = m.table(m.comment);
    let cols = [
        "id".to_owned(),
        rfk.clone(),
        c("userId"),
        c("parentId"),
        "body".into(),
        c("createdAt"),
    ];
    let mut threads: HashMap<i64, Vec<(i64, i64)>> = HashMap::new();
    let mut jobs: Vec<i64> = (0..g.n(1.5)).map(|_| g.actor()).collect();
    for h in g.heavy.clone() {
        jobs.extend(std::iter::repeat_n(h, g.heavy_n(0.003)));
    }
    for i in (1..jobs.len()).rev() {
        let j = g.rng.below(i + 1);
        jobs.swap(i, j);
    }
    for u in jobs {
        let Some(r) = g.pick(&root) else { break };
        let parent = match threads.get(&r.id) {
            Some(list) if g.rng.chance(0.5) => Some(*g.rng.of(list)),
            _ => None,
        };
        let id = g.id(&comment);
        threads.entry(r.id).or_default().push((id, u));
        let body = match parent {
            Some((_, author)) => format!("@{} {}", g.username(author), phrase(g)),
            None => phrase(g),
        };
        let row = vec![
            V::I(id),
            V::I(r.id),
            V::I(u),
            parent.map_or(V::N, |p| V::I(p.0)),
            V::S(body),
            g.ts(),
        ];
        put(g, &comment, &cols, u, row);
    }

    let reaction = m.table(m.reaction);
    let cols = [rfk.clone(), c("userId"), "reaction".into()];
    for (r, u) in pairs(g, &root, 1.5) {
        if g.once(&reaction, r, u) {
            put(
                g,
                &reaction,
                &cols,
                u,
                vec![V::I(r), V::I(u), V::S("Like".into())],
            );
        }
    }

    let member = m.table(m.member);
    let mut cols = vec![rfk.clone(), c("userId")];
    if m.inviter {
        cols.push(c("invitedById"));
    }
    cols.extend(["role".to_owned(), c("joinedAt")]);
    for (r, u) in pairs(g, &root, 1.0) {
        if g.once(&member, r, u) {
            let mut row = vec![V::I(r), V::I(u)];
            if m.inviter {
                row.push(if g.rng.chance(0.5) {
                    V::I(g.other(u))
                } else {
                    V::N
                });
            }
            row.extend([V::S("member".into()), g.ts()]);
            put(g, &member, &cols, u, row);
        }
    }

    super::seed_module_records::records(g, m, &roots);
}
