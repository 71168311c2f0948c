//! The HTTP surface: `/graphql` by the GraphQL-over-HTTP spec, `/healthz`,
//! `/readyz`, `/metrics`, segment exports. [`router`] wires the handlers;
//! `startup` builds the app and serves it.

pub mod access_log;
mod export;
pub mod graphiql;
mod graphql;
mod health;
pub mod metrics;
mod negotiate;
pub mod rate_limit;
pub mod websocket;

use axum::Router;
use axum::http::{HeaderValue, Method, header};
use axum::routing::get;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::app::AppState;
use crate::config::Config;
use crate::graphql::C360Schema;

/// What every handler shares.
#[derive(Clone)]
pub struct HttpState {
    pub app: AppState,
    pub schema: C360Schema,
    /// The schema for callers who may not introspect: no field suggestions.
    pub quiet_schema: C360Schema,
    /// The schema trusted documents run on once validated.
    pub trusted_schema: C360Schema,
}

pub fn router(app: AppState) -> Router {
    let schema = crate::graphql::schema(app.clone());
    let quiet_schema = crate::graphql::quiet_schema(app.clone());
    let trusted_schema = crate::graphql::trusted_schema(app.clone());
    let cors = cors(&app.config);
    Router::new()
        .route(
            "/graphql",
            get(graphql::get_graphql).post(graphql::post_graphql),
        )
        .route(graphiql::ASSET_ROUTE, get(graphiql::asset))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/segments/{id}/export", get(export::export_segment))
        .layer(cors)
        .layer(axum::middleware::from_fn(access_log::log))
        .with_state(HttpState {
            app,
            schema,
            quiet_schema,
            trusted_schema,
        })
}

/// Cross-origin access for the configured origins only; an origin not on
/// the list gets no CORS headers, so browsers refuse it.
fn cors(config: &Config) -> CorsLayer {
    let origins: Vec<HeaderValue> = config
        .cors_allow_origins
        .iter()
        .filter_map(|o| match HeaderValue::from_str(o.trim()) {
            Ok(v) => Some(v),
            Err(_) => {
                tracing::warn!(origin = %o, "ignoring an invalid CORS origin");
                None
            }
        })
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .expose_headers([header::RETRY_AFTER, access_log::REQUEST_ID])
        .max_age(std::time::Duration::from_secs(600))
}
