//! The public keys of an identity provider (a JWKS file or http(s) URL),
//! cached in memory and refreshed when a token names a key id the cache does
//! not hold. Refreshes are rate-limited so a stream of tokens with made-up
//! `kid`s cannot turn the gateway into a load generator for the provider, and
//! a failed refresh keeps the keys already held.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value as Json;

/// One verification key from the set, with the only algorithm it verifies.
#[derive(Clone)]
pub struct PublicKey {
    pub algorithm: Algorithm,
    pub key: DecodingKey,
}

/// Where the key set comes from.
#[derive(Debug, Clone)]
enum Source {
    File(PathBuf),
    Url(String),
}

/// The cached key set.
pub struct Jwks {
    source: Source,
    client: reqwest::Client,
    keys: RwLock<Arc<HashMap<String, PublicKey>>>,
    /// When the last refresh triggered by an unknown `kid` ran; also
    /// serialises refreshes so concurrent requests fetch once.
    last_refresh: tokio::sync::Mutex<Option<Instant>>,
    min_refresh_interval: Duration,
}

impl std::fmt::Debug for Jwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwks")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Jwks {
    /// A key set read from `location` (a file path or an http(s) URL), loaded
    /// once now. A failed first load is logged, not fatal: the provider may be
    /// briefly down, and the first token naming a key retries it.
    pub async fn load(location: &str, min_refresh_interval: Duration) -> Jwks {
        let source = if location.starts_with("http://") || location.starts_with("https://") {
            Source::Url(location.to_owned())
        } else {
            Source::File(PathBuf::from(location))
        };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        let jwks = Jwks {
            source,
            client,
            keys: RwLock::new(Arc::new(HashMap::new())),
            last_refresh: tokio::sync::Mutex::new(None),
            min_refresh_interval,
        };
        match jwks.fetch().await {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), "loaded the JWKS");
                jwks.replace(keys);
            }
            Err(err) => tracing::warn!(error = %err, "cannot load the JWKS yet"),
        }
        jwks
    }

    fn cached(&self, kid: &str) -> Option<PublicKey> {
        let keys = match self.keys.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        };
        keys.get(kid).cloned()
    }

    fn replace(&self, keys: HashMap<String, PublicKey>) {
        let keys = Arc::new(keys);
        match self.keys.write() {
            Ok(mut guard) => *guard = keys,
            Err(poisoned) => *poisoned.into_inner() = keys,
        }
    }

    /// The key named `kid`, refreshing the set once when it is unknown and
    /// the last refresh is older than the minimum interval.
    pub async fn key(&self, kid: &str) -> Option<PublicKey> {
        if let Some(key) = self.cached(kid) {
            return Some(key);
        }
        let mut last = self.last_refresh.lock().await;
        // Another request may have refreshed while this one waited.
        if let Some(key) = self.cached(kid) {
            return Some(key);
        }
        if last.is_some_and(|at| at.elapsed() < self.min_refresh_interval) {
            return None;
        }
        *last = Some(Instant::now());
        match self.fetch().await {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), "refreshed the JWKS");
                self.replace(keys);
            }
            // The old keys stay: tokens signed with them keep working.
            Err(err) => tracing::warn!(error = %err, "JWKS refresh failed; keeping the old keys"),
        }
        self.cached(kid)
    }

    async fn fetch(&self) -> anyhow::Result<HashMap<String, PublicKey>> {
        let body: Json = match &self.source {
            Source::File(path) => {
                let text = tokio::fs::read_to_string(path).await.map_err(|e| {
                    anyhow::anyhow!("cannot read the JWKS file {}: {e}", path.display())
                })?;
                serde_json::from_str(&text)?
            }
            Source::Url(url) => {
                let response = self.client.get(url).send().await?.error_for_status()?;
                response.json().await?
            }
        };
        parse_key_set(&body)
    }
}

/// The signing keys of a JWKS document, by `kid`. Keys without a `kid`, meant
/// for encryption, or of a type c360 does not verify are skipped, so one odd
/// key does not hide the others.
fn parse_key_set(body: &Json) -> anyhow::Result<HashMap<String, PublicKey>> {
    let Some(keys) = body.get("keys").and_then(Json::as_array) else {
        anyhow::bail!("the JWKS has no `keys` array");
    };
    let mut out = HashMap::new();
    for raw in keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(raw.clone()) else {
            continue;
        };
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
            continue;
        }
        let Some(algorithm) = algorithm_of(&jwk) else {
            continue;
        };
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        out.insert(kid, PublicKey { algorithm, key });
    }
    Ok(out)
}

/// The one algorithm a key verifies: RS256 for RSA, ES256 for P-256, EdDSA for
/// Ed25519. A key whose `alg` says otherwise is not used.
fn algorithm_of(jwk: &Jwk) -> Option<Algorithm> {
    let algorithm = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Algorithm::ES256,
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        _ => return None,
    };
    match jwk.common.key_algorithm {
        None => Some(algorithm),
        Some(declared) => match Algorithm::try_from(declared) {
            Ok(a) if a == algorithm => Some(algorithm),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_signing_keys_of_supported_types_are_kept() {
        let set = json!({ "keys": [
            { "kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" },
            { "kty": "OKP", "crv": "Ed25519", "kid": "enc", "use": "enc", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" },
            { "kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" },
            { "kty": "OKP", "crv": "Ed25519", "kid": "wrong-alg", "alg": "RS256", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" },
            { "kty": "oct", "kid": "hmac", "k": "c2VjcmV0" },
            { "kty": "weird", "kid": "weird" }
        ]});
        let keys = parse_key_set(&set).expect("parses");
        let kids: Vec<&String> = keys.keys().collect();
        assert_eq!(kids, vec!["ed"]);
        assert_eq!(keys["ed"].algorithm, Algorithm::EdDSA);
        assert!(parse_key_set(&json!({ "nokeys": [] })).is_err());
    }
}
