//! What a column can hold, by its SQL type and name: keys of another column's type, free
//! text, object keys.

use crate::datamap::catalog::ColumnInfo;

use super::words;

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
