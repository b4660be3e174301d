//! Seeds reports, reviews, invitations and the legacy snake_case tables.

use serde_json::json;

use super::seed::{Gen, V};
use super::seed_content::phrase;
use super::seed_money::moderator;

pub(crate) fn moderation(g: &mut Gen) {
    g.rows("Report", &["reporterId", "targetUserId", "reviewedById", "status", "reason", "details"], 0.3, 0.002, |g, u, _| {
        let target = g.other(u);
        let ip = g.ip();
        let t = g.person(target);
        let details = json!({"evidence": {"profile": {"username": t.username, "email": t.email}, "ip": ip}});
        let reason = format!("@{} keeps reposting my images", t.username);
        let roll = g.rng.f();
        let (status, reviewer) = if roll < 0.4 {
            match moderator(g, &[u, target]) {
                Some(m) => ("resolved", V::I(m)),
                None => ("open", V::N),
            }
        } else if roll < 0.6 {
            ("dismissed", V::N)
        } else {
            ("open", V::N)
        };
        Some(vec![V::I(u), V::I(target), reviewer, V::S(status.into()), V::S(reason), V::J(details)])
    });
    g.rows(
        "ResourceReview",
        &[
            "userId",
            "modelVersionId",
            "moderatorId",
            "rating",
            "details",
            "status",
        ],
        1.0,
        0.01,
        |g, u, _| {
            let v = g.pick_not("ModelVersion", u)?;
            let m = if g.rng.chance(0.35) {
                moderator(g, &[u, v.owner])
            } else {
                None
            };
            let status = if m.is_some() { "reviewed" } else { "pending" };
            Some(vec![
                V::I(u),
                V::I(v.id),
                m.map_or(V::N, V::I),
                V::I(g.rng.range(1, 5)),
                V::S(phrase(g)),
                V::S(status.into()),
            ])
        },
    );
    g.rows(
        "Invitation",
        &["inviterId", "inviteeId", "email", "token", "acceptedAt"],
        0.3,
        0.002,
        |g, u, _| {
            if g.rng.chance(0.5) {
                let to = g.other(u);
                Some(vec![
                    V::I(u),
                    V::I(to),
                    V::S(g.person(to).email.clone()),
                    V::S(g.rng.hex(20)),
                    g.ts(),
                ])
            } else {
                Some(vec![
                    V::I(u),
                    V::N,
                    V::S(format!("friend{}@mail.example", g.rng.hex(6))),
                    V::S(g.rng.hex(20)),
                    V::N,
                ])
            }
        },
    );
}

/// The snake_case tables from before the Prisma migration.
pub(crate) fn legacy(g: &mut Gen) {
    g.rows(
        "email_log",
        &["user_id", "template", "to_address", "sent_at"],
        4.0,
        0.02,
        |g, u, _| {
            let t = *g.rng.of(&["welcome", "digest", "password_reset"]);
            Some(vec![
                V::I(u),
                V::S(t.into()),
                V::S(g.person(u).email.clone()),
                g.ts(),
            ])
        },
    );
    g.rows(
        "api_request_log",
        &["user_id", "path", "ip", "requested_at"],
        5.0,
        0.03,
        |g, u, heavy| {
            let who = if !heavy && g.rng.chance(0.1) {
                V::N
            } else {
                V::I(u)
            };
            Some(vec![
                who,
                V::S("/api/v1/models".into()),
                V::S(g.ip()),
                g.ts(),
            ])
        },
    );
    g.rows(
        "feature_flag_override",
        &["user_id", "flag", "enabled"],
        0.3,
        0.001,
        |g, u, _| {
            Some(vec![
                V::I(u),
                V::S((*g.rng.of(&["new-editor", "beta-feed"])).into()),
                V::B(g.rng.chance(0.5)),
            ])
        },
    );
    g.rows(
        "user_ip_history",
        &["user_id", "ip", "seen_at"],
        4.0,
        0.02,
        |g, u, _| Some(vec![V::I(u), V::S(g.ip()), g.ts()]),
    );
    for u in 1..g.people.len() as i64 {
        let heavy = g.heavy.contains(&u);
        if heavy || g.rng.chance(0.7) {
            let row = vec![V::I(u), V::B(g.rng.chance(0.5)), V::B(false)];
            g.put(
                "marketing_consent",
                &["user_id", "newsletter", "partners"],
                u,
                row,
            );
        }
        if heavy || g.rng.chance(0.4) {
            let row = vec![
                V::I(u),
                V::J(json!({"nsfw": false, "email": g.person(u).email})),
            ];
            g.put("legacy_user_settings", &["user_id", "settings"], u, row);
        }
    }
    for img in g.recs("Image").to_vec() {
        if g.rng.chance(0.1) {
            let m = if g.rng.chance(0.6) {
                moderator(g, &[img.owner])
            } else {
                None
            };
            let row = vec![
                V::I(img.id),
                m.map_or(V::N, V::I),
                V::S("approved".into()),
                g.ts(),
            ];
            g.put(
                "image_moderation_queue",
                &["image_id", "moderator_id", "decision", "decided_at"],
                m.unwrap_or(img.owner),
                row,
            );
        }
    }
    for p in g.recs("Purchase").to_vec() {
        if g.rng.chance(0.5) {
            g.put(
                "payment_event",
                &["purchase_id", "kind", "payload"],
                p.owner,
                vec![
                    V::I(p.id),
                    V::S("charge.succeeded".into()),
                    V::J(json!({"provider": "stripe", "purchase": p.id})),
                ],
            );
        }
    }
}
