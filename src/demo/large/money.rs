//! Money (retained by law), moderation, and the legacy snake_case tables.

use super::model::{Act, ColRule, OnDelete::*, Table, Unlink};

const NOW: &str = "TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP";

fn retain(unlink: Unlink, rules: &[(&str, ColRule)]) -> Act {
    Act::Retain(
        unlink,
        rules.iter().map(|(c, r)| ((*c).to_owned(), *r)).collect(),
    )
}

/// Purchases, payouts, tax profiles, the Buzz ledger, tips and bounties.
pub(crate) fn money() -> Vec<Table> {
    vec![
        Table::new("Purchase", "Purchases of model versions. Kept 10 years, but both keys into \"User\" CASCADE.")
            .id()
            .user_act("buyerId", Cascade, retain(Unlink::Placeholder, &[("billingName", ColRule::Null), ("billingAddress", ColRule::Redact)]))
            .user_act("sellerId", Cascade, retain(Unlink::Placeholder, &[("billingAddress", ColRule::Redact)]))
            // Other people's purchases of the person's versions stay (the key is SET
            // NULL); their billing address may quote the person.
            .fk_with(
                "modelVersionId",
                "ModelVersion",
                SetNull,
                true,
                Act::Anonymize(Unlink::Keep, vec![("billingAddress".into(), ColRule::Redact)]),
            )
            .col("amount", "INTEGER NOT NULL")
            .col("currency", "TEXT NOT NULL DEFAULT 'USD'")
            .col("status", "TEXT NOT NULL")
            .col("billingName", "TEXT")
            .col("billingAddress", "JSONB")
            .col("invoiceKey", "TEXT")
            .col("createdAt", NOW)
            .identity(&["billingAddress", "billingName"]),
        Table::new("PurchaseItem", "Line items; they CASCADE with the version they sold.")
            .id()
            .fk("purchaseId", "Purchase", Cascade)
            // Discovery asks whether line items are money records to keep; they go with
            // the version they sold.
            .fk_with("modelVersionId", "ModelVersion", Cascade, false, Act::Delete)
            .col("price", "INTEGER NOT NULL"),
        Table::new("Refund", "Refunds; a reviewed refund must name its reviewer.")
            .id()
            .fk("purchaseId", "Purchase", Restrict)
            .user_act("reviewerId", SetNull, Act::Reassign(Unlink::Placeholder))
            .col("status", "TEXT NOT NULL")
            .col("reason", "TEXT")
            .check("status <> 'reviewed' OR \"reviewerId\" IS NOT NULL"),
        Table::new("Payout", "Payouts to creators; kept 10 years, the key CASCADEs.")
            .id()
            .user_act("userId", Cascade, retain(Unlink::Placeholder, &[("iban", ColRule::Hash)]))
            .col("amount", "INTEGER NOT NULL")
            .col("currency", "TEXT NOT NULL DEFAULT 'USD'")
            .col("iban", "TEXT")
            .col("status", "TEXT NOT NULL")
            .col("paidAt", "TIMESTAMP(3)"),
        Table::new("PayoutItem", "What a payout paid for.")
            .id()
            .fk("payoutId", "Payout", Cascade)
            .fk("purchaseId", "Purchase", SetNull)
            .col("amount", "INTEGER NOT NULL"),
        Table::new("TaxProfile", "One tax profile per user (UNIQUE), kept by law, RESTRICT.")
            .id()
            .user_act("userId", Restrict, retain(Unlink::Tombstone, &[]))
            .col("legalName", "TEXT NOT NULL")
            .col("taxId", "TEXT")
            .col("country", "TEXT NOT NULL")
            .col("verifiedAt", "TIMESTAMP(3)")
            .unique(&["userId"]),
        Table::new("BuzzAccount", "One Buzz wallet per user (UNIQUE), kept for the ledger, CASCADE.")
            .id()
            .user_act("userId", Cascade, retain(Unlink::Tombstone, &[]))
            .col("balance", "INTEGER NOT NULL DEFAULT 0")
            .col("lifetime", "INTEGER NOT NULL DEFAULT 0")
            .unique(&["userId"]),
        Table::new("BuzzTransaction", "The Buzz ledger: soft links both ways; details name both parties.")
            .id()
            .soft("fromUserId", "User", true, retain(Unlink::Placeholder, &[("details", ColRule::Redact)]))
            .soft("toUserId", "User", true, retain(Unlink::Placeholder, &[("details", ColRule::Redact)]))
            .col("amount", "INTEGER NOT NULL")
            .col("type", "TEXT NOT NULL")
            .col("details", "JSONB")
            .col("createdAt", NOW)
            .identity(&["details"]),
        Table::new("Tip", "Tips: the tipper is a soft link, the recipient CASCADEs; messages thank the recipient.")
            .id()
            .soft("fromUserId", "User", false, retain(Unlink::Placeholder, &[("message", ColRule::Redact)]))
            .user_act("toUserId", Cascade, retain(Unlink::Placeholder, &[("message", ColRule::Redact)]))
            .col("amount", "INTEGER NOT NULL")
            .col("message", "TEXT")
            .col("createdAt", NOW)
            .identity(&["message"]),
        Table::new("Subscription", "Membership subscriptions.")
            .id()
            .fk("userId", "User", Cascade)
            .col("productId", "TEXT NOT NULL")
            .col("status", "TEXT NOT NULL")
            .col("currentPeriodEnd", "TIMESTAMP(3)"),
        Table::new("Bounty", "Bounties; the creator key RESTRICTs (others' entries must survive).")
            .id()
            .user_act("userId", Restrict, Act::Reassign(Unlink::Placeholder))
            .col("name", "TEXT NOT NULL")
            .col("description", "TEXT")
            .col("type", "TEXT NOT NULL")
            .col("expiresAt", "TIMESTAMP(3)"),
        Table::new("BountyEntry", "Entries to a bounty.")
            .id()
            .fk("bountyId", "Bounty", Cascade)
            .fk("userId", "User", Cascade)
            .fk("imageId", "Image", SetNull)
            .col("description", "TEXT"),
        Table::new("BountyBenefactor", "People who added to a bounty's prize.")
            .fk("bountyId", "Bounty", Cascade)
            .fk("userId", "User", Cascade)
            .col("unitAmount", "INTEGER NOT NULL")
            .pk(&["bountyId", "userId"]),
    ]
}

/// Reports, reviews and invitations.
pub(crate) fn moderation() -> Vec<Table> {
    vec![
        Table::new(
            "Report",
            "Reports about users; a resolved report must name its reviewer.",
        )
        .id()
        .fk("reporterId", "User", Cascade)
        .user_act(
            "targetUserId",
            SetNull,
            Act::Anonymize(
                Unlink::Keep,
                vec![
                    ("details".into(), ColRule::Redact),
                    ("reason".into(), ColRule::Redact),
                ],
            ),
        )
        .fk_with(
            "reviewedById",
            "User",
            NoAction,
            true,
            Act::Anonymize(
                Unlink::Placeholder,
                vec![
                    ("details".into(), ColRule::Redact),
                    ("reason".into(), ColRule::Redact),
                ],
            ),
        )
        .col("status", "TEXT NOT NULL")
        .col("reason", "TEXT")
        .col("details", "JSONB")
        .check("status <> 'resolved' OR \"reviewedById\" IS NOT NULL")
        .identity(&["reason", "details"]),
        Table::new(
            "ResourceReview",
            "Reviews of model versions; a reviewed review must name its moderator.",
        )
        .id()
        .fk("userId", "User", Cascade)
        .fk("modelVersionId", "ModelVersion", Cascade)
        .user_act("moderatorId", SetNull, Act::Reassign(Unlink::Placeholder))
        .col("rating", "INTEGER NOT NULL")
        .col("details", "TEXT")
        .col("status", "TEXT NOT NULL DEFAULT 'pending'")
        .check("status <> 'reviewed' OR \"moderatorId\" IS NOT NULL"),
        Table::new(
            "Invitation",
            "Invitations; an accepted one names the invitee by id and by email.",
        )
        .id()
        .fk("inviterId", "User", Cascade)
        .user_act(
            "inviteeId",
            SetNull,
            Act::Anonymize(Unlink::Keep, vec![("email".into(), ColRule::Null)]),
        )
        .col("email", "TEXT")
        .col("token", "TEXT NOT NULL")
        .col("acceptedAt", "TIMESTAMP(3)")
        .identity(&["email"]),
    ]
}

/// Tables from before the Prisma migration: snake_case, constraints inline.
pub(crate) fn legacy() -> Vec<Table> {
    vec![
        Table::new("email_log", "Sent mail (legacy).")
            .id()
            .fk("user_id", "User", Cascade)
            .col("template", "text NOT NULL")
            .col("to_address", "text NOT NULL")
            .col("sent_at", "timestamptz NOT NULL DEFAULT now()")
            .identity(&["to_address"]),
        Table::new("api_request_log", "API requests (legacy; soft link).")
            .id()
            .soft("user_id", "User", true, Act::Delete)
            .col("path", "text NOT NULL")
            .col("ip", "inet")
            .col("requested_at", "timestamptz NOT NULL DEFAULT now()"),
        Table::new("marketing_consent", "Marketing consent (legacy).")
            .fk("user_id", "User", Cascade)
            .pk(&["user_id"])
            .col("newsletter", "boolean NOT NULL DEFAULT false")
            .col("partners", "boolean NOT NULL DEFAULT false")
            .col("updated_at", "timestamptz NOT NULL DEFAULT now()"),
        Table::new("feature_flag_override", "Per-user feature flags (legacy).")
            .id()
            .fk("user_id", "User", Cascade)
            .col("flag", "text NOT NULL")
            .col("enabled", "boolean NOT NULL"),
        Table::new("image_moderation_queue", "Moderation queue (legacy).")
            .id()
            .fk("image_id", "Image", Cascade)
            .fk("moderator_id", "User", SetNull)
            .col("decision", "text")
            .col("decided_at", "timestamptz"),
        Table::new("payment_event", "Payment provider webhooks (legacy).")
            .id()
            .fk("purchase_id", "Purchase", SetNull)
            .col("kind", "text NOT NULL")
            .col("payload", "jsonb NOT NULL"),
        Table::new("user_ip_history", "Sign-in addresses (legacy).")
            .id()
            .fk("user_id", "User", Cascade)
            .col("ip", "inet NOT NULL")
            .col("seen_at", "timestamptz NOT NULL DEFAULT now()"),
        Table::new(
            "legacy_user_settings",
            "Old settings blob; RESTRICT so nobody forgets it.",
        )
        .user_act("user_id", Restrict, Act::Delete)
        .pk(&["user_id"])
        .col("settings", "jsonb NOT NULL DEFAULT '{}'"),
    ]
}
