//! Unsubscribe link tokens. A token seals (recipient, category, issue date) with
//! ChaCha20-Poly1305 under a key derived from the deployment secret for this purpose only:
//! Lethe stores no list of tokens, the address is not readable from the link, and a token
//! that was forged, altered, truncated or pieced together from another opens to nothing.

use base64::Engine;
use chrono::NaiveDate;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use crate::domain::Email;
use crate::secrets::{Keyed, label};

/// Bound into every token (a token of another purpose never opens).
const AAD: &[u8] = b"lethe unsubscribe link v1";

/// What a link unsubscribes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The recipient.
    pub email: Email,
    /// The marketing category, or every category.
    pub category: Option<String>,
    /// When the link was made.
    pub issued: NaiveDate,
}

/// Seals and opens link tokens.
pub struct LinkKey {
    key: LessSafeKey,
}

impl LinkKey {
    /// The key of this deployment.
    pub fn new(keyed: &Keyed) -> Self {
        let bytes = keyed.hash(label::UNSUBSCRIBE, "link token key");
        Self {
            key: LessSafeKey::new(
                UnboundKey::new(&CHACHA20_POLY1305, &bytes).expect("a 32-byte key"),
            ),
        }
    }

    /// The token of `link`, URL-safe.
    pub fn seal(&self, link: &Link) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .expect("the system's random source");
        let mut data = format!(
            "{}\n{}\n{}",
            link.issued.format("%Y-%m-%d"),
            link.category.as_deref().unwrap_or(""),
            link.email.as_str()
        )
        .into_bytes();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(AAD),
                &mut data,
            )
            .expect("sealing cannot fail for these sizes");
        let mut token = nonce.to_vec();
        token.extend(data);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token)
    }

    /// The link a token seals, if it is one of ours and unaltered.
    pub fn open(&self, token: &str) -> Option<Link> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .ok()?;
        if bytes.len() <= NONCE_LEN + CHACHA20_POLY1305.tag_len() || bytes.len() > 1024 {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let mut sealed = sealed.to_vec();
        let plain = self
            .key
            .open_in_place(
                Nonce::try_assume_unique_for_key(nonce).ok()?,
                Aad::from(AAD),
                &mut sealed,
            )
            .ok()?;
        let text = std::str::from_utf8(plain).ok()?;
        let mut parts = text.splitn(3, '\n');
        let issued = NaiveDate::parse_from_str(parts.next()?, "%Y-%m-%d").ok()?;
        let category = Some(parts.next()?.to_owned()).filter(|c| !c.is_empty());
        let email = Email::try_from(parts.next()?).ok()?;
        Some(Link {
            email,
            category,
            issued,
        })
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    fn key(secret: &str) -> LinkKey {
        LinkKey::new(&Keyed::new(SecretString::from(secret.repeat(32))))
    }

    #[test]
    fn tokens_open_only_unaltered_and_only_under_their_key() {
        let link = Link {
            email: Email::try_from("ada@example.com").unwrap(),
            category: Some("newsletter".into()),
            issued: NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
        };
        let k = key("k");
        let token = k.seal(&link);
        assert_eq!(k.open(&token), Some(link.clone()));
        assert!(!token.contains("ada"), "the address is not readable");
        assert_ne!(k.seal(&link), token, "a fresh nonce each time");
        assert_eq!(key("j").open(&token), None, "another deployment's key");
        // Every single-character change, and truncation, opens to nothing.
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut bytes = engine.decode(&token).unwrap();
        for i in 0..bytes.len() {
            bytes[i] ^= 1;
            assert_eq!(k.open(&engine.encode(&bytes)), None, "byte {i}");
            bytes[i] ^= 1;
        }
        assert_eq!(k.open(&token[..token.len() - 4]), None);
        assert_eq!(k.open(""), None);
        assert_eq!(k.open("not a token!"), None);
    }
}
