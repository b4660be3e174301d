//! What a table is about, by its name and columns: its export category, and whether it is
//! a money record kept for the law.

use crate::datamap::catalog::Catalog;
use crate::datamap::spec::Category;

use super::{any_word, words};

/// Table words of money records that tax and bookkeeping law keep.
const MONEY_WORDS: &[&str] = &[
    "payment",
    "purchase",
    "invoice",
    "payout",
    "tax",
    "refund",
    "transaction",
    "tip",
    "ledger",
    "receipt",
    "charge",
    "billing",
    "earning",
    "donation",
    "order",
];

/// Whether a table looks like a money record the law makes the platform keep (payments,
/// purchases, invoices, payouts, tax profiles, transactions, balances).
pub fn is_money_record(catalog: &Catalog, table: &str) -> bool {
    let w = words(table);
    any_word(&w, MONEY_WORDS)
        || catalog
            .columns(table)
            .unwrap_or_default()
            .iter()
            .any(|c| matches!(words(&c.name).as_slice(), [b] if b == "balance" || b == "iban"))
}

/// A category from a table's name, else its columns (`Session` → security, `UserProfile`
/// → account, `NotificationSetting` → preferences, `ChallengeReport` → moderation,
/// `user_ip_history` → device location, `ImageReaction` → activity).
pub fn category_for(catalog: &Catalog, table: &str) -> Category {
    let w = words(table);
    let has = |list: &[&str]| any_word(&w, list);
    let rules: [(&[&str], Category); 6] = [
        (
            &[
                "preference",
                "setting",
                "consent",
                "unsubscribe",
                "optout",
                "feature",
            ],
            Category::Preferences,
        ),
        (
            &[
                "session",
                "token",
                "credential",
                "password",
                "login",
                "auth",
                "oauth",
                "mfa",
                "passkey",
                "webauthn",
                "verification",
                "apikey",
            ],
            Category::Security,
        ),
        (
            &[
                "payment",
                "purchase",
                "invoice",
                "payout",
                "tax",
                "refund",
                "transaction",
                "tip",
                "ledger",
                "receipt",
                "charge",
                "billing",
                "earning",
                "donation",
                "order",
                "subscription",
                "wallet",
                "balance",
                "price",
                "coupon",
            ],
            Category::Payments,
        ),
        (
            &[
                "report",
                "moderation",
                "moderator",
                "ban",
                "flag",
                "appeal",
                "strike",
                "block",
                "mute",
                "warning",
                "abuse",
                "takedown",
                "dispute",
                "complaint",
            ],
            Category::Moderation,
        ),
        (
            &["device", "ip", "location", "geo", "push", "useragent"],
            Category::DeviceLocation,
        ),
        (
            &[
                "follow",
                "follower",
                "reaction",
                "like",
                "notification",
                "view",
                "viewer",
                "vote",
                "favorite",
                "favourite",
                "bookmark",
                "download",
                "activity",
                "log",
                "history",
                "impression",
                "click",
                "visit",
                "star",
                "rating",
                "metric",
                "stat",
                "audit",
                "usage",
                "open",
                "watcher",
                "subscriber",
                "participant",
                "learner",
                "progress",
                "member",
                "membership",
                "collaborator",
                "maintainer",
                "judge",
                "benefactor",
            ],
            Category::Activity,
        ),
    ];
    if has(&["api"]) && has(&["key"]) {
        return Category::Security;
    }
    if let Some((_, c)) = rules.iter().find(|(list, _)| has(list)) {
        return *c;
    }
    let columns: Vec<Vec<String>> = catalog
        .columns(table)
        .unwrap_or_default()
        .iter()
        .map(|c| words(&c.name))
        .collect();
    let column_has = |list: &[&str]| columns.iter().any(|c| any_word(c, list));
    if column_has(&["token", "password"]) {
        return Category::Security;
    }
    if column_has(&["amount", "currency", "iban", "balance"]) {
        return Category::Payments;
    }
    if has(&[
        "user",
        "profile",
        "account",
        "seat",
        "identity",
        "avatar",
        "referral",
        "invitation",
        "invite",
        "tenant",
        "link",
        "vault",
    ]) {
        return Category::Account;
    }
    Category::Content
}
