//! Signing and verifying JWTs: HS256 with the configured secret, RS256,
//! ES256 and EdDSA with the keys of a JWKS.
//!
//! Only the configured algorithms are accepted, and each key only for its own
//! algorithm, so a token that names another (`none`, or HS256 signed with an
//! RSA public key used as an HMAC secret) fails.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode, get_current_timestamp,
};
use rustc_hash::FxHashMap;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::jwks::Jwks;
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

/// Verifies bearer tokens into principals: HS256 with the configured secret,
/// RS256, ES256 and EdDSA with the keys of the configured JWKS. Nothing else is
/// accepted, and each key verifies only its own algorithm.
#[derive(Clone)]
pub struct TokenVerifier {
    hmac: Option<DecodingKey>,
    jwks: Option<Arc<Jwks>>,
    /// `exp`, `nbf`, `iss`, `aud` and leeway, for each accepted algorithm:
    /// built once, since a `Validation` holds sets a copy would allocate
    /// again for every request.
    validations: [Validation; 4],
    verified: Arc<Verified>,
}

/// HS256 tokens that verified, by their exact text, with what they grant
/// and the times that bound it. A client sends the same token with every
/// request until it expires; checking its signature and reading its claims
/// again cost a twentieth of a profile request's instructions. Only HS256:
/// its secret is fixed for the life of the process, while a JWKS key may be
/// withdrawn by its provider. A token that fails is never kept.
#[derive(Default)]
struct Verified {
    tokens: Mutex<FxHashMap<Box<str>, Accepted>>,
}

struct Accepted {
    principal: Principal,
    exp: u64,
    nbf: Option<u64>,
}

/// Tokens kept at most; past that the expired ones go, then all of them.
const KEPT_TOKENS: usize = 4_096;

impl Verified {
    /// What `token` grants at `now` if it verified before and its `exp` and
    /// `nbf` still hold, judged as jsonwebtoken judges them.
    fn get(&self, token: &str, now: u64, leeway: u64) -> Option<Principal> {
        let tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        let accepted = tokens.get(token)?;
        let live = accepted.exp >= now.saturating_sub(leeway)
            && accepted
                .nbf
                .is_none_or(|nbf| nbf <= now.saturating_add(leeway));
        live.then(|| accepted.principal.clone())
    }

    fn keep(&self, token: &str, accepted: Accepted, now: u64, leeway: u64) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        if tokens.len() >= KEPT_TOKENS {
            tokens.retain(|_, a| a.exp >= now.saturating_sub(leeway));
            if tokens.len() >= KEPT_TOKENS {
                tokens.clear();
            }
        }
        tokens.insert(token.into(), accepted);
    }
}

/// The algorithms a verifier may accept, in the order of its validations.
const ALGORITHMS: [Algorithm; 4] = [
    Algorithm::HS256,
    Algorithm::RS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
];

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("hs256", &self.hmac.is_some())
            .field("jwks", &self.jwks)
            .finish_non_exhaustive()
    }
}

/// The part of a JOSE header c360 reads before choosing a key. Read by hand so
/// an algorithm the library does not know (`none`) gets a clear message.
#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

fn unauthenticated(why: impl std::fmt::Display) -> AppError {
    AppError::Unauthenticated(format!("invalid bearer token: {why}"))
}

impl TokenVerifier {
    /// A verifier accepting HS256 tokens signed with `secret`.
    pub fn hs256(
        secret: &SecretString,
        issuer: Option<&str>,
        audience: Option<&str>,
        leeway: Duration,
    ) -> Self {
        let mut verifier = Self::without_keys(issuer, audience, leeway);
        verifier.hmac = Some(DecodingKey::from_secret(secret.expose_secret().as_bytes()));
        verifier
    }

    /// A verifier accepting RS256, ES256 and EdDSA tokens signed by a key of `jwks`.
    pub fn jwks(
        jwks: Jwks,
        issuer: Option<&str>,
        audience: Option<&str>,
        leeway: Duration,
    ) -> Self {
        Self::without_keys(issuer, audience, leeway).with_jwks(jwks)
    }

    /// Also accepts tokens signed by a key of `jwks`.
    pub fn with_jwks(mut self, jwks: Jwks) -> Self {
        self.jwks = Some(Arc::new(jwks));
        self
    }

    fn without_keys(issuer: Option<&str>, audience: Option<&str>, leeway: Duration) -> Self {
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
            hmac: None,
            jwks: None,
            validations: ALGORITHMS.map(|algorithm| Validation {
                algorithms: vec![algorithm],
                ..validation.clone()
            }),
            verified: Arc::default(),
        }
    }

    fn validation(&self, algorithm: Algorithm) -> Option<&Validation> {
        let at = ALGORITHMS.iter().position(|a| *a == algorithm)?;
        self.validations.get(at)
    }

    fn accepted(&self) -> String {
        let mut names = Vec::new();
        if self.hmac.is_some() {
            names.push("HS256");
        }
        if self.jwks.is_some() {
            names.extend(["RS256", "ES256", "EdDSA"]);
        }
        names.join(", ")
    }

    pub async fn verify(&self, token: &str) -> AppResult<Principal> {
        let leeway = self.validations[0].leeway;
        if self.hmac.is_some()
            && let Some(principal) = self.verified.get(token, get_current_timestamp(), leeway)
        {
            return Ok(principal);
        }
        let header = read_header(token)?;
        let (algorithm, key) = match (header.alg.as_str(), &self.hmac, &self.jwks) {
            ("HS256", Some(secret), _) => (Algorithm::HS256, Cow::Borrowed(secret)),
            ("RS256" | "ES256" | "EdDSA", _, Some(jwks)) => {
                let kid = header
                    .kid
                    .as_deref()
                    .ok_or_else(|| unauthenticated("the token names no key (`kid`)"))?;
                let key = jwks.key(kid).await.ok_or_else(|| {
                    unauthenticated(format!("the token's key `{kid}` is not in the JWKS"))
                })?;
                if header.alg.parse::<Algorithm>().ok() != Some(key.algorithm) {
                    return Err(unauthenticated(format!(
                        "the token's algorithm {} does not match its key",
                        header.alg
                    )));
                }
                (key.algorithm, Cow::Owned(key.key))
            }
            (other, _, _) => {
                return Err(unauthenticated(format!(
                    "the token's algorithm `{other}` is not accepted (accepted: {})",
                    self.accepted()
                )));
            }
        };
        let validation = self.validation(algorithm).ok_or_else(|| {
            unauthenticated(format!(
                "the token's algorithm {algorithm:?} is not accepted"
            ))
        })?;
        let data = decode::<Claims>(token, &key, validation).map_err(|err| {
            use jsonwebtoken::errors::ErrorKind;
            unauthenticated(match err.kind() {
                ErrorKind::ExpiredSignature => "the token has expired",
                ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)",
                ErrorKind::InvalidIssuer => "the token's issuer is not accepted",
                ErrorKind::InvalidAudience => "the token's audience is not accepted",
                ErrorKind::InvalidSignature => "the token's signature does not verify",
                ErrorKind::InvalidAlgorithm => "the token's algorithm is not accepted",
                ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
                _ => "the token is malformed",
            })
        })?;
        let claims = data.claims;
        let principal = Principal {
            role: claims.role,
            subject: claims.sub,
            scopes: parse_scopes(&claims.scope),
        };
        if algorithm == Algorithm::HS256 {
            let accepted = Accepted {
                principal: principal.clone(),
                // Verified, so `exp` is past the epoch; `nbf` likewise if set.
                exp: u64::try_from(claims.exp).unwrap_or(0),
                nbf: claims.nbf.map(|nbf| u64::try_from(nbf).unwrap_or(0)),
            };
            self.verified
                .keep(token, accepted, get_current_timestamp(), leeway);
        }
        Ok(principal)
    }
}

fn read_header(token: &str) -> AppResult<RawHeader> {
    use base64::Engine;
    let malformed = || unauthenticated("the token header is malformed");
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(unauthenticated(
            "a token has three dot-separated parts (header.claims.signature)",
        ));
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| malformed())?;
    serde_json::from_slice(&bytes).map_err(|_| malformed())
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
        // The wall clock, not the app's: verifiers (ours through
        // jsonwebtoken, and any other) check `exp` and `nbf` against it.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> SecretString {
        SecretString::from("a-secret-of-thirty-two-bytes-or-more")
    }

    fn sign(claims: &Claims) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(secret().expose_secret().as_bytes()),
        )
        .expect("a token")
    }

    fn claims(exp: i64, nbf: Option<i64>) -> Claims {
        Claims {
            sub: "partner-1".into(),
            role: Role::Partner,
            scope: "read:customers read:pii".into(),
            exp,
            iat: 0,
            nbf,
            iss: None,
            aud: None,
        }
    }

    fn kept(verifier: &TokenVerifier) -> usize {
        verifier.verified.tokens.lock().expect("kept tokens").len()
    }

    /// A token that verified is kept and answers the same principal again;
    /// one that fails, or is altered, never passes through what was kept.
    #[tokio::test]
    async fn a_verified_token_is_kept_and_only_it() {
        let verifier = TokenVerifier::hs256(&secret(), None, None, Duration::from_secs(30));
        let now = get_current_timestamp() as i64;
        let token = sign(&claims(now + 3600, None));
        let first = verifier.verify(&token).await.expect("verifies");
        assert_eq!(first.subject, "partner-1");
        assert_eq!(kept(&verifier), 1);
        assert_eq!(verifier.verify(&token).await.expect("kept"), first);

        let mut altered = token.clone();
        altered.pop();
        altered.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert!(verifier.verify(&altered).await.is_err());
        let expired = sign(&claims(now - 3600, None));
        let err = verifier.verify(&expired).await.expect_err("expired");
        assert!(err.to_string().contains("expired"), "{err}");
        assert_eq!(kept(&verifier), 1);

        let other = TokenVerifier::hs256(
            &SecretString::from("another-secret-of-thirty-two-bytes-or-more"),
            None,
            None,
            Duration::from_secs(30),
        );
        assert!(
            other.verify(&token).await.is_err(),
            "each verifier keeps its own"
        );
    }

    fn staff() -> Principal {
        Principal {
            role: Role::Staff,
            subject: "staff-1".into(),
            scopes: BTreeSet::new(),
        }
    }

    fn accepted(exp: u64, nbf: Option<u64>) -> Accepted {
        Accepted {
            principal: staff(),
            exp,
            nbf,
        }
    }

    /// A kept token stops answering once its `exp` has passed, and before
    /// its `nbf`, with jsonwebtoken's leeway either side.
    #[test]
    fn a_kept_token_answers_only_while_its_times_hold() {
        let verified = Verified::default();
        verified.keep("t", accepted(2_000, Some(1_000)), 1_500, 30);
        assert_eq!(verified.get("t", 1_500, 30), Some(staff()));
        assert_eq!(verified.get("t", 2_030, 30), Some(staff()));
        assert_eq!(verified.get("t", 2_031, 30), None);
        assert_eq!(verified.get("t", 970, 30), Some(staff()));
        assert_eq!(verified.get("t", 969, 30), None);
        assert_eq!(verified.get("u", 1_500, 30), None);
    }

    /// The kept tokens stay bounded: expired ones go first.
    #[test]
    fn kept_tokens_are_bounded() {
        let verified = Verified::default();
        for n in 0..KEPT_TOKENS {
            let exp = if n % 2 == 0 { 100 } else { 10_000 };
            verified.keep(&format!("t{n}"), accepted(exp, None), 50, 0);
        }
        verified.keep("last", accepted(10_000, None), 5_000, 0);
        assert_eq!(
            verified.tokens.lock().expect("kept tokens").len(),
            KEPT_TOKENS / 2 + 1
        );
        assert!(verified.get("t1", 5_000, 0).is_some());
        assert!(verified.get("t0", 5_000, 0).is_none());
    }
}
