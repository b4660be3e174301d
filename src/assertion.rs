//! Platform assertions: a signed-in platform user skips the emailed code. The platform
//! passes a short-lived HS256 JWT naming the user (`sub`, the platform's own user id),
//! for Lethe's audience, signed with the shared secret. Lethe checks the signature and
//! audience; `iat`, `nbf` and `exp` against its clock (30 s leeway: not issued in the
//! future, not used before `nbf`, not expired, `exp` after `iat`, a short lifetime); and
//! that each assertion is used once ([`AssertionVerifier::spend`]).

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::domain::Email;
use crate::error::ApiError;

/// Verifies assertions; `None` secret means assertions are disabled.
#[derive(Clone)]
pub struct AssertionVerifier {
    secret: Option<SecretString>,
    audience: String,
    max_age_seconds: u64,
}

/// What a valid assertion proves.
#[derive(Debug, Clone)]
pub struct Asserted {
    /// The platform's id of the signed-in user.
    pub subject: String,
    /// The user's email, if the platform included it (for sending the download link).
    pub email: Option<Email>,
    /// When the assertion expires (until then, a second use is refused).
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// SHA-256 of the assertion's text (kept, keyed, to refuse a second use).
    pub fingerprint: [u8; 32],
}

/// Clock leeway for `iat`, `nbf` and `exp`, in seconds.
const LEEWAY: u64 = 30;

#[derive(Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    iat: u64,
    #[serde(default)]
    nbf: Option<u64>,
    #[serde(default)]
    email: Option<String>,
}

impl AssertionVerifier {
    /// Builds a verifier.
    pub fn new(secret: &SecretString, audience: &str, max_age_seconds: u64) -> Self {
        let secret = (!secret.expose_secret().is_empty()).then(|| secret.clone());
        Self {
            secret,
            audience: audience.to_owned(),
            max_age_seconds,
        }
    }

    /// Checks an assertion.
    pub fn verify(&self, token: &str) -> Result<Asserted, ApiError> {
        let secret = self
            .secret
            .as_ref()
            .ok_or(ApiError::InvalidAssertion("assertions are not enabled"))?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "aud", "sub"]);
        validation.leeway = LEEWAY;
        validation.validate_nbf = true;
        let data = decode::<Claims>(
            token,
            &DecodingKey::from_secret(secret.expose_secret().as_bytes()),
            &validation,
        )
        .map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            ApiError::InvalidAssertion(match e.kind() {
                K::ExpiredSignature => "expired",
                K::ImmatureSignature => "not valid yet",
                K::InvalidAudience => "wrong audience",
                K::InvalidSignature => "bad signature",
                K::MissingRequiredClaim(_) => "missing claim",
                _ => "malformed",
            })
        })?;
        let claims = data.claims;
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        if claims.iat > now + LEEWAY {
            return Err(ApiError::InvalidAssertion("issued in the future"));
        }
        if claims.nbf.is_some_and(|nbf| nbf > now + LEEWAY) {
            return Err(ApiError::InvalidAssertion("not valid yet"));
        }
        if claims.exp <= claims.iat {
            return Err(ApiError::InvalidAssertion("expires before it was issued"));
        }
        if claims.exp.saturating_sub(claims.iat) > self.max_age_seconds {
            return Err(ApiError::InvalidAssertion("lifetime too long"));
        }
        if claims.sub.is_empty() || claims.sub.len() > 200 {
            return Err(ApiError::InvalidAssertion("bad subject"));
        }
        let email = match claims.email {
            Some(e) => Some(
                Email::try_from(e.as_str())
                    .map_err(|_| ApiError::InvalidAssertion("bad email claim"))?,
            ),
            None => None,
        };
        use sha2::{Digest, Sha256};
        Ok(Asserted {
            subject: claims.sub,
            email,
            expires_at: chrono::DateTime::from_timestamp(claims.exp as i64, 0)
                .unwrap_or_else(chrono::Utc::now)
                // Kept past the leeway twice over, so a clock ahead elsewhere cannot drop
                // it while this one still accepts the assertion.
                + chrono::Duration::seconds(2 * LEEWAY as i64),
            fingerprint: Sha256::digest(token.as_bytes()).into(),
        })
    }
}

impl Asserted {
    /// Records the assertion as used; refuses one used before (a replay). Keyed, so the
    /// stored value says nothing about the assertion's content.
    pub async fn spend(
        &self,
        conn: &mut diesel_async::AsyncPgConnection,
        keyed: &crate::secrets::Keyed,
    ) -> Result<(), ApiError> {
        use crate::schema::used_assertions;
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        let hash = keyed.hash(
            crate::secrets::label::ASSERTION,
            &hex::encode(self.fingerprint),
        );
        let inserted = diesel::insert_into(used_assertions::table)
            .values((
                used_assertions::hash.eq(hash),
                used_assertions::expires_at.eq(self.expires_at),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        if inserted == 0 {
            return Err(ApiError::InvalidAssertion("already used"));
        }
        Ok(())
    }
}
