//! Seeds tenants, users (with the placeholder), profiles, sign-in, memberships, seats,
//! follows and blocks.

use std::collections::HashMap;

use serde_json::json;

use super::AVATARS;
use super::seed::{Gen, V};

/// Tenants, users, profiles, sign-in, memberships, follows.
pub(crate) fn accounts(g: &mut Gen) {
    for (id, name, slug) in [
        (1, "Community", "community"),
        (2, "Studio North", "studio-north"),
        (3, "Pixel Guild", "pixel-guild"),
    ] {
        let row = vec![V::I(id), V::S(name.into()), V::S(slug.into())];
        g.put("Tenant", &["id", "name", "slug"], -1, row);
    }
    let cols = [
        "id",
        "email",
        "username",
        "name",
        "tenantId",
        "avatarKey",
        "signupIp",
        "birthDate",
        "referredById",
        "isModerator",
        "settings",
        "createdAt",
    ];
    g.put(
        "User",
        &cols,
        0,
        vec![
            V::I(0),
            V::S("deleted@placeholder.invalid".into()),
            V::S("deleted".into()),
            V::S("Deleted user".into()),
            V::I(1),
            V::N,
            V::N,
            V::N,
            V::N,
            V::B(false),
            V::J(json!({})),
            V::T(0),
        ],
    );
    for id in 1..g.people.len() as i64 {
        let heavy = g.heavy.contains(&id);
        let p = g.person(id);
        let (email, username, tenant) = (p.email.clone(), p.username.clone(), p.tenant);
        let name = format!(
            "{}{} {}{}",
            p.first[..1].to_uppercase(),
            &p.first[1..],
            p.last[..1].to_uppercase(),
            &p.last[1..]
        );
        let avatar = heavy || g.rng.chance(0.85);
        if avatar {
            g.object(AVATARS, &format!("avatars/{id}/avatar.png"), 64);
            g.object(AVATARS, &format!("avatars/{id}/avatar-128.png"), 128);
        }
        let referred = if id > 1 && g.rng.chance(0.2) {
            V::I(g.rng.range(1, id - 1))
        } else {
            V::N
        };
        let ip = g.ip();
        let birth = format!(
            "{}-{:02}-{:02}",
            1965 + g.rng.below(40),
            1 + g.rng.below(12),
            1 + g.rng.below(28)
        );
        let settings = json!({"theme": *g.rng.of(&["dark", "light"]), "contact": {"email": email, "handle": format!("@{username}")}});
        let ts = g.ts();
        let row = vec![
            V::I(id),
            V::S(email),
            V::S(username),
            V::S(name),
            V::I(tenant),
            if avatar {
                V::S(format!("avatars/{id}/avatar.png"))
            } else {
                V::N
            },
            V::S(ip),
            V::S(birth),
            referred,
            V::B(g.mods.contains(&id)),
            V::J(settings),
            ts,
        ];
        g.put("User", &cols, id, row);
    }
    // Some people were referred by a heavy subject (SET NULL on erasure).
    for h in g.heavy.clone() {
        let ids: Vec<String> = (1..=i64::from(g.o.users))
            .filter(|_| g.rng.chance(0.1))
            .map(|i| i.to_string())
            .collect();
        if !ids.is_empty() {
            g.after.push(format!(
                "UPDATE \"User\" SET \"referredById\" = {h} WHERE \"id\" IN ({});\n",
                ids.join(", ")
            ));
        }
    }
    for id in 1..g.people.len() as i64 {
        if !(g.heavy.contains(&id) || g.rng.chance(0.8)) {
            continue;
        }
        let banner = if g.heavy.contains(&id) || g.rng.chance(0.5) {
            let key = format!("banners/{id}/{}.jpg", g.rng.hex(12));
            g.object(AVATARS, &key, 48);
            V::S(format!("https://cdn.example/{key}"))
        } else {
            V::N
        };
        let u = g.username(id);
        let row = vec![
            V::I(id),
            V::S("Prompt crafter and LoRA tinkerer.".into()),
            V::S((*g.rng.of(&["Berlin", "Lagos", "Osaka", "Recife", "Pune"])).into()),
            banner,
            V::J(json!({"twitter": format!("@{u}")})),
        ];
        g.put(
            "UserProfile",
            &["userId", "bio", "location", "bannerUrl", "socialLinks"],
            id,
            row,
        );
    }
    let cols = [
        "id",
        "userId",
        "type",
        "provider",
        "providerAccountId",
        "access_token",
        "refresh_token",
        "expires_at",
    ];
    let account = |g: &mut Gen, user: i64| {
        let provider = *g.rng.of(&["github", "google", "discord"]);
        let row = vec![
            V::S(g.rng.hex(25)),
            V::I(user),
            V::S("oauth".into()),
            V::S(provider.into()),
            V::S(g.rng.hex(18)),
            V::S(g.rng.hex(40)),
            V::S(g.rng.hex(40)),
            V::I(1_700_000_000 + g.rng.below(50_000_000) as i64),
        ];
        g.put("Account", &cols, user, row);
    };
    for _ in 0..g.n(1.0) {
        let user = g.actor();
        account(g, user);
    }
    for h in g.heavy.clone() {
        account(g, h);
        account(g, h);
    }
    g.rows(
        "Session",
        &[
            "id",
            "sessionToken",
            "userId",
            "expires",
            "ipAddress",
            "userAgent",
            "meta",
        ],
        3.0,
        0.02,
        |g, u, _| {
            let ip = g.ip();
            Some(vec![
                V::S(g.rng.hex(25)),
                V::S(g.rng.hex(32)),
                V::I(u),
                g.ts(),
                V::S(ip.clone()),
                V::S("Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0".into()),
                V::J(json!({"ip": ip, "geo": {"country": "DE"}})),
            ])
        },
    );
    g.rows(
        "ApiKey",
        &["key", "name", "userId", "scope", "lastUsedIp", "createdAt"],
        0.3,
        0.002,
        |g, u, _| {
            Some(vec![
                V::S(g.rng.hex(40)),
                V::S("automation".into()),
                V::I(u),
                V::A(vec!["read".into(), "write".into()]),
                V::S(g.ip()),
                g.ts(),
            ])
        },
    );
    g.rows(
        "UserLink",
        &["userId", "url", "type"],
        1.0,
        0.002,
        |g, u, _| {
            Some(vec![
                V::I(u),
                V::S(format!("https://ko-fi.example/{}", g.username(u))),
                V::S("Sponsorship".into()),
            ])
        },
    );
    for id in 1..g.people.len() as i64 {
        let tenant = g.person(id).tenant;
        g.put(
            "TenantMembership",
            &["userId", "tenantId", "role"],
            id,
            vec![V::I(id), V::I(tenant), V::S("member".into())],
        );
    }
    let mut by_tenant: HashMap<i64, Vec<i64>> = HashMap::new();
    for p in g.people.iter().skip(1) {
        by_tenant.entry(p.tenant).or_default().push(p.id);
    }
    for id in 1..g.people.len() as i64 {
        let tenant = g.person(id).tenant;
        if tenant == 1 {
            continue;
        }
        let by = by_tenant.get(&tenant).map_or(id, |peers| *g.rng.of(peers));
        let by = if by == id || g.rng.chance(0.2) {
            V::N
        } else {
            V::I(by)
        };
        g.put(
            "WorkspaceSeat",
            &["userId", "tenantId", "assignedById", "seatType"],
            id,
            vec![V::I(id), V::I(tenant), by, V::S("creator".into())],
        );
    }
    g.rows(
        "Follow",
        &["followerId", "followingId", "createdAt"],
        4.0,
        0.01,
        |g, u, _| {
            let other = g.other(u);
            g.once("Follow", u, other)
                .then(|| vec![V::I(u), V::I(other), g.ts()])
        },
    );
    for u in 1..=i64::from(g.o.users) {
        for h in g.heavy.clone() {
            if g.rng.chance(0.4) && g.once("Follow", u, h) {
                let ts = g.ts();
                g.put(
                    "Follow",
                    &["followerId", "followingId", "createdAt"],
                    u,
                    vec![V::I(u), V::I(h), ts],
                );
            }
        }
    }
    g.rows(
        "Block",
        &["blockerId", "blockedId", "createdAt"],
        0.2,
        0.001,
        |g, u, _| {
            let other = g.other(u);
            g.once("Block", u, other)
                .then(|| vec![V::I(u), V::I(other), g.ts()])
        },
    );
}
