//! Keyed hashes and random secrets. Codes, tokens and email addresses are stored only as
//! HMAC-SHA256 under the deployment's secret key: a database dump reveals none of them,
//! and comparisons are constant-time.

use hmac::{Hmac, Mac};
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// Keyed hashing under the deployment secret, with a domain label per use so that a hash
/// made for one purpose never matches another.
#[derive(Clone)]
pub struct Keyed {
    key: SecretString,
}

impl Keyed {
    /// Wraps the secret key.
    pub fn new(key: SecretString) -> Self {
        Self { key }
    }

    fn mac(&self, label: &str, value: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.expose_secret().as_bytes())
            .expect("HMAC takes any key");
        mac.update(label.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        mac
    }

    /// HMAC-SHA256(key, label || 0 || value).
    pub fn hash(&self, label: &str, value: &str) -> Vec<u8> {
        self.mac(label, value).finalize().into_bytes().to_vec()
    }

    /// Whether `value` hashes to `expected`, compared in constant time.
    pub fn verify(&self, label: &str, value: &str, expected: &[u8]) -> bool {
        self.mac(label, value).verify_slice(expected).is_ok()
    }
}

/// Hash labels, one per purpose.
pub mod label {
    /// Email addresses.
    pub const EMAIL: &str = "lethe/email/v1";
    /// One-time verification codes (bound to their request id).
    pub const CODE: &str = "lethe/code/v1";
    /// Requester tokens.
    pub const TOKEN: &str = "lethe/token/v1";
    /// Staff API tokens.
    pub const STAFF_TOKEN: &str = "lethe/staff-token/v1";
    /// The key of `hash` anonymization rules in the platform database.
    pub const ANONYMIZE: &str = "lethe/anonymize/v1";
    /// Platform subjects named by assertions (the identity of requests filed without an email).
    pub const SUBJECT: &str = "lethe/subject/v1";
    /// An address on the suppression list (per normalised address).
    pub const SUPPRESSION: &str = "lethe/suppression/v1";
    /// The key sealing unsubscribe link tokens.
    pub const UNSUBSCRIBE: &str = "lethe/unsubscribe/v1";
    /// A used platform assertion (refusing a second use).
    pub const ASSERTION: &str = "lethe/assertion/v1";
    /// What a request is about, beyond the person (a reported account).
    pub const MATTER: &str = "lethe/matter/v1";
    /// The key of the requester's session cookie on the privacy center.
    pub const REQUESTER_COOKIE: &str = "lethe/requester-cookie/v1";
    /// Staff console session tokens.
    pub const STAFF_SESSION: &str = "lethe/staff-session/v1";
    /// The key sealing staff TOTP secrets.
    pub const TOTP: &str = "lethe/totp/v1";
    /// The audit chain's key, when `audit.key` is not set.
    pub const AUDIT: &str = "lethe/audit/v1";
    /// The key sealing queued mail.
    pub const OUTBOX: &str = "lethe/outbox/v1";
    /// The key sealing a purge's identity strings for its life.
    pub const PURGE_IDENTITIES: &str = "lethe/purge-identities/v1";
}

/// Authenticated encryption (ChaCha20-Poly1305) under a key derived from the deployment
/// secret for one purpose: what Lethe must be able to read back later, but no one reading
/// the database should.
pub struct SealKey {
    key: ring::aead::LessSafeKey,
    aad: &'static [u8],
}

impl SealKey {
    /// The key for `label` (its own derivation and associated data).
    pub fn new(keyed: &Keyed, label: &'static str) -> Self {
        use ring::aead::{CHACHA20_POLY1305, LessSafeKey, UnboundKey};
        let bytes = keyed.hash(label, "seal key");
        Self {
            key: LessSafeKey::new(
                UnboundKey::new(&CHACHA20_POLY1305, &bytes).expect("a 32-byte key"),
            ),
            aad: label.as_bytes(),
        }
    }

    /// A random nonce followed by the ciphertext and tag.
    pub fn seal(&self, plain: &[u8]) -> Vec<u8> {
        use ring::aead::{Aad, NONCE_LEN, Nonce};
        use ring::rand::{SecureRandom, SystemRandom};
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .expect("the system's random source");
        let mut data = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(self.aad),
                &mut data,
            )
            .expect("sealing cannot fail for these sizes");
        let mut sealed = nonce.to_vec();
        sealed.extend(data);
        sealed
    }

    /// The plain text, if `sealed` was sealed by this key and is unaltered.
    pub fn open(&self, sealed: &[u8]) -> Option<Vec<u8>> {
        use ring::aead::{Aad, NONCE_LEN, Nonce};
        if sealed.len() <= NONCE_LEN {
            return None;
        }
        let (nonce, data) = sealed.split_at(NONCE_LEN);
        let mut data = data.to_vec();
        let plain = self
            .key
            .open_in_place(
                Nonce::try_assume_unique_for_key(nonce).ok()?,
                Aad::from(self.aad),
                &mut data,
            )
            .ok()?;
        Some(plain.to_vec())
    }
}

/// A fresh 8-digit one-time code.
pub fn new_code() -> String {
    format!("{:08}", rand::rng().random_range(0..100_000_000u32))
}

/// A fresh requester token: 256 random bits, URL-safe base64.
pub fn new_token() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A fresh random key for throwaway deployments (`lethe demo`).
pub fn new_secret_key() -> String {
    new_token()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_hashes_verify_and_separate_purposes() {
        let keyed = Keyed::new(SecretString::from("k".repeat(32)));
        let h = keyed.hash(label::CODE, "12345678");
        assert!(keyed.verify(label::CODE, "12345678", &h));
        assert!(!keyed.verify(label::CODE, "12345679", &h));
        assert!(!keyed.verify(label::TOKEN, "12345678", &h));
        let other = Keyed::new(SecretString::from("j".repeat(32)));
        assert!(!other.verify(label::CODE, "12345678", &h));
    }

    #[test]
    fn codes_are_eight_digits_and_tokens_are_long() {
        for _ in 0..100 {
            let code = new_code();
            assert_eq!(code.len(), 8);
            assert!(code.chars().all(|c| c.is_ascii_digit()));
        }
        assert_eq!(new_token().len(), 43);
    }
}
