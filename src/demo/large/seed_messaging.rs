//! Seeds chats, messages, notifications (the actor named in JSON), tracking, vaults and
//! metrics.

use std::collections::HashMap;

use serde_json::json;

use super::FILES;
use super::seed::{Gen, Rec, V};
use super::seed_content::phrase;

fn chat_id(n: i64) -> String {
    format!(
        "cl{:016x}{n:06x}",
        (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    )
}

/// Chats, messages, notifications (the actor named in JSON), tracking and vaults.
pub(crate) fn messaging(g: &mut Gen) {
    let mut member_of: HashMap<i64, Vec<i64>> = HashMap::new();
    g.rows(
        "Chat",
        &["id", "createdById", "title", "createdAt"],
        0.3,
        0.0005,
        |g, u, _| {
            let n = g.id("Chat");
            g.rec(
                "Chat",
                Rec {
                    id: n,
                    owner: u,
                    ctx: 0,
                },
            );
            Some(vec![
                V::S(chat_id(n)),
                V::I(u),
                V::S(format!("crew {n}")),
                g.ts(),
            ])
        },
    );
    for c in g.recs("Chat").to_vec() {
        let mut members = vec![c.owner];
        for _ in 0..g.rng.range(1, 4) {
            members.push(g.anyone());
        }
        for m in members {
            if g.once("ChatMember", c.id, m) {
                member_of.entry(m).or_default().push(c.id);
                g.put(
                    "ChatMember",
                    &["chatId", "userId", "lastViewedAt"],
                    m,
                    vec![V::S(chat_id(c.id)), V::I(m), V::N],
                );
            }
        }
    }
    for h in g.heavy.clone() {
        for _ in 0..g.heavy_n(0.002) {
            let Some(c) = g.pick("Chat") else { break };
            if g.once("ChatMember", c.id, h) {
                member_of.entry(h).or_default().push(c.id);
                g.put(
                    "ChatMember",
                    &["chatId", "userId", "lastViewedAt"],
                    h,
                    vec![V::S(chat_id(c.id)), V::I(h), V::N],
                );
            }
        }
    }
    let mut attachments: HashMap<i64, usize> =
        g.heavy.iter().map(|h| (*h, g.heavy_objects(0.1))).collect();
    g.rows(
        "ChatMessage",
        &[
            "senderId",
            "chatId",
            "content",
            "attachmentKey",
            "createdAt",
        ],
        4.0,
        0.03,
        |g, u, heavy| {
            let chat = *g.rng.of(member_of.get(&u)?);
            let left = attachments.entry(u).or_insert(0);
            let attach = if heavy { *left > 0 } else { g.rng.chance(0.05) };
            let key = if attach {
                *left = left.saturating_sub(1);
                let key = format!("chat/{}/{}.bin", chat_id(chat), g.rng.hex(12));
                g.object(FILES, &key, 0);
                V::S(key)
            } else {
                V::N
            };
            Some(vec![
                V::I(u),
                V::S(chat_id(chat)),
                V::S(phrase(g)),
                key,
                g.ts(),
            ])
        },
    );
    g.rows(
        "DirectMessage",
        &["senderId", "recipientId", "body", "readAt"],
        3.0,
        0.03,
        |g, u, _| {
            let to = g.other(u);
            let read = if g.rng.chance(0.5) { g.ts() } else { V::N };
            Some(vec![
                V::I(u),
                V::I(to),
                V::S(format!("hey @{}, {}", g.username(to), phrase(g))),
                read,
            ])
        },
    );
    g.rows("Notification", &["userId", "actorId", "type", "payload"], 6.0, 0.05, |g, u, _| {
        if g.rng.chance(0.3) {
            return Some(vec![V::I(u), V::N, V::S("system".into()), V::J(json!({"message": "Your model was featured"}))]);
        }
        let actor = g.other(u);
        let p = g.person(actor);
        let payload = json!({"actor": {"id": actor, "username": p.username, "profile": {"contact": p.email}}, "context": {"kind": "reaction", "ip": g.ip()}});
        Some(vec![V::I(u), V::I(actor), V::S("reaction".into()), V::J(payload)])
    });
    let types = [
        "reaction", "comment", "follow", "mention", "tip", "bounty", "digest", "system",
    ];
    for u in 1..g.people.len() as i64 {
        let n = if g.heavy.contains(&u) {
            6
        } else {
            g.rng.below(4)
        };
        for t in types.iter().take(n) {
            g.put(
                "NotificationSetting",
                &["userId", "type"],
                u,
                vec![V::I(u), V::S((*t).into())],
            );
        }
    }
    g.rows(
        "UserActivity",
        &["userId", "activity", "details", "createdAt"],
        10.0,
        0.08,
        |g, u, _| {
            let act = *g.rng.of(&["login", "download", "upload", "search"]);
            Some(vec![
                V::I(u),
                V::S(act.into()),
                V::J(json!({"ip": g.ip(), "ua": "Mozilla/5.0"})),
                g.ts(),
            ])
        },
    );
    g.rows(
        "PostView",
        &["postId", "viewerId", "viewedAt"],
        10.0,
        0.05,
        |g, u, heavy| {
            let p = g.pick("Post")?;
            let viewer = if !heavy && g.rng.chance(0.15) {
                V::N
            } else {
                V::I(u)
            };
            Some(vec![V::I(p.id), viewer, g.ts()])
        },
    );
    g.rows(
        "ModelDownload",
        &["modelVersionId", "userId", "ipAddress", "downloadedAt"],
        5.0,
        0.03,
        |g, u, heavy| {
            let v = g.pick("ModelVersion")?;
            let who = if !heavy && g.rng.chance(0.1) {
                V::N
            } else {
                V::I(u)
            };
            Some(vec![V::I(v.id), who, V::S(g.ip()), g.ts()])
        },
    );
    for u in 1..g.people.len() as i64 {
        let heavy = g.heavy.contains(&u);
        if !(heavy || g.rng.chance(0.3)) {
            continue;
        }
        let row = vec![V::I(u), V::I(g.rng.range(0, 90_000))];
        g.put("Vault", &["userId", "storageKb"], u, row);
        let items = if heavy {
            g.heavy_n(0.01)
        } else {
            g.rng.below(5)
        };
        for _ in 0..items {
            let v = g.pick("ModelVersion").map_or(V::N, |v| V::I(v.id));
            g.put(
                "VaultItem",
                &["vaultId", "modelVersionId", "files", "notes"],
                u,
                vec![
                    V::I(u),
                    v,
                    V::J(json!([{"name": "model.safetensors"}])),
                    V::N,
                ],
            );
        }
    }
    for u in 1..g.people.len() as i64 {
        for tf in ["Week", "AllTime"] {
            let row = vec![
                V::I(u),
                V::S(tf.into()),
                V::I(g.rng.range(0, 500)),
                V::I(g.rng.range(0, 5000)),
            ];
            g.put(
                "UserMetric",
                &["userId", "timeframe", "followerCount", "reactionCount"],
                u,
                row,
            );
        }
    }
}
