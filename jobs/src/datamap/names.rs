//! Guesses from names, in any naming style (`snake_case`, `camelCase`, `PascalCase`):
//! what a column holds (personal data, a user reference, a reference to another table,
//! an object key) and what a table is about (its export category, whether it is a money
//! record kept for the law). Discovery and the coverage check share them; sampling the
//! data ([`super::sample`]) confirms what names only suggest.

use super::catalog::{Catalog, ColumnInfo};
use super::spec::Category;

/// The lowercase words of an identifier: split at `_`, `-`, spaces, lower→upper and
/// acronym→word boundaries and digits; numbers dropped (`fromUserId` → from, user, id;
/// `APIKey` → api, key; `address_line1` → address, line).
pub fn words(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.chars().collect();
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            out.push(std::mem::take(&mut cur));
            continue;
        }
        let prev = i.checked_sub(1).map(|p| chars[p]);
        let next = chars.get(i + 1).copied();
        let boundary = match prev {
            Some(p) if p.is_alphanumeric() => {
                (p.is_lowercase() && c.is_uppercase())
                    || (p.is_uppercase()
                        && c.is_uppercase()
                        && next.is_some_and(char::is_lowercase))
                    || (p.is_ascii_digit() != c.is_ascii_digit())
            }
            _ => false,
        };
        if boundary {
            out.push(std::mem::take(&mut cur));
        }
        cur.extend(c.to_lowercase());
    }
    out.push(cur);
    out.retain(|w| !w.is_empty() && !w.chars().all(|c| c.is_ascii_digit()));
    out
}

/// The identifier lowercased with separators removed (`model_versions` → `modelversions`).
pub fn squashed(name: &str) -> String {
    words(name).concat()
}

/// `word` or its plural.
fn is_word(part: &str, word: &str) -> bool {
    part == word
        || part.strip_suffix('s') == Some(word)
        || (word.ends_with('y') && part.strip_suffix("ies") == word.strip_suffix('y'))
}

fn any_word(parts: &[String], list: &[&str]) -> bool {
    parts.iter().any(|p| list.iter().any(|w| is_word(p, w)))
}

/// What kind of personal data a column's name suggests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PersonalKind {
    /// An email address.
    Email,
    /// An IP address.
    IpAddress,
    /// A browser's user agent.
    UserAgent,
    /// A date (or place) of birth.
    Birth,
    /// A phone number.
    Phone,
    /// A person's name or username.
    Name,
    /// A postal address or part of one.
    Address,
    /// A geographic location or coordinates.
    Location,
    /// An identity document, tax or bank identifier, or payment card.
    Identifier,
}

impl PersonalKind {
    /// A short label for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::IpAddress => "ip address",
            Self::UserAgent => "user agent",
            Self::Birth => "birth",
            Self::Phone => "phone",
            Self::Name => "name",
            Self::Address => "address",
            Self::Location => "location",
            Self::Identifier => "identifier",
        }
    }
}

const NAME_QUALIFIERS: &[&str] = &[
    "first",
    "last",
    "full",
    "display",
    "real",
    "given",
    "family",
    "middle",
    "maiden",
    "legal",
    "nick",
    "sur",
    "fore",
    "screen",
    "billing",
    "shipping",
    "contact",
    "user",
    "customer",
    "account",
    "holder",
    "card",
    "owner",
    "author",
    "person",
    "member",
    "sender",
    "recipient",
    "birth",
    "emergency",
    "guardian",
    "parent",
];
const NAME_WORDS: &[&str] = &[
    "username",
    "firstname",
    "lastname",
    "fullname",
    "surname",
    "nickname",
    "displayname",
    "givenname",
    "familyname",
    "forename",
    "middlename",
    "realname",
    "legalname",
];
/// Last words that make a column a flag, count, time or reference *about* personal data.
const NOT_DATA_SUFFIXES: &[&str] = &[
    "id",
    "ids",
    "count",
    "at",
    "on",
    "verified",
    "confirmed",
    "enabled",
    "disabled",
    "flag",
    "type",
    "kind",
    "format",
    "status",
    "visibility",
    "visible",
    "public",
    "required",
    "optin",
    "optout",
    "consent",
    "template",
];
const PERSON_TABLES: &[&str] = &[
    "user",
    "account",
    "customer",
    "member",
    "person",
    "people",
    "contact",
    "profile",
    "author",
    "employee",
    "staff",
    "subscriber",
    "recipient",
    "guest",
    "patient",
    "student",
    "owner",
    "applicant",
    "candidate",
    "client",
    "buyer",
    "seller",
    "attendee",
    "participant",
    "player",
];

/// What personal data a column name suggests (`email`, `signupIp`, `first_name`,
/// `billingAddress`, `birthDate`, `user_agent`, `taxId`, `iban`, …). Flags, counts,
/// timestamps and references about such data (`emailVerified`, `phone_confirmed_at`,
/// `addressId`) are not personal data themselves. A bare `name` counts only in a table of
/// people.
pub fn personal_kind(table: &str, column: &str) -> Option<PersonalKind> {
    let p = words(column);
    if p == ["name"] {
        return any_word(&words(table), PERSON_TABLES).then_some(PersonalKind::Name);
    }
    let has = |list: &[&str]| any_word(&p, list);
    let pair = |a: &str, b: &str| p.windows(2).any(|w| is_word(&w[0], a) && is_word(&w[1], b));
    if has(&["ssn", "passport", "iban", "taxid", "nationalid"])
        || pair("tax", "id")
        || pair("national", "id")
    {
        return Some(PersonalKind::Identifier);
    }
    if p.last()
        .is_some_and(|l| NOT_DATA_SUFFIXES.contains(&l.as_str()))
    {
        return None;
    }
    let kinds: [(&[&str], PersonalKind); 5] = [
        (&["email", "mail"], PersonalKind::Email),
        (
            &["ip", "ipaddr", "ipaddress", "ipv"],
            PersonalKind::IpAddress,
        ),
        (&["useragent"], PersonalKind::UserAgent),
        (
            &["birth", "birthday", "birthdate", "dob", "birthplace"],
            PersonalKind::Birth,
        ),
        (
            &["phone", "mobile", "telephone", "msisdn", "fax", "cellphone"],
            PersonalKind::Phone,
        ),
    ];
    for (list, kind) in kinds {
        if has(list) && !(kind == PersonalKind::Email && has(&["campaign", "queue", "provider"])) {
            return Some(kind);
        }
    }
    if pair("user", "agent") {
        return Some(PersonalKind::UserAgent);
    }
    if has(NAME_WORDS)
        || p.iter()
            .position(|w| w == "name")
            .is_some_and(|i| p[..i].iter().any(|q| NAME_QUALIFIERS.contains(&q.as_str())))
    {
        return Some(PersonalKind::Name);
    }
    if has(&[
        "address",
        "addr",
        "street",
        "city",
        "postcode",
        "postalcode",
        "postal",
        "zip",
        "zipcode",
    ]) {
        return Some(PersonalKind::Address);
    }
    if has(&[
        "location",
        "geolocation",
        "geo",
        "lat",
        "lng",
        "lon",
        "latitude",
        "longitude",
        "coordinates",
        "gps",
    ]) {
        return Some(PersonalKind::Location);
    }
    has(&["creditcard", "cardnumber", "bank"]).then_some(PersonalKind::Identifier)
}

/// Words that name a person in a reference column (`ownerId`, `recipient_id`).
const PERSON_WORDS: &[&str] = &[
    "user",
    "owner",
    "author",
    "creator",
    "member",
    "customer",
    "person",
    "sender",
    "recipient",
    "actor",
    "host",
    "leader",
    "artist",
    "buyer",
    "seller",
    "participant",
    "contributor",
    "target",
];
/// Words ending like agent nouns that do not name people.
const NOT_PEOPLE: &[&str] = &[
    "order",
    "folder",
    "layer",
    "filter",
    "header",
    "footer",
    "cluster",
    "counter",
    "parameter",
    "container",
    "provider",
    "server",
    "buffer",
    "marker",
    "sticker",
    "banner",
    "poster",
    "tier",
    "power",
    "paper",
    "cover",
    "color",
    "colour",
    "vendor",
    "sensor",
    "vector",
    "error",
    "mirror",
    "sector",
    "monitor",
    "tensor",
    "processor",
    "selector",
    "indicator",
    "anchor",
    "factor",
    "motor",
    "floor",
    "door",
    "number",
    "answer",
    "chapter",
    "letter",
    "register",
    "ledger",
    "trigger",
    "timer",
    "scheduler",
    "worker",
    "computer",
    "router",
    "adapter",
    "loader",
    "parser",
    "handler",
    "listener",
    "center",
    "character",
    "voucher",
    "offer",
    "transfer",
    "tracker",
    "sampler",
    "upscaler",
    "generator",
    "connector",
    "detector",
    "iterator",
    "locator",
    "predictor",
    "fee",
    "coffee",
    "degree",
    "tree",
    "committee",
    "parent",
    "former",
    "latter",
    "after",
    "super",
    "master",
    "other",
    "outer",
    "inner",
    "upper",
    "lower",
    "cursor",
    "major",
    "minor",
    "interior",
    "exterior",
    "prior",
    "ancestor",
    "filler",
    "wrapper",
    "player",
    "partner",
    "manager",
];

fn is_agent_noun(word: &str) -> bool {
    word.len() >= 5
        && ["er", "or", "ee", "ist"].iter().any(|s| word.ends_with(s))
        && !NOT_PEOPLE.contains(&word)
}

/// Whether a column name looks like a reference to a person: `userId`, `from_user_id`,
/// `ownerId`, `viewerId`, `createdById`, `reviewed_by`, `created_by`, `owner`.
pub fn looks_like_person_reference(column: &str) -> bool {
    let w = words(column);
    match w.as_slice() {
        [] => false,
        [only] => ["owner", "user", "author", "creator"].contains(&only.as_str()),
        [.., by] if by == "by" => true,
        [base @ .., id] if id == "id" => {
            base.last().is_some_and(|l| l == "by")
                || base
                    .iter()
                    .any(|b| PERSON_WORDS.iter().any(|p| is_word(b, p)) || is_agent_noun(b))
        }
        _ => false,
    }
}

/// The table a reference column names, by the words before its `id` (`postId` → `Post`,
/// `modelVersionId` → `ModelVersion`, `image_id` → `images`, `coverImageId` → `Image`):
/// the longest run of trailing words that is a table's name (singular or plural).
pub fn referenced_table<'a>(column: &str, tables: &[&'a str]) -> Option<&'a str> {
    let w = words(column);
    let base = match w.split_last() {
        Some((last, base)) if last == "id" && !base.is_empty() => base,
        _ => return None,
    };
    for start in 0..base.len() {
        let want = base[start..].concat();
        let found = tables.iter().find(|t| {
            let t = squashed(t);
            t == want
                || t == format!("{want}s")
                || t == format!("{want}es")
                || want
                    .strip_suffix('y')
                    .is_some_and(|s| t == format!("{s}ies"))
        });
        if let Some(t) = found {
            return Some(t);
        }
    }
    None
}

/// Integer types.
pub fn is_integer(sql_type: &str) -> bool {
    matches!(sql_type, "smallint" | "integer" | "bigint") || sql_type.starts_with("numeric")
}

/// Whether a column of `column_type` could hold keys of `key_type`.
pub fn could_hold_key(column_type: &str, key_type: &str) -> bool {
    let text = |t: &str| t == "text" || t.starts_with("character");
    if text(column_type) {
        return text(key_type) || is_integer(key_type) || key_type == "uuid";
    }
    if is_integer(key_type) {
        is_integer(column_type)
    } else {
        column_type == key_type
    }
}

/// Free text a person may have written someone's identity into: `text`, `varchar`,
/// `json`, `jsonb`, text arrays.
pub fn is_free_text(column: &ColumnInfo) -> bool {
    column.is_text() || column.is_json() || column.is_text_array()
}

/// Whether a text column's name suggests an object key: its last word is `key`, `url`,
/// `uri` or `path` (`storageKey`, `file_url`, `avatarPath`), not an API, cache or
/// idempotency key, nor a web link (`websiteUrl`, `callback_url`).
pub fn looks_like_object_key(column: &ColumnInfo) -> bool {
    const NOT_OBJECTS: &[&str] = &[
        "api",
        "public",
        "private",
        "secret",
        "ssh",
        "license",
        "cache",
        "idempotency",
        "sort",
        "partition",
        "lookup",
        "primary",
        "foreign",
        "access",
        "session",
        "encryption",
        "signing",
        "hash",
        "unique",
        "dedupe",
        "external",
        "stripe",
        "provider",
        "invite",
        "reset",
        "verification",
        "recovery",
        "translation",
        "redirect",
        "callback",
        "webhook",
        "return",
        "success",
        "cancel",
        "website",
        "homepage",
        "home",
        "social",
        "canonical",
        "origin",
        "referrer",
        "referer",
        "share",
        "token",
        "license",
        "idempotent",
        "request",
        "api",
    ];
    let w = words(&column.name);
    column.is_text()
        && w.last()
            .is_some_and(|l| ["key", "url", "uri", "path"].contains(&l.as_str()))
        && !w.iter().any(|x| NOT_OBJECTS.contains(&x.as_str()))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_split_into_words_in_every_style() {
        assert_eq!(words("fromUserId"), ["from", "user", "id"]);
        assert_eq!(words("from_user_id"), ["from", "user", "id"]);
        assert_eq!(words("APIKey"), ["api", "key"]);
        assert_eq!(words("ModelVersion"), ["model", "version"]);
        assert_eq!(words("address_line1"), ["address", "line"]);
        assert_eq!(words("userID"), ["user", "id"]);
        assert_eq!(squashed("model_versions"), "modelversions");
    }

    #[test]
    fn personal_columns_are_recognised_in_any_style() {
        for (table, column, kind) in [
            ("users", "email", PersonalKind::Email),
            ("User", "signupIp", PersonalKind::IpAddress),
            ("Session", "ipAddress", PersonalKind::IpAddress),
            ("Session", "userAgent", PersonalKind::UserAgent),
            ("Purchase", "billingName", PersonalKind::Name),
            ("Purchase", "billingAddress", PersonalKind::Address),
            ("TaxProfile", "taxId", PersonalKind::Identifier),
            ("User", "birthDate", PersonalKind::Birth),
            ("users", "name", PersonalKind::Name),
            ("contacts", "mobile_number", PersonalKind::Phone),
        ] {
            assert_eq!(personal_kind(table, column), Some(kind), "{table}.{column}");
        }
        for column in [
            "emailVerified",
            "phone_confirmed_at",
            "addressId",
            "file_name",
            "title",
            "object_key",
        ] {
            assert_eq!(personal_kind("things", column), None, "{column}");
        }
        assert_eq!(personal_kind("Model", "name"), None);
    }

    #[test]
    fn person_references_are_recognised_in_any_style() {
        for column in [
            "userId",
            "user_id",
            "fromUserId",
            "ownerId",
            "owner_id",
            "createdById",
            "authorId",
            "viewerId",
            "actorId",
            "reviewed_by",
            "created_by",
            "invitedById",
            "subscriberId",
            "owner",
        ] {
            assert!(looks_like_person_reference(column), "{column}");
        }
        for column in [
            "id",
            "postId",
            "image_id",
            "orderId",
            "created_at",
            "providerId",
            "userName",
            "parentId",
        ] {
            assert!(!looks_like_person_reference(column), "{column}");
        }
    }

    #[test]
    fn references_name_their_table() {
        let tables = ["Post", "ModelVersion", "images", "Image", "categories"];
        assert_eq!(referenced_table("postId", &tables), Some("Post"));
        assert_eq!(
            referenced_table("modelVersionId", &tables),
            Some("ModelVersion")
        );
        assert_eq!(referenced_table("image_id", &tables), Some("images"));
        assert_eq!(referenced_table("coverImageId", &["Image"]), Some("Image"));
        assert_eq!(referenced_table("category_id", &tables), Some("categories"));
        assert_eq!(referenced_table("viewerId", &tables), None);
    }

    fn col(name: &str, sql_type: &str) -> ColumnInfo {
        ColumnInfo {
            name: name.into(),
            sql_type: sql_type.into(),
            not_null: false,
            has_default: false,
        }
    }

    #[test]
    fn object_key_columns_are_told_from_other_keys() {
        for name in [
            "storageKey",
            "object_key",
            "bannerUrl",
            "file_url",
            "avatarPath",
            "attachmentKey",
        ] {
            assert!(looks_like_object_key(&col(name, "text")), "{name}");
        }
        for name in [
            "apiKey",
            "idempotency_key",
            "websiteUrl",
            "callback_url",
            "sessionToken",
            "keyboard",
        ] {
            assert!(!looks_like_object_key(&col(name, "text")), "{name}");
        }
        assert!(!looks_like_object_key(&col("storageKey", "bigint")));
    }

    #[test]
    fn tables_fall_into_several_categories() {
        let catalog = Catalog::default();
        for (table, category) in [
            ("Session", Category::Security),
            ("ApiKey", Category::Security),
            ("UserProfile", Category::Account),
            ("NotificationSetting", Category::Preferences),
            ("marketing_preferences", Category::Preferences),
            ("ChallengeReport", Category::Moderation),
            ("moderation_reports", Category::Moderation),
            ("user_ip_history", Category::DeviceLocation),
            ("ImageReaction", Category::Activity),
            ("UserActivity", Category::Activity),
            ("follows", Category::Activity),
            ("Purchase", Category::Payments),
            ("tips", Category::Payments),
            ("Image", Category::Content),
            ("model_versions", Category::Content),
        ] {
            assert_eq!(category_for(&catalog, table), category, "{table}");
        }
        assert!(is_money_record(&catalog, "TaxProfile"));
        assert!(is_money_record(&catalog, "payments"));
        assert!(!is_money_record(&catalog, "Image"));
        assert!(!is_money_record(&catalog, "multiple_choices"));
    }
}
