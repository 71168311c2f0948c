//! One structured line per request (target `c360::access`): the request id,
//! the W3C trace id, what ran and for whom, how long it took, how many SQL
//! statements it issued and which error codes it answered with. Never PII or
//! tokens: the caller is its role and token subject, the document its
//! operation names.
//!
//! The request id comes from `X-Request-Id` when the caller sends a sane one
//! (a load balancer's, say) and is made here otherwise; either way it is
//! echoed in the response, so "my call failed at 10:32" becomes a grep. The
//! trace id comes from a valid `traceparent`, or is made here.
//!
//! Handlers learn about the request as they go (the caller once the token is
//! verified, each operation as it finishes) and write it into the [`Entry`]
//! this middleware puts in the request's extensions; the line is written
//! once the response is ready.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::auth::Identity;
use crate::error::ErrorCode;
use crate::graphql::Outcome;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// What the handlers learnt about one request.
#[derive(Debug, Clone, Default)]
pub struct Entry(Arc<Mutex<Fields>>);

#[derive(Debug, Default)]
struct Fields {
    role: Option<String>,
    subject: Option<String>,
    operations: Vec<String>,
    statements: u64,
    /// The worst outcome of the request's operations.
    outcome: Option<Outcome>,
    codes: BTreeSet<String>,
}

impl Entry {
    fn with<T>(&self, f: impl FnOnce(&mut Fields) -> T) -> T {
        let mut fields = match self.0.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut fields)
    }

    /// The caller, once its token is verified.
    pub fn caller(&self, identity: &Identity) {
        if let Identity::Authenticated(p) = identity {
            self.with(|f| {
                f.role = Some(p.role.to_string());
                f.subject = Some(p.subject.clone());
            });
        }
    }

    /// One GraphQL operation that ran (or was refused by validation).
    pub fn operation(
        &self,
        name: Option<&str>,
        outcome: Outcome,
        statements: u64,
        codes: impl IntoIterator<Item = String>,
    ) {
        self.with(|f| {
            f.operations.push(name.unwrap_or("-").to_owned());
            f.statements += statements;
            if f.outcome.is_none_or(|o| o.severity() < outcome.severity()) {
                f.outcome = Some(outcome);
            }
            f.codes.extend(codes);
        });
    }
}

/// Whether `id` may be echoed and logged as a request id: short, and of
/// characters no log or header parser trips on.
fn acceptable(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// The trace id of a valid version-00 `traceparent`
/// (`00-<32 hex>-<16 hex>-<2 hex>`, ids not all zeros).
pub fn trace_id(traceparent: &str) -> Option<&str> {
    let mut parts = traceparent.trim().split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let zero = |s: &str| s.bytes().all(|b| b == b'0');
    (version == "00"
        && parts.next().is_none()
        && hex(trace, 32)
        && !zero(trace)
        && hex(parent, 16)
        && !zero(parent)
        && hex(flags, 2))
    .then_some(trace)
}

fn new_trace_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// The middleware: ids in, the line out.
pub async fn log(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let headers = request.headers();
    let request_id = headers
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| acceptable(id))
        .map_or_else(|| ulid::Ulid::new().to_string(), str::to_owned);
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let span = crate::telemetry::request_span(method.as_str(), &path, headers);
    // The exported trace's id when traces are exported (the caller's, or
    // a new one), so the log line and the trace name the same.
    let trace = crate::telemetry::trace_id(&span)
        .or_else(|| {
            headers
                .get(&TRACEPARENT)
                .and_then(|v| v.to_str().ok())
                .and_then(trace_id)
                .map(str::to_owned)
        })
        .unwrap_or_else(new_trace_id);
    let entry = Entry::default();
    request.extensions_mut().insert(entry.clone());
    let mut response = next.run(request).instrument(span).await;
    if let Some(ErrorCode(code)) = response.extensions().get::<ErrorCode>() {
        let code = (*code).to_owned();
        entry.with(|f| f.codes.insert(code));
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let status = response.status().as_u16();
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    entry.with(|f| {
        let codes = f
            .codes
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(",");
        tracing::info!(
            target: "c360::access",
            request_id,
            trace_id = trace,
            method = %method,
            path,
            status,
            duration_ms,
            operations = f.operations.join(","),
            role = f.role.as_deref().unwrap_or("anonymous"),
            subject = f.subject.as_deref().unwrap_or(""),
            statements = f.statements,
            outcome = f.outcome.map_or("-", Outcome::label),
            codes,
            "request"
        );
    });
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_is_read_by_the_w3c_rules() {
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        assert_eq!(trace_id(&format!("00-{id}-00f067aa0ba902b7-01")), Some(id));
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
        ] {
            assert_eq!(trace_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn request_ids_are_short_and_plain() {
        assert!(acceptable("req-42.a_b:c"));
        assert!(!acceptable(""));
        assert!(!acceptable("a b"));
        assert!(!acceptable("line\nbreak"));
        assert!(!acceptable(&"x".repeat(129)));
    }
}
