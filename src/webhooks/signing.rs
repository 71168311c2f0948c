//! Signing by the Standard Webhooks spec (<https://www.standardwebhooks.com/>):
//! the secret format, the three headers, and verification for receivers
//! (`c360 webhooks listen`).
//!
//! A secret is `whsec_` + base64 of 24 random bytes; the key is the decoded
//! part. A delivery carries `webhook-id` (the event id, the same in every
//! attempt, so receivers deduplicate on it), `webhook-timestamp` (unix
//! seconds of the attempt) and `webhook-signature`: space-separated
//! `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, one per secret
//! that signs (two during a rotation).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{AppError, AppResult};

pub const HEADER_ID: &str = "webhook-id";
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
pub const HEADER_SIGNATURE: &str = "webhook-signature";

/// The prefix of every secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// Bytes of key in a fresh secret (the spec asks for 24 to 64).
const KEY_BYTES: usize = 24;

/// How far a receiver lets a timestamp lie from its own clock (the spec's
/// recommendation), against replays of captured deliveries.
pub const TOLERANCE_SECS: i64 = 5 * 60;

/// A fresh secret from the OS generator.
pub fn generate_secret() -> AppResult<String> {
    let mut key = [0u8; KEY_BYTES];
    getrandom::fill(&mut key)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("no randomness for a secret: {e}")))?;
    Ok(format!("{SECRET_PREFIX}{}", STANDARD.encode(key)))
}

/// The key of a `whsec_` secret; `None` when it is not one.
pub fn key_of(secret: &str) -> Option<Vec<u8>> {
    STANDARD
        .decode(secret.strip_prefix(SECRET_PREFIX)?)
        .ok()
        .filter(|k| !k.is_empty())
}

fn mac(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// `v1,<signature>` of `body` with `secret`.
fn sign_one(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> AppResult<String> {
    let key = key_of(secret).ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!("a stored webhook secret is malformed"))
    })?;
    let tag = mac(&key, id, timestamp, body).finalize().into_bytes();
    Ok(format!("v1,{}", STANDARD.encode(tag)))
}

/// The `webhook-signature` value: one signature per secret, space-separated.
pub fn signature_header(
    secrets: &[&str],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> AppResult<String> {
    let signatures = secrets
        .iter()
        .map(|s| sign_one(s, id, timestamp, body))
        .collect::<AppResult<Vec<_>>>()?;
    Ok(signatures.join(" "))
}

/// Why a delivery does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the secret is not a `whsec_` secret")]
    BadSecret,
    #[error("the timestamp is not unix seconds")]
    BadTimestamp,
    #[error("the timestamp is more than {TOLERANCE_SECS} s away from now")]
    Stale,
    #[error("no signature matches")]
    NoMatch,
}

/// Checks a delivery as a receiver does: the timestamp within
/// [`TOLERANCE_SECS`] of `now` (unix seconds), and one of the `v1`
/// signatures matching (compared in constant time by `verify_slice`).
pub fn verify(
    secret: &str,
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: i64,
) -> Result<(), VerifyError> {
    let key = key_of(secret).ok_or(VerifyError::BadSecret)?;
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| VerifyError::BadTimestamp)?;
    if (now - ts).abs() > TOLERANCE_SECS {
        return Err(VerifyError::Stale);
    }
    let expected = mac(&key, id, ts, body);
    let matches = signatures
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|s| STANDARD.decode(s).ok())
        .any(|tag| expected.clone().verify_slice(&tag).is_ok());
    if matches {
        Ok(())
    } else {
        Err(VerifyError::NoMatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks reference libraries.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1614265330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;

    #[test]
    fn signs_the_spec_example() {
        let header = signature_header(&[SECRET], ID, TS, BODY).unwrap_or_default();
        assert_eq!(header, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn verifies_with_any_of_the_signatures_and_refuses_the_rest() {
        let other = generate_secret().unwrap_or_default();
        let both = signature_header(&[&other, SECRET], ID, TS, BODY).unwrap_or_default();
        assert_eq!(both.split(' ').count(), 2);
        assert_eq!(
            verify(SECRET, ID, "1614265330", &both, BODY, TS + 10),
            Ok(())
        );
        assert_eq!(verify(&other, ID, "1614265330", &both, BODY, TS), Ok(()));
        assert_eq!(
            verify(SECRET, ID, "1614265330", &both, b"{}", TS),
            Err(VerifyError::NoMatch)
        );
        assert_eq!(
            verify(
                SECRET,
                ID,
                "1614265330",
                &both,
                BODY,
                TS + TOLERANCE_SECS + 1
            ),
            Err(VerifyError::Stale)
        );
        let fresh = generate_secret().unwrap_or_default();
        assert!(fresh.starts_with(SECRET_PREFIX));
        assert_eq!(key_of(&fresh).map(|k| k.len()), Some(KEY_BYTES));
        assert_ne!(fresh, other);
    }
}
