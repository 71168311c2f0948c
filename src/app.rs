//! The one state object: built once by `startup`, shared by the HTTP layer
//! and attached to the GraphQL schema.

use std::sync::Arc;

use crate::auth::{Identity, TokenIssuer, TokenVerifier};
use crate::config::Config;
use crate::db::Store;
use crate::db::replicas::{Reader, Replicas};

#[derive(Clone, Debug)]
pub struct AppState(pub Arc<App>);

impl std::ops::Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}

#[derive(Debug)]
pub struct App {
    /// The store and its statement counter: the primary, which every write
    /// and background job uses.
    pub store: Store,
    /// Read replicas, their health and the callers who wrote lately; see
    /// [`App::reader`].
    pub replicas: Replicas,
    pub config: Config,
    /// The business rules, read from `config` once.
    pub rules: crate::service::Rules,
    /// What every rule reads the time from.
    pub clock: crate::domain::Clock,
    /// Verifies bearer tokens; `None` when neither a secret nor a JWKS is configured
    /// (every token is refused).
    pub verifier: Option<TokenVerifier>,
    /// Mints tokens with the configured secret, for `--seed-demo`.
    pub issuer: Option<TokenIssuer>,
    /// Request counters and latency histograms for `/metrics`.
    pub metrics: crate::http::metrics::Metrics,
    /// Requests per caller and role.
    pub rate_limiter: crate::http::rate_limit::RateLimiter,
    /// Documents already checked against the limits, parsed.
    pub documents: crate::graphql::documents::DocumentCache,
    /// The trusted-document manifest and the automatic persisted queries.
    pub trusted: crate::graphql::trusted::TrustedDocuments,
    /// Slots for executing GraphQL requests (`max_concurrent_requests`).
    pub executions: crate::graphql::Executions,
    /// New outbox events for this instance's GraphQL subscribers.
    pub feed: crate::live::Feed,
    /// Open WebSocket connections per token subject.
    pub sockets: crate::http::websocket::Sockets,
    /// The demo token and customer GraphiQL opens with, set by `serve
    /// --seed-demo` in `--dev` mode only. A cell rather than a plain field:
    /// the token is minted after the app is built and the store seeded, when
    /// the app is already shared.
    pub graphiql_demo: std::sync::OnceLock<crate::http::graphiql::DemoSession>,
}

impl App {
    /// The connection a request of `identity` reads from, chosen once per
    /// request: for a query (`read_only`), a replica in use, round-robin,
    /// unless the caller wrote within the lag bound; the primary for
    /// everything else, and whenever no replica is in use.
    pub fn reader(&self, identity: &Identity, read_only: bool) -> Reader {
        let subject = match identity {
            Identity::Authenticated(principal) => Some(principal.subject.as_str()),
            Identity::Anonymous => None,
        };
        let replica = read_only.then(|| self.replicas.pick(subject)).flatten();
        match replica {
            Some(replica) => Reader(replica.store.clone()),
            None => Reader(self.store.clone()),
        }
    }

    /// Notes that `identity` wrote, so its next reads see the write.
    pub fn wrote(&self, identity: &Identity) {
        if let Identity::Authenticated(principal) = identity {
            self.replicas.wrote(&principal.subject);
        }
    }
}
