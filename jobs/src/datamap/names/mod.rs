//! Guesses from names, in any naming style (`snake_case`, `camelCase`, `PascalCase`):
//! what a column holds (personal data, a user reference, a reference to another table,
//! an object key) and what a table is about (its export category, whether it is a money
//! record kept for the law). Discovery and the coverage check share them; sampling the
//! data ([`super::sample`]) confirms what names only suggest.

mod columns;
mod personal;
mod references;
mod tables;
#[cfg(test)]
mod tests;

pub use columns::{could_hold_key, is_free_text, is_integer, looks_like_object_key};
pub use personal::personal_kind;
pub use references::{looks_like_person_reference, referenced_table};
pub use tables::{category_for, is_money_record};

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
