//! Tokens signed by an identity provider's keys, published as a JWKS. The keys
//! are made here with the `rsa`, `p256` and `ed25519-dalek` crates and the
//! tokens signed with them directly, so the gateway's JWT library checks
//! signatures it did not produce.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

use crate::each_store;
use crate::helpers::{StoreKind, TestApp};

const ISSUER: &str = "https://idp.example.test";
const AUDIENCE: &str = "c360";

/// The identity provider's signing keys. RSA key generation is slow in debug
/// builds, so one set serves every test.
struct Keys {
    rsa: rsa::RsaPrivateKey,
    ec: p256::ecdsa::SigningKey,
    ed: ed25519_dalek::SigningKey,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        rsa: rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).expect("RSA key"),
        ec: p256::ecdsa::SigningKey::random(&mut rand_core::OsRng),
        ed: ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng),
    })
}

fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

fn rsa_jwk(key: &rsa::RsaPrivateKey, kid: &str) -> Value {
    use rsa::traits::PublicKeyParts;
    json!({ "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
            "n": b64(&key.n().to_bytes_be()), "e": b64(&key.e().to_bytes_be()) })
}

fn ec_jwk(key: &p256::ecdsa::SigningKey, kid: &str) -> Value {
    let point = key.verifying_key().to_encoded_point(false);
    json!({ "kty": "EC", "crv": "P-256", "kid": kid,
            "x": b64(point.x().expect("x")), "y": b64(point.y().expect("y")) })
}

fn ed_jwk(key: &ed25519_dalek::SigningKey, kid: &str) -> Value {
    json!({ "kty": "OKP", "crv": "Ed25519", "kid": kid,
            "x": b64(key.verifying_key().as_bytes()) })
}

/// The provider's published set: one key of each type.
fn key_set() -> Value {
    let k = keys();
    json!({ "keys": [rsa_jwk(&k.rsa, "rsa-1"), ec_jwk(&k.ec, "ec-1"), ed_jwk(&k.ed, "ed-1")] })
}

enum Signer<'a> {
    Rsa(&'a rsa::RsaPrivateKey),
    Ec(&'a p256::ecdsa::SigningKey),
    Ed(&'a ed25519_dalek::SigningKey),
    Hmac(&'a [u8]),
    Unsigned,
}

/// `header.claims.signature`, signed by `signer` over the exact bytes sent.
fn jwt(header: &Value, claims: &Value, signer: Signer<'_>) -> String {
    use rsa::signature::{SignatureEncoding, Signer as _};
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature: Vec<u8> = match signer {
        Signer::Rsa(key) => rsa::pkcs1v15::SigningKey::<rsa::sha2::Sha256>::new(key.clone())
            .sign(input.as_bytes())
            .to_vec(),
        Signer::Ec(key) => {
            let sig: p256::ecdsa::Signature = key.sign(input.as_bytes());
            sig.to_bytes().to_vec()
        }
        Signer::Ed(key) => key.sign(input.as_bytes()).to_bytes().to_vec(),
        Signer::Hmac(secret) => hmac_sha256(secret, input.as_bytes()),
        Signer::Unsigned => Vec::new(),
    };
    format!("{input}.{}", b64(&signature))
}

/// HMAC-SHA256 from its definition, over the `sha2` the RSA crate brings.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    use rsa::sha2::{Digest, Sha256};
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&ipad)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(&opad)
        .chain_update(inner)
        .finalize()
        .to_vec()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn claims() -> Value {
    json!({ "sub": "staff-idp", "role": "STAFF", "iat": now(), "exp": now() + 600,
            "iss": ISSUER, "aud": AUDIENCE })
}

fn header(alg: &str, kid: &str) -> Value {
    json!({ "alg": alg, "typ": "JWT", "kid": kid })
}

type ProviderState = (Arc<Mutex<(StatusCode, Value)>>, Arc<AtomicU64>);

/// A JWKS endpoint on 127.0.0.1 whose answer a test can change, counting fetches.
#[derive(Clone)]
struct Provider {
    body: Arc<Mutex<(StatusCode, Value)>>,
    hits: Arc<AtomicU64>,
    url: String,
}

impl Provider {
    async fn start(set: Value) -> Provider {
        let body = Arc::new(Mutex::new((StatusCode::OK, set)));
        let hits = Arc::new(AtomicU64::new(0));
        let router = Router::new()
            .route(
                "/.well-known/jwks.json",
                get(|State((body, hits)): State<ProviderState>| async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    let (status, value) = body.lock().expect("lock").clone();
                    (status, axum::Json(value))
                }),
            )
            .with_state((body.clone(), hits.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().expect("addr")
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Provider { body, hits, url }
    }

    fn serve(&self, status: StatusCode, set: Value) {
        *self.body.lock().expect("lock") = (status, set);
    }

    fn hits(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }
}

/// A gateway that trusts only the provider's JWKS: no HS256 secret, no dev mode.
async fn gateway(store: StoreKind, jwks: &str) -> TestApp {
    let jwks = jwks.to_owned();
    TestApp::spawn(store, move |c| {
        c.dev = false;
        c.jwt_secret = None;
        c.jwt_jwks = Some(jwks);
        c.jwt_issuer = Some(ISSUER.into());
        c.jwt_audience = Some(AUDIENCE.into());
    })
    .await
}

const COUNT: &str = "{ customers(first: 1) { totalCount } }";

/// Posts `COUNT` with `token`; returns the status and the first error code.
async fn call(app: &TestApp, token: &str) -> (u16, Value) {
    let (status, body) = app.post(COUNT, json!({}), Some(token)).await;
    (status, body)
}

async fn assert_rejected(app: &TestApp, token: &str, case: &str, reason: &str) {
    let (status, body) = call(app, token).await;
    assert_eq!(status, 401, "{case}: {body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{case}: {body}"
    );
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(reason),
        "{case}: `{message}` lacks `{reason}`"
    );
    assert!(body.get("data").is_none(), "{case}: {body}");
}

each_store! {
    async fn tokens_signed_by_each_jwks_key_type_are_accepted(store: StoreKind) {
        let provider = Provider::start(key_set()).await;
        let app = gateway(store, &provider.url).await;
        app.seed(2).await;
        let k = keys();
        for (name, token) in [
            ("RS256", jwt(&header("RS256", "rsa-1"), &claims(), Signer::Rsa(&k.rsa))),
            ("ES256", jwt(&header("ES256", "ec-1"), &claims(), Signer::Ec(&k.ec))),
            ("EdDSA", jwt(&header("EdDSA", "ed-1"), &claims(), Signer::Ed(&k.ed))),
        ] {
            let (status, body) = call(&app, &token).await;
            assert_eq!(status, 200, "{name}: {body}");
            assert_eq!(body["data"]["customers"]["totalCount"], 2, "{name}: {body}");
        }
        // Loaded once at start; known keys never cause a fetch.
        assert_eq!(provider.hits(), 1);
    }
}

each_store! {
    async fn every_bad_token_is_401_unauthenticated(store: StoreKind) {
        let provider = Provider::start(key_set()).await;
        let app = gateway(store, &provider.url).await;
        let k = keys();
        let rs = header("RS256", "rsa-1");
        let with = |patch: Value| {
            let mut c = claims();
            for (key, value) in patch.as_object().expect("object") {
                c[key] = value.clone();
            }
            c
        };
        let expired = jwt(&rs, &with(json!({ "exp": now() - 3600 })), Signer::Rsa(&k.rsa));
        assert_rejected(&app, &expired, "expired", "expired").await;
        let early = jwt(&rs, &with(json!({ "nbf": now() + 3600 })), Signer::Rsa(&k.rsa));
        assert_rejected(&app, &early, "not yet valid", "not valid yet").await;
        let issuer = jwt(&rs, &with(json!({ "iss": "https://evil.test" })), Signer::Rsa(&k.rsa));
        assert_rejected(&app, &issuer, "wrong issuer", "issuer").await;
        let audience = jwt(&rs, &with(json!({ "aud": "someone-else" })), Signer::Rsa(&k.rsa));
        assert_rejected(&app, &audience, "wrong audience", "audience").await;

        // A valid token whose claims were swapped after signing.
        let good = jwt(&rs, &with(json!({ "role": "PARTNER" })), Signer::Rsa(&k.rsa));
        let forged_claims = b64(claims().to_string().as_bytes());
        let parts: Vec<&str> = good.split('.').collect();
        let tampered = format!("{}.{forged_claims}.{}", parts[0], parts[2]);
        assert_rejected(&app, &tampered, "bad signature", "signature").await;
        // Signed by the EC key but naming the Ed25519 key's id and algorithm.
        let wrong_key = jwt(&header("ES256", "ec-1"), &claims(), Signer::Ec(&p256::ecdsa::SigningKey::random(&mut rand_core::OsRng)));
        assert_rejected(&app, &wrong_key, "bad EC signature", "signature").await;

        let none = jwt(&json!({ "alg": "none", "typ": "JWT" }), &claims(), Signer::Unsigned);
        assert_rejected(&app, &none, "alg none", "`none` is not accepted").await;

        // The classic confusion: HS256 with the RSA public key as the HMAC secret.
        use rsa::pkcs8::EncodePublicKey;
        let public_pem = k.rsa.to_public_key().to_public_key_pem(rsa::pkcs8::LineEnding::LF).expect("PEM");
        let confused = jwt(&header("HS256", "rsa-1"), &claims(), Signer::Hmac(public_pem.as_bytes()));
        assert_rejected(&app, &confused, "HS256 with the RS256 public key", "`HS256` is not accepted").await;

        // An RS256 token naming the EC key: the key's algorithm decides.
        let mismatch = jwt(&header("RS256", "ec-1"), &claims(), Signer::Rsa(&k.rsa));
        assert_rejected(&app, &mismatch, "algorithm not the key's", "does not match its key").await;

        let unknown = jwt(&header("RS256", "rsa-404"), &claims(), Signer::Rsa(&k.rsa));
        assert_rejected(&app, &unknown, "unknown kid", "`rsa-404` is not in the JWKS").await;
        let no_kid = jwt(&json!({ "alg": "RS256" }), &claims(), Signer::Rsa(&k.rsa));
        assert_rejected(&app, &no_kid, "no kid", "names no key").await;

        let body = good.split_once('.').expect("dot").1;
        assert_rejected(&app, &format!("%%%.{body}"), "header not base64", "header is malformed").await;
        let not_json = format!("{}.{body}", b64(b"{\"alg\": RS256"));
        assert_rejected(&app, &not_json, "header not JSON", "header is malformed").await;
        assert_rejected(&app, "only.two", "two parts", "three dot-separated parts").await;

        // The same signed token, untampered, passes: the cases above failed for their reason.
        let (status, body) = call(&app, &jwt(&rs, &claims(), Signer::Rsa(&k.rsa))).await;
        assert_eq!(status, 200, "{body}");
    }
}

each_store! {
    async fn hs256_stays_available_beside_the_jwks_and_its_secret_is_not_the_public_key(store: StoreKind) {
        let provider = Provider::start(key_set()).await;
        let url = provider.url.clone();
        let app = TestApp::spawn(store, move |c| {
            c.jwt_jwks = Some(url);
        })
        .await;
        let k = keys();
        // The development secret (dev mode) still verifies HS256 tokens...
        let (status, body) = call(&app, &app.staff()).await;
        assert_eq!(status, 200, "{body}");
        // ...and an HS256 token keyed with the RSA public key fails its signature.
        use rsa::pkcs8::EncodePublicKey;
        let pem = k.rsa.to_public_key().to_public_key_pem(rsa::pkcs8::LineEnding::LF).expect("PEM");
        let mut c = claims();
        c.as_object_mut().expect("object").remove("iss");
        c.as_object_mut().expect("object").remove("aud");
        let confused = jwt(&header("HS256", "rsa-1"), &c, Signer::Hmac(pem.as_bytes()));
        assert_rejected(&app, &confused, "HS256 with the public key", "signature").await;
        let (status, _) = call(&app, &jwt(&header("RS256", "rsa-1"), &c, Signer::Rsa(&k.rsa))).await;
        assert_eq!(status, 200);
    }
}

#[tokio::test]
async fn an_unknown_kid_refreshes_the_jwks_at_most_once_a_minute() {
    let provider = Provider::start(key_set()).await;
    let app = gateway(StoreKind::Sqlite, &provider.url).await;
    assert_eq!(provider.hits(), 1);
    let rotated = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
    let token = jwt(&header("EdDSA", "ed-2"), &claims(), Signer::Ed(&rotated));

    // The provider publishes a new key; the first token naming it triggers a refresh.
    let mut set = key_set();
    set["keys"]
        .as_array_mut()
        .expect("keys")
        .push(ed_jwk(&rotated, "ed-2"));
    provider.serve(StatusCode::OK, set.clone());
    let (status, body) = call(&app, &token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(provider.hits(), 2);
    // Old keys still work after the refresh.
    let (status, _) = call(
        &app,
        &jwt(
            &header("RS256", "rsa-1"),
            &claims(),
            Signer::Rsa(&keys().rsa),
        ),
    )
    .await;
    assert_eq!(status, 200);

    // Within the minute, neither made-up kids nor a key published since fetch again.
    let later = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
    set["keys"]
        .as_array_mut()
        .expect("keys")
        .push(ed_jwk(&later, "ed-3"));
    provider.serve(StatusCode::OK, set);
    for kid in ["ghost-1", "ghost-2", "ghost-3"] {
        let t = jwt(&header("EdDSA", kid), &claims(), Signer::Ed(&later));
        assert_rejected(&app, &t, "unknown kid", "not in the JWKS").await;
    }
    let t = jwt(&header("EdDSA", "ed-3"), &claims(), Signer::Ed(&later));
    assert_rejected(
        &app,
        &t,
        "key published within the minute",
        "not in the JWKS",
    )
    .await;
    assert_eq!(provider.hits(), 2);
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_old_keys() {
    let provider = Provider::start(key_set()).await;
    let url = provider.url.clone();
    let app = TestApp::spawn(StoreKind::Sqlite, move |c| {
        c.dev = false;
        c.jwt_jwks = Some(url);
        c.jwt_issuer = Some(ISSUER.into());
        c.jwt_audience = Some(AUDIENCE.into());
        c.jwt_jwks_refresh = std::time::Duration::ZERO;
    })
    .await;
    let k = keys();
    for (status, body) in [
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({ "error": "down" }),
        ),
        (StatusCode::OK, json!({ "not": "a key set" })),
    ] {
        provider.serve(status, body);
        let before = provider.hits();
        let unknown = jwt(&header("RS256", "rsa-9"), &claims(), Signer::Rsa(&k.rsa));
        assert_rejected(&app, &unknown, "unknown kid", "not in the JWKS").await;
        assert_eq!(provider.hits(), before + 1, "the refresh was attempted");
        let (status, body) = call(
            &app,
            &jwt(&header("ES256", "ec-1"), &claims(), Signer::Ec(&k.ec)),
        )
        .await;
        assert_eq!(status, 200, "old key after a failed refresh: {body}");
    }
}

#[tokio::test]
async fn a_jwks_file_is_read_at_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, key_set().to_string()).expect("write JWKS");
    let app = gateway(StoreKind::Sqlite, &path.display().to_string()).await;
    let k = keys();
    let (status, body) = call(
        &app,
        &jwt(&header("EdDSA", "ed-1"), &claims(), Signer::Ed(&k.ed)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // A server with only a JWKS accepts no HS256 token, not even the development secret's.
    assert_rejected(
        &app,
        &app.staff(),
        "HS256 without a secret",
        "`HS256` is not accepted",
    )
    .await;
}
