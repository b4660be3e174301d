//! Platform assertions: a signed-in platform user skips the emailed code. The platform
//! passes a short-lived HS256 JWT naming the user (`sub`, the platform's own user id),
//! for Lethe's audience, signed with the shared secret. Lethe checks signature, expiry,
//! audience and that the lifetime is short.

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
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    iat: u64,
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
        validation.leeway = 30;
        let data = decode::<Claims>(
            token,
            &DecodingKey::from_secret(secret.expose_secret().as_bytes()),
            &validation,
        )
        .map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            ApiError::InvalidAssertion(match e.kind() {
                K::ExpiredSignature => "expired",
                K::InvalidAudience => "wrong audience",
                K::InvalidSignature => "bad signature",
                K::MissingRequiredClaim(_) => "missing claim",
                _ => "malformed",
            })
        })?;
        let claims = data.claims;
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
        Ok(Asserted {
            subject: claims.sub,
            email,
        })
    }
}
