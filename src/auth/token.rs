//! Signing and verifying JWTs (HS256 with the configured secret).
//!
//! Only the configured algorithm is accepted, so a token that names another
//! (`none`, or RS256 signed with a public key used as an HMAC secret) fails.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::{Principal, Role};
use crate::error::{AppError, AppResult};

/// The claims c360 reads and writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    /// Space-separated OAuth scopes.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    pub exp: i64,
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

/// Verifies bearer tokens into principals.
#[derive(Clone)]
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

impl TokenVerifier {
    pub fn hs256(
        secret: &SecretString,
        issuer: Option<&str>,
        audience: Option<&str>,
        leeway: Duration,
    ) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        if let Some(iss) = issuer {
            validation.set_issuer(&[iss]);
        }
        match audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        TokenVerifier {
            key: DecodingKey::from_secret(secret.expose_secret().as_bytes()),
            validation,
        }
    }

    pub fn verify(&self, token: &str) -> AppResult<Principal> {
        let data = decode::<Claims>(token, &self.key, &self.validation).map_err(|err| {
            use jsonwebtoken::errors::ErrorKind;
            let why = match err.kind() {
                ErrorKind::ExpiredSignature => "the token has expired",
                ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)",
                ErrorKind::InvalidIssuer => "the token's issuer is not accepted",
                ErrorKind::InvalidAudience => "the token's audience is not accepted",
                ErrorKind::InvalidSignature => "the token's signature does not verify",
                ErrorKind::InvalidAlgorithm => "the token's algorithm is not accepted",
                ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
                _ => "the token is malformed",
            };
            AppError::Unauthenticated(format!("invalid bearer token: {why}"))
        })?;
        let claims = data.claims;
        Ok(Principal {
            role: claims.role,
            subject: claims.sub,
            scopes: parse_scopes(&claims.scope),
        })
    }
}

/// Mints HS256 tokens with the configured secret (for `c360 token` and demos).
#[derive(Clone)]
pub struct TokenIssuer {
    key: EncodingKey,
    issuer: Option<String>,
    audience: Option<String>,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer").finish_non_exhaustive()
    }
}

impl TokenIssuer {
    pub fn hs256(secret: &SecretString, issuer: Option<String>, audience: Option<String>) -> Self {
        TokenIssuer {
            key: EncodingKey::from_secret(secret.expose_secret().as_bytes()),
            issuer,
            audience,
        }
    }

    pub fn mint(
        &self,
        role: Role,
        subject: &str,
        scopes: &[String],
        ttl: Duration,
    ) -> AppResult<String> {
        let now = Utc::now().timestamp();
        let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let claims = Claims {
            sub: subject.to_owned(),
            role,
            scope: scopes.join(" "),
            exp: now.saturating_add(ttl),
            iat: now,
            nbf: None,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.key)
            .map_err(|err| AppError::Internal(err.into()))
    }
}

fn parse_scopes(scope: &str) -> BTreeSet<String> {
    scope.split_whitespace().map(str::to_owned).collect()
}
