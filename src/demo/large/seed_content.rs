//! Seeds models, versions, files, posts, images, reactions, tags and metrics, and holds
//! the text helpers the other seeders share. Mentions of people (`@username`, emails)
//! are planted only where a purge of that person deletes or anonymizes them.

use std::collections::HashMap;

use serde_json::json;

use super::seed::{Gen, Rec, V};
use super::{IMAGES, MODELS};

const PHRASES: [&str; 8] = [
    "love the lighting here",
    "which sampler did you use?",
    "this is stunning",
    "great composition, the colours pop",
    "tried your prompt, works well with hires fix",
    "how many steps?",
    "the hands are perfect for once",
    "saving this for reference",
];

pub(crate) fn phrase(g: &mut Gen) -> String {
    (*g.rng.of(&PHRASES)).to_owned()
}

fn uuid_key(g: &mut Gen, ext: &str) -> String {
    let h = g.rng.hex(32);
    format!(
        "{}-{}-{}-{}-{}.{ext}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Owner → rows of a table.
pub(crate) fn by_owner(g: &Gen, table: &str) -> HashMap<i64, Vec<Rec>> {
    let mut out: HashMap<i64, Vec<Rec>> = HashMap::new();
    for r in g.recs(table) {
        out.entry(r.owner).or_default().push(*r);
    }
    out
}

/// Models, posts, images, comments, reactions, tags, metrics.
pub(crate) fn content(g: &mut Gen) {
    let model = |g: &mut Gen, u: i64| {
        let id = g.id("Model");
        g.rec(
            "Model",
            Rec {
                id,
                owner: u,
                ctx: 0,
            },
        );
        let name = format!(
            "{} {}",
            *g.rng.of(&["Dreamy", "Ink", "Retro", "Neon", "Soft"]),
            *g.rng.of(&["Portraits", "Landscapes", "Anime", "Mecha"])
        );
        let row = vec![
            V::I(id),
            V::I(u),
            V::S(name),
            V::S("Trained on public domain art.".into()),
            V::S((*g.rng.of(&["Checkpoint", "LORA", "TextualInversion"])).into()),
            V::B(false),
            V::I(g.rng.range(0, 5000)),
            g.ts(),
        ];
        g.put(
            "Model",
            &[
                "id",
                "userId",
                "name",
                "description",
                "type",
                "nsfw",
                "downloadCount",
                "createdAt",
            ],
            u,
            row,
        );
    };
    for _ in 0..g.n(0.4) {
        let u = g.actor();
        model(g, u);
    }
    for h in g.heavy.clone() {
        for _ in 0..g.heavy_objects(0.06) {
            model(g, h);
        }
    }
    for m in g.recs("Model").to_vec() {
        let versions = if g.heavy.contains(&m.owner) {
            2
        } else {
            g.rng.range(1, 3)
        };
        for v in 0..versions {
            let id = g.id("ModelVersion");
            g.rec(
                "ModelVersion",
                Rec {
                    id,
                    owner: m.owner,
                    ctx: m.id,
                },
            );
            let row = vec![
                V::I(id),
                V::I(m.id),
                V::S(format!("v{}.0", v + 1)),
                V::S((*g.rng.of(&["SD 1.5", "SDXL 1.0", "Flux.1 D"])).into()),
                V::A(vec!["masterpiece".into(), "1girl".into()]),
                g.ts(),
            ];
            g.put(
                "ModelVersion",
                &[
                    "id",
                    "modelId",
                    "name",
                    "baseModel",
                    "trainedWords",
                    "publishedAt",
                ],
                m.owner,
                row,
            );
            let file = format!("model-{id}.safetensors");
            g.object(MODELS, &format!("{id}/{}/{file}", m.owner), 0);
            g.object(MODELS, &format!("{id}/{}/hashes.json", m.owner), 0);
            let row = vec![
                V::I(id),
                V::I(m.owner),
                V::S(file),
                V::F(1024.0 + g.rng.f() * 4096.0),
                V::S(g.rng.hex(64)),
            ];
            g.put(
                "ModelFile",
                &["modelVersionId", "userId", "name", "sizeKB", "sha256"],
                m.owner,
                row,
            );
        }
    }
    g.rows(
        "Post",
        &[
            "id",
            "userId",
            "title",
            "detail",
            "modelVersionId",
            "publishedAt",
        ],
        1.5,
        0.02,
        |g, u, _| {
            let id = g.id("Post");
            g.rec(
                "Post",
                Rec {
                    id,
                    owner: u,
                    ctx: 0,
                },
            );
            let version = if g.rng.chance(0.3) {
                g.pick("ModelVersion").map_or(V::N, |v| V::I(v.id))
            } else {
                V::N
            };
            Some(vec![
                V::I(id),
                V::I(u),
                V::S(format!("Render batch #{id}")),
                V::S(phrase(g)),
                version,
                g.ts(),
            ])
        },
    );
    let posts = by_owner(g, "Post");
    let image = |g: &mut Gen, u: i64| {
        let id = g.id("Image");
        g.rec(
            "Image",
            Rec {
                id,
                owner: u,
                ctx: 0,
            },
        );
        let key = uuid_key(g, "png");
        g.object(IMAGES, &key, 32);
        let post = posts
            .get(&u)
            .filter(|_| g.rng.chance(0.6))
            .map_or(V::N, |p| V::I(g.rng.of(p).id));
        let model = if g.rng.chance(0.4) {
            g.pick("Model").map_or(V::N, |m| V::I(m.id))
        } else {
            V::N
        };
        let meta = json!({"prompt": "a lighthouse at dawn, volumetric light", "seed": g.rng.below(1 << 30), "sampler": "DPM++ 2M", "uploadedBy": {"username": g.username(u), "ip": g.ip()}});
        let row = vec![
            V::I(id),
            V::I(u),
            V::S(key),
            V::S(format!("image-{id}")),
            V::I(832),
            V::I(1216),
            V::B(g.rng.chance(0.1)),
            V::J(meta),
            model,
            post,
            g.ts(),
        ];
        g.put(
            "Image",
            &[
                "id",
                "userId",
                "storageKey",
                "name",
                "width",
                "height",
                "nsfw",
                "meta",
                "modelId",
                "postId",
                "createdAt",
            ],
            u,
            row,
        );
    };
    for _ in 0..g.n(4.0) {
        let u = g.actor();
        image(g, u);
    }
    for h in g.heavy.clone() {
        for _ in 0..g.heavy_objects(0.4) {
            image(g, h);
        }
    }
    let images = by_owner(g, "Image");
    let mut previews = Vec::new();
    for m in g.recs("Model").to_vec() {
        if g.rng.chance(0.7) {
            let img = images
                .get(&m.owner)
                .filter(|_| g.rng.chance(0.7))
                .map(|v| g.rng.of(v).id)
                .or_else(|| g.pick("Image").map(|i| i.id));
            if let Some(img) = img {
                previews.push(format!("({}, {img})", m.id));
            }
        }
    }
    if !previews.is_empty() {
        g.after.push(format!(
            "UPDATE \"Model\" m SET \"previewImageId\" = v.img FROM (VALUES {}) v(id, img) WHERE m.\"id\" = v.id;\n",
            previews.join(", ")
        ));
    }
    super::seed_comments::comments(g);
    let cols = ["commentId", "userId", "reaction"];
    let kinds = ["Like", "Heart", "Laugh", "Cry"];
    g.rows("CommentReaction", &cols, 3.0, 0.03, |g, u, heavy| {
        let c = if heavy {
            g.pick_not("Comment", u)
        } else {
            g.pick("Comment")
        }?;
        let k = g.rng.below(4);
        g.once("CommentReaction", c.id, u * 4 + k as i64)
            .then(|| vec![V::I(c.id), V::I(u), V::S(kinds[k].into())])
    });
    g.rows(
        "ImageReaction",
        &["imageId", "userId", "reaction", "createdAt"],
        8.0,
        0.05,
        |g, u, heavy| {
            let i = if heavy {
                g.pick_not("Image", u)
            } else {
                g.pick("Image")
            }?;
            let k = g.rng.below(4);
            g.once("ImageReaction", i.id, u * 4 + k as i64)
                .then(|| vec![V::I(i.id), V::I(u), V::S(kinds[k].into()), g.ts()])
        },
    );
    for i in 1..=40 {
        g.put(
            "Tag",
            &["id", "name", "type"],
            -1,
            vec![
                V::I(i),
                V::S(format!("tag{i:02}")),
                V::S("UserGenerated".into()),
            ],
        );
    }
    for img in g.recs("Image").to_vec() {
        for _ in 0..g.rng.below(4) {
            let tag = g.rng.range(1, 40);
            if g.once("TagsOnImage", img.id, tag) {
                let row = vec![V::I(img.id), V::I(tag)];
                g.put("TagsOnImage", &["imageId", "tagId"], img.owner, row);
            }
        }
        if g.rng.chance(0.5) {
            let row = vec![V::I(img.id), V::S("Week".into()), V::I(g.rng.range(0, 90))];
            g.put(
                "ImageMetric",
                &["imageId", "timeframe", "reactionCount"],
                img.owner,
                row,
            );
        }
    }
    for m in g.recs("Model").to_vec() {
        let tag = g.rng.range(1, 40);
        let row = vec![V::I(m.id), V::I(tag)];
        g.put("TagsOnModel", &["modelId", "tagId"], m.owner, row);
        for tf in ["Month", "AllTime"] {
            let row = vec![
                V::I(m.id),
                V::S(tf.into()),
                V::I(g.rng.range(0, 900)),
                V::F(3.0 + 2.0 * g.rng.f()),
            ];
            g.put(
                "ModelMetric",
                &["modelId", "timeframe", "downloadCount", "rating"],
                m.owner,
                row,
            );
        }
    }
}
