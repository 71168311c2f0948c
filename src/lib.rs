//! c360: a GraphQL customer-360 gateway.
//!
//! The binary is a thin shell over [`cli::run`]; tests start the same
//! [`startup::Application`] the binary serves. `docs/ARCHITECTURE.md` maps
//! the layers.

/// The one state object, built once.
pub mod app;
/// Token verification, `Principal`, access guards.
pub mod auth;
/// Command line: serve, migrate, seed, import, token, schema.
pub mod cli;
/// Typed configuration, loaded once from flags and `C360_*` / `DATABASE_URL`.
pub mod config;
/// Opening the store: pool, SQLite pragmas, statement counting; read replicas.
pub mod db;
/// Facts of the business, defined once: ids, money, tiers, NPS, RFM, statuses, codes, the clock.
pub mod domain;
/// The one error type and its `extensions.code`.
pub mod error;
/// The transactional outbox: the event catalogue, event payloads, emitting in the write's transaction.
pub mod events;
/// GraphQL schema: one module per domain, batched loaders.
pub mod graphql;
/// axum router: GraphQL-over-HTTP handler, health, metrics.
pub mod http;
/// Bulk loading of records from JSON Lines or CSV files.
pub mod import;
/// The outbox as it grows, fanned out to GraphQL subscribers.
pub mod live;
/// The read path: batched loaders, joined and combined statements, keyset pagination.
pub mod read;
/// Deterministic demo and benchmark data.
pub mod seed;
/// The segment language: lexer, parser, catalogue, compiler to SQL.
pub mod segment;
/// Business rules per domain, independent of GraphQL.
pub mod service;
/// Builds the app once (store, rules, clock, caches, background jobs) for serve, the CLI, tests and the bench.
pub mod startup;
/// The outbox published to NATS JetStream (`--events-nats-url`).
pub mod stream;
/// Traces over OTLP/HTTP: request, loader, SQL and webhook spans.
pub mod telemetry;
/// Signed webhooks fed by the outbox: endpoints, dispatching events to deliveries, sending them.
pub mod webhooks;

pub use config::Config;
pub use error::{AppError, AppResult};
