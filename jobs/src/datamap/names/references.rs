//! Whether a column's name suggests a reference to a person (`ownerId`, `created_by`), and
//! which table a reference column names (`modelVersionId` → `ModelVersion`).

use super::{is_word, squashed, words};

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
