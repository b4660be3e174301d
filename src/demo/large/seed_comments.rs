//! Seeds comment trees: replies quote their parent's author, top-level comments on an
//! image sometimes greet its owner, heavy subjects get chains six deep.

use std::collections::HashMap;

use super::seed::{Gen, Rec, V};
use super::seed_content::phrase;

type Threads = HashMap<(bool, i64), Vec<(i64, i64)>>;

/// One comment on `target` = (on an image?, its id, its owner), maybe replying to
/// `parent` = (comment id, author).
fn comment(
    g: &mut Gen,
    threads: &mut Threads,
    u: i64,
    target: (bool, i64, i64),
    parent: Option<(i64, i64)>,
) -> i64 {
    let id = g.id("Comment");
    let (on_image, tid, towner) = target;
    let text = match parent {
        Some((_, author)) => format!("@{} {}", g.username(author), phrase(g)),
        None if g.rng.chance(0.3) => format!("@{} {}", g.username(towner), phrase(g)),
        None => phrase(g),
    };
    g.rec(
        "Comment",
        Rec {
            id,
            owner: u,
            ctx: tid,
        },
    );
    threads.entry((on_image, tid)).or_default().push((id, u));
    let (img, post) = if on_image {
        (V::I(tid), V::N)
    } else {
        (V::N, V::I(tid))
    };
    let row = vec![
        V::I(id),
        V::I(u),
        img,
        post,
        parent.map_or(V::N, |p| V::I(p.0)),
        V::S(text),
        g.ts(),
    ];
    g.put(
        "Comment",
        &[
            "id",
            "userId",
            "imageId",
            "postId",
            "parentId",
            "content",
            "createdAt",
        ],
        u,
        row,
    );
    id
}

fn comment_target(g: &mut Gen, u: i64, heavy: bool) -> Option<(bool, i64, i64)> {
    let on_image = g.rng.chance(0.7);
    let table = if on_image { "Image" } else { "Post" };
    let r = if heavy && g.rng.chance(0.6) {
        g.pick_not(table, u)
    } else {
        g.pick(table)
    }?;
    Some((on_image, r.id, r.owner))
}

/// Comment trees on images and posts; replies quote their parent's author, top-level
/// comments on an image sometimes greet its owner. Heavy subjects also get deep chains.
pub(crate) fn comments(g: &mut Gen) {
    let mut threads = Threads::new();
    let mut jobs: Vec<(i64, bool)> = (0..g.n(6.0)).map(|_| (g.actor(), false)).collect();
    for h in g.heavy.clone() {
        jobs.extend(std::iter::repeat_n((h, true), g.heavy_n(0.06)));
    }
    // Interleave heavy and ordinary commenters so that they reply to each other.
    for i in (1..jobs.len()).rev() {
        let j = g.rng.below(i + 1);
        jobs.swap(i, j);
    }
    for (u, heavy) in jobs {
        let Some(target) = comment_target(g, u, heavy) else {
            continue;
        };
        let parent = match threads.get(&(target.0, target.1)) {
            Some(list) if g.rng.chance(0.45) => Some(*g.rng.of(list)),
            _ => None,
        };
        comment(g, &mut threads, u, target, parent);
    }
    // Deep chains: a heavy subject and others replying to each other, depth 6.
    for h in g.heavy.clone() {
        for _ in 0..3 {
            let Some(target) = comment_target(g, h, true) else {
                continue;
            };
            let mut parent = None;
            for depth in 0..6 {
                let u = if depth % 2 == 0 { h } else { g.other(h) };
                parent = Some((comment(g, &mut threads, u, target, parent), u));
            }
        }
    }
}
