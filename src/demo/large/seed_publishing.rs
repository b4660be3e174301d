//! Seeds collections (other people's items point at anyone's images), articles with
//! revision chains, and forum threads whose replies quote their parent's author.

use std::collections::HashMap;

use super::FILES;
use super::seed::{Gen, Rec, V};
use super::seed_content::phrase;

/// Collections (others' items point at anyone's images), articles with revision
/// chains, forum threads whose replies quote their parent's author.
pub(crate) fn publishing(g: &mut Gen) {
    g.rows(
        "Collection",
        &["id", "userId", "name", "description", "coverImageId"],
        0.6,
        0.004,
        |g, u, _| {
            let id = g.id("Collection");
            g.rec(
                "Collection",
                Rec {
                    id,
                    owner: u,
                    ctx: 0,
                },
            );
            let cover = if g.rng.chance(0.5) {
                g.pick("Image").map_or(V::N, |i| V::I(i.id))
            } else {
                V::N
            };
            Some(vec![
                V::I(id),
                V::I(u),
                V::S(format!("Favourites {id}")),
                V::S("things I like".into()),
                cover,
            ])
        },
    );
    let heavy_collections = g
        .recs("Collection")
        .iter()
        .filter(|c| g.heavy.contains(&c.owner))
        .count()
        .max(1);
    let per_heavy = (g.heavy_n(0.03) * g.heavy.len()).div_ceil(heavy_collections);
    for c in g.recs("Collection").to_vec() {
        let heavy = g.heavy.contains(&c.owner);
        let items = if heavy { per_heavy } else { g.rng.below(7) };
        for position in 1..=items as i64 {
            let img = if heavy {
                g.pick_not("Image", c.owner)
            } else {
                g.pick("Image")
            };
            let Some(img) = img else { continue };
            let by = if g.rng.chance(0.8) {
                c.owner
            } else {
                g.anyone()
            };
            g.rec(
                "CollectionItem",
                Rec {
                    id: c.id,
                    owner: by,
                    ctx: position,
                },
            );
            let row = vec![
                V::I(c.id),
                V::I(position),
                V::I(img.id),
                V::I(by),
                if g.rng.chance(0.3) {
                    V::S(phrase(g))
                } else {
                    V::N
                },
            ];
            g.put(
                "CollectionItem",
                &["collectionId", "position", "imageId", "addedById", "note"],
                c.owner,
                row,
            );
        }
    }
    g.rows(
        "CollectionItemNote",
        &["collectionId", "position", "userId", "body"],
        0.5,
        0.005,
        |g, u, heavy| {
            let item = if heavy {
                g.pick_not("CollectionItem", u)
            } else {
                g.pick("CollectionItem")
            }?;
            Some(vec![
                V::I(item.id),
                V::I(item.ctx),
                V::I(u),
                V::S(phrase(g)),
            ])
        },
    );
    g.rows(
        "CollectionContributor",
        &["collectionId", "userId", "permissions"],
        0.3,
        0.002,
        |g, u, _| {
            let c = g.pick_not("Collection", u)?;
            (c.owner != u && g.once("CollectionContributor", c.id, u))
                .then(|| vec![V::I(c.id), V::I(u), V::A(vec!["ADD".into()])])
        },
    );

    let article = |g: &mut Gen, u: i64, cover: bool| {
        let id = g.id("Article");
        g.rec(
            "Article",
            Rec {
                id,
                owner: u,
                ctx: 0,
            },
        );
        let url = if cover {
            let key = format!("articles/{id}/{}.jpg", g.rng.hex(10));
            g.object(FILES, &key, 40);
            V::S(format!("https://cdn.example/{key}"))
        } else {
            V::N
        };
        let row = vec![
            V::I(id),
            V::I(u),
            V::S(format!("How I trained model #{id}")),
            V::S("Step one: collect 40 images.".into()),
            url,
            g.ts(),
        ];
        g.put(
            "Article",
            &[
                "id",
                "userId",
                "title",
                "content",
                "coverUrl",
                "publishedAt",
            ],
            u,
            row,
        );
    };
    for _ in 0..g.n(0.3) {
        let (u, cover) = (g.actor(), g.rng.chance(0.7));
        article(g, u, cover);
    }
    for h in g.heavy.clone() {
        for _ in 0..g.heavy_objects(0.05) {
            article(g, h, true);
        }
    }
    let cols = [
        "id",
        "articleId",
        "editorId",
        "previousRevisionId",
        "content",
        "createdAt",
    ];
    let mut last: HashMap<i64, i64> = HashMap::new();
    let mut revise = |g: &mut Gen, article: i64, editor: i64| {
        let id = g.id("ArticleRevision");
        let prev = last.insert(article, id).map_or(V::N, V::I);
        let row = vec![
            V::I(id),
            V::I(article),
            V::I(editor),
            prev,
            V::S(format!("revision {id}")),
            g.ts(),
        ];
        g.put("ArticleRevision", &cols, editor, row);
    };
    for a in g.recs("Article").to_vec() {
        for _ in 0..g.rng.range(1, 5) {
            let editor = if g.rng.chance(0.7) {
                a.owner
            } else {
                g.anyone()
            };
            revise(g, a.id, editor);
        }
    }
    for h in g.heavy.clone() {
        for _ in 0..g.heavy_n(0.003) {
            if let Some(a) = g.pick_not("Article", h) {
                revise(g, a.id, h);
            }
        }
    }

    g.rows(
        "ForumThread",
        &["id", "userId", "title", "lockedById", "createdAt"],
        0.4,
        0.004,
        |g, u, _| {
            let id = g.id("ForumThread");
            g.rec(
                "ForumThread",
                Rec {
                    id,
                    owner: u,
                    ctx: 0,
                },
            );
            let locked = if g.rng.chance(0.1) {
                V::I(*g.rng.of(&g.mods.clone()))
            } else {
                V::N
            };
            Some(vec![
                V::I(id),
                V::I(u),
                V::S(format!("Best settings for SDXL? ({id})")),
                locked,
                g.ts(),
            ])
        },
    );
    let cols = ["id", "threadId", "userId", "parentId", "body", "createdAt"];
    let post = |g: &mut Gen, u: i64, thread: i64, parent: Option<(i64, i64)>| -> i64 {
        let id = g.id("ForumPost");
        let body = match parent {
            Some((_, author)) => format!("@{} {}", g.username(author), phrase(g)),
            None => phrase(g),
        };
        let row = vec![
            V::I(id),
            V::I(thread),
            V::I(u),
            parent.map_or(V::N, |p| V::I(p.0)),
            V::S(body),
            g.ts(),
        ];
        g.put("ForumPost", &cols, u, row);
        id
    };
    let mut jobs: Vec<(i64, bool)> = (0..g.n(3.0)).map(|_| (g.actor(), false)).collect();
    for h in g.heavy.clone() {
        jobs.extend(std::iter::repeat_n((h, true), g.heavy_n(0.04)));
    }
    for i in (1..jobs.len()).rev() {
        let j = g.rng.below(i + 1);
        jobs.swap(i, j);
    }
    let mut lists: HashMap<i64, Vec<(i64, i64)>> = HashMap::new();
    for (u, heavy) in jobs {
        let Some(t) = (if heavy && g.rng.chance(0.5) {
            g.pick_not("ForumThread", u)
        } else {
            g.pick("ForumThread")
        }) else {
            continue;
        };
        let parent = match lists.get(&t.id) {
            Some(list) if g.rng.chance(0.5) => Some(*g.rng.of(list)),
            _ => None,
        };
        let id = post(g, u, t.id, parent);
        lists.entry(t.id).or_default().push((id, u));
    }
    for h in g.heavy.clone() {
        for _ in 0..2 {
            let Some(t) = g.pick_not("ForumThread", h) else {
                continue;
            };
            let mut parent = None;
            for depth in 0..5 {
                let u = if depth % 2 == 0 { h } else { g.other(h) };
                parent = Some((post(g, u, t.id, parent), u));
            }
        }
    }
}
