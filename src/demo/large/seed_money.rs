//! Seeds money: purchases and their line items, refunds, payouts, tax profiles, wallets,
//! the Buzz ledger, tips, subscriptions and bounties.

use std::collections::{HashMap, HashSet};

use serde_json::json;

use super::FILES;
use super::seed::{Gen, Rec, V};
use super::seed_content::phrase;

/// A moderator other than the given people.
pub(crate) fn moderator(g: &mut Gen, not: &[i64]) -> Option<i64> {
    let mods: Vec<i64> = g
        .mods
        .iter()
        .copied()
        .filter(|m| !not.contains(m))
        .collect();
    (!mods.is_empty()).then(|| *g.rng.of(&mods))
}

/// Purchases and what hangs below them, payouts, tax profiles, wallets, the ledger,
/// tips, subscriptions, bounties, reports, reviews and invitations.
pub(crate) fn money(g: &mut Gen) {
    let mut sales: Vec<(i64, i64, i64)> = Vec::new();
    let cols = [
        "id",
        "buyerId",
        "sellerId",
        "modelVersionId",
        "amount",
        "status",
        "billingName",
        "billingAddress",
        "invoiceKey",
        "createdAt",
    ];
    g.rows("Purchase", &cols, 0.8, 0.01, |g, u, _| {
        let v = g.pick_not("ModelVersion", u)?;
        if v.owner == u {
            return None;
        }
        let id = g.id("Purchase");
        sales.push((id, v.id, v.owner));
        g.rec("Purchase", Rec { id, owner: u, ctx: v.owner });
        let p = g.person(u);
        let name = format!("{} {}", p.first, p.last);
        let address = json!({"email": p.email, "line1": format!("{} Harbour Road", 1 + id % 90), "city": "Lyon", "country": "FR"});
        let invoice = if id <= 150 {
            let key = format!("invoices/{id}.pdf");
            g.object(FILES, &key, 0);
            V::S(key)
        } else {
            V::N
        };
        let status = if g.rng.chance(0.9) { "succeeded" } else { "refunded" };
        Some(vec![V::I(id), V::I(u), V::I(v.owner), V::I(v.id), V::I(g.rng.range(100, 5000)), V::S(status.into()), V::S(name), V::J(address), invoice, g.ts()])
    });
    let mut versions_of: HashMap<i64, Vec<i64>> = HashMap::new();
    for v in g.recs("ModelVersion") {
        versions_of.entry(v.owner).or_default().push(v.id);
    }
    for &(purchase, version, seller) in &sales {
        g.put(
            "PurchaseItem",
            &["purchaseId", "modelVersionId", "price"],
            seller,
            vec![V::I(purchase), V::I(version), V::I(500)],
        );
        let other = versions_of.get(&seller).map_or(version, |v| *g.rng.of(v));
        if other != version && g.rng.chance(0.4) {
            g.put(
                "PurchaseItem",
                &["purchaseId", "modelVersionId", "price"],
                seller,
                vec![V::I(purchase), V::I(other), V::I(300)],
            );
        }
        if g.rng.chance(0.08) {
            let buyer = g
                .recs("Purchase")
                .get(purchase as usize - 1)
                .map_or(0, |r| r.owner);
            let reviewer = if g.rng.chance(0.6) {
                moderator(g, &[buyer, seller])
            } else {
                None
            };
            let status = if reviewer.is_some() {
                "reviewed"
            } else {
                "pending"
            };
            g.put(
                "Refund",
                &["purchaseId", "reviewerId", "status", "reason"],
                reviewer.unwrap_or(-1),
                vec![
                    V::I(purchase),
                    reviewer.map_or(V::N, V::I),
                    V::S(status.into()),
                    V::S("did not work with SDXL".into()),
                ],
            );
        }
    }
    let mut sold_by: HashMap<i64, Vec<i64>> = HashMap::new();
    for &(purchase, _, seller) in &sales {
        sold_by.entry(seller).or_default().push(purchase);
    }
    g.rows(
        "Payout",
        &["id", "userId", "amount", "iban", "status", "paidAt"],
        0.2,
        0.003,
        |g, u, _| {
            let id = g.id("Payout");
            g.rec(
                "Payout",
                Rec {
                    id,
                    owner: u,
                    ctx: 0,
                },
            );
            Some(vec![
                V::I(id),
                V::I(u),
                V::I(g.rng.range(1000, 90_000)),
                V::S(format!("DE{}", g.rng.range(10_000_000_000, 99_999_999_999))),
                V::S("paid".into()),
                g.ts(),
            ])
        },
    );
    for p in g.recs("Payout").to_vec() {
        for _ in 0..g.rng.range(1, 3) {
            let purchase = sold_by.get(&p.owner).map_or(V::N, |s| V::I(*g.rng.of(s)));
            let row = vec![V::I(p.id), purchase, V::I(g.rng.range(100, 900))];
            g.put(
                "PayoutItem",
                &["payoutId", "purchaseId", "amount"],
                p.owner,
                row,
            );
        }
    }
    let sellers: HashSet<i64> = sales
        .iter()
        .map(|s| s.2)
        .chain(g.heavy.iter().copied())
        .collect();
    for u in 1..g.people.len() as i64 {
        if sellers.contains(&u) && (g.heavy.contains(&u) || g.rng.chance(0.6)) {
            let p = g.person(u);
            let name = format!("{} {}", p.first, p.last);
            let row = vec![V::I(u), V::S(name), V::S(g.rng.hex(11)), V::S("DE".into())];
            g.put(
                "TaxProfile",
                &["userId", "legalName", "taxId", "country"],
                u,
                row,
            );
        }
        if g.heavy.contains(&u) || g.rng.chance(0.6) {
            let row = vec![
                V::I(u),
                V::I(g.rng.range(0, 9000)),
                V::I(g.rng.range(9000, 90_000)),
            ];
            g.put("BuzzAccount", &["userId", "balance", "lifetime"], u, row);
        }
        if g.heavy.contains(&u) || g.rng.chance(0.25) {
            g.put(
                "Subscription",
                &["userId", "productId", "status"],
                u,
                vec![V::I(u), V::S("prod_member".into()), V::S("active".into())],
            );
        }
    }
    g.rows("BuzzTransaction", &["fromUserId", "toUserId", "amount", "type", "details", "createdAt"], 3.0, 0.03, |g, u, _| {
        let other = g.other(u);
        let (from, to) = if g.rng.chance(0.5) { (Some(u), other) } else if g.rng.chance(0.2) { (None, u) } else { (Some(other), u) };
        let t = g.person(to);
        let mut details = json!({"memo": format!("for @{}", t.username), "to": {"username": t.username, "email": t.email}});
        if let Some(f) = from {
            details["from"] = json!({"username": g.username(f)});
        }
        let kind = if from.is_some() { "tip" } else { "reward" };
        Some(vec![from.map_or(V::N, V::I), V::I(to), V::I(g.rng.range(5, 500)), V::S(kind.into()), V::J(details), g.ts()])
    });
    g.rows(
        "Tip",
        &["fromUserId", "toUserId", "amount", "message", "createdAt"],
        0.5,
        0.005,
        |g, u, _| {
            let to = g.other(u);
            let message = if g.rng.chance(0.7) {
                V::S(format!("Thanks @{} for the model!", g.username(to)))
            } else {
                V::N
            };
            Some(vec![
                V::I(u),
                V::I(to),
                V::I(g.rng.range(10, 1000)),
                message,
                g.ts(),
            ])
        },
    );
    bounties(g);
    super::seed_moderation::moderation(g);
}

fn bounties(g: &mut Gen) {
    g.rows(
        "Bounty",
        &["id", "userId", "name", "description", "type", "expiresAt"],
        0.15,
        0.002,
        |g, u, _| {
            let id = g.id("Bounty");
            g.rec(
                "Bounty",
                Rec {
                    id,
                    owner: u,
                    ctx: 0,
                },
            );
            Some(vec![
                V::I(id),
                V::I(u),
                V::S(format!("Make a LoRA of style #{id}")),
                V::S(phrase(g)),
                V::S("ModelCreation".into()),
                g.ts(),
            ])
        },
    );
    let entry = |g: &mut Gen, bounty: i64, u: i64| {
        let img = if g.rng.chance(0.6) {
            g.pick("Image").map_or(V::N, |i| V::I(i.id))
        } else {
            V::N
        };
        let row = vec![V::I(bounty), V::I(u), img, V::S(phrase(g))];
        g.put(
            "BountyEntry",
            &["bountyId", "userId", "imageId", "description"],
            u,
            row,
        );
    };
    for b in g.recs("Bounty").to_vec() {
        for _ in 0..g.rng.below(5) {
            let u = g.other(b.owner);
            entry(g, b.id, u);
        }
        let mut givers = vec![b.owner];
        for _ in 0..g.rng.below(3) {
            givers.push(g.anyone());
        }
        for u in givers {
            if g.once("BountyBenefactor", b.id, u) {
                let row = vec![V::I(b.id), V::I(u), V::I(g.rng.range(100, 5000))];
                g.put(
                    "BountyBenefactor",
                    &["bountyId", "userId", "unitAmount"],
                    u,
                    row,
                );
            }
        }
    }
    for h in g.heavy.clone() {
        for _ in 0..g.heavy_n(0.003) {
            if let Some(b) = g.pick_not("Bounty", h) {
                entry(g, b.id, h);
            }
        }
    }
}
