//! The HTTP surface: `/graphql` by the GraphQL-over-HTTP spec, `/healthz`,
//! `/readyz`, `/metrics`. [`Application::build`] binds and wires everything;
//! the binary and the tests start the same application.

mod export;
mod graphql;
mod health;
pub mod metrics;
mod negotiate;
pub mod rate_limit;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, Method, header};
use axum::routing::get;
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::app::{App, AppState};
use crate::auth::{Jwks, TokenIssuer, TokenVerifier};
use crate::config::Config;
use crate::db::{Store, StoreOptions};
use crate::error::{AppError, AppResult};
use crate::graphql::C360Schema;

/// What every handler shares.
#[derive(Clone)]
pub struct HttpState {
    pub app: AppState,
    pub schema: C360Schema,
    /// The schema for callers who may not introspect: no field suggestions.
    pub quiet_schema: C360Schema,
}

pub fn router(app: AppState) -> Router {
    let schema = crate::graphql::schema(app.clone());
    let quiet_schema = crate::graphql::quiet_schema(app.clone());
    let cors = cors(&app.config);
    Router::new()
        .route(
            "/graphql",
            get(graphql::get_graphql).post(graphql::post_graphql),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/segments/{id}/export", get(export::export_segment))
        .layer(cors)
        .with_state(HttpState {
            app,
            schema,
            quiet_schema,
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
        .expose_headers([header::RETRY_AFTER])
        .max_age(std::time::Duration::from_secs(600))
}

/// A bound, ready-to-serve gateway.
pub struct Application {
    listener: TcpListener,
    app: AppState,
}

impl Application {
    /// Opens and migrates the store, binds the listener.
    pub async fn build(config: Config) -> AppResult<Application> {
        let store = open_store(&config).await?;
        crate::db::migrate_up(&store.conn).await?;
        let listener = TcpListener::bind(config.listen).await.map_err(|e| {
            AppError::Internal(anyhow::anyhow!("cannot listen on {}: {e}", config.listen))
        })?;
        Ok(Application {
            listener,
            app: app_state(config, store).await?,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    pub fn state(&self) -> &AppState {
        &self.app
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> AppResult<()> {
        let router = router(self.app.clone()).into_make_service_with_connect_info::<SocketAddr>();
        let jobs = [rfm_schedule(&self.app), settle_schedule(&self.app)];
        let served = axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|e| AppError::Internal(e.into()));
        // Aborting mid-job drops its transaction, which rolls back.
        for task in jobs.into_iter().flatten() {
            task.abort();
        }
        served
    }
}

/// Recomputes RFM scores every `rfm_refresh_interval` while serving. The first
/// run is one interval after start: seeding and `c360 insights refresh`
/// already leave fresh scores, and a refresh racing a seed would only wait
/// on its locks.
fn rfm_schedule(app: &AppState) -> Option<tokio::task::JoinHandle<()>> {
    let db = app.store.conn.clone();
    every(app.config.rfm_refresh_interval, "RFM refresh", move || {
        let db = db.clone();
        async move {
            let rows = crate::service::rfm::refresh(&db).await?;
            Ok(format!("RFM scores refreshed for {rows} customers"))
        }
    })
}

/// Settles due loyalty accounts every `loyalty_settle_interval`. Reads
/// settle the accounts they show; this keeps the balances that segments
/// and list sorting read from the table current as well.
fn settle_schedule(app: &AppState) -> Option<tokio::task::JoinHandle<()>> {
    let db = app.store.conn.clone();
    every(
        app.config.loyalty_settle_interval,
        "loyalty settlement",
        move || {
            let db = db.clone();
            async move {
                let now = chrono::Utc::now();
                let due = crate::service::loyalty::due_accounts(&db, now).await?;
                let txn = crate::db::begin_write(&db).await?;
                let settled = crate::service::loyalty::settle(&txn, now, &due).await?;
                txn.commit().await?;
                Ok(format!(
                    "loyalty settled: {} rows available, {} points expired",
                    settled.rows, settled.points_expired
                ))
            }
        },
    )
}

/// Runs `job` every `period` while serving, the first time one period after
/// start; `None` for a zero period. A failed run is logged and retried at
/// the next tick.
fn every<F, Fut>(
    period: std::time::Duration,
    what: &'static str,
    job: F,
) -> Option<tokio::task::JoinHandle<()>>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = AppResult<String>> + Send,
{
    if period.is_zero() {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match job().await {
                Ok(done) => tracing::info!("{done}"),
                Err(e) => tracing::warn!(error = %e, "{what} failed; retrying next interval"),
            }
        }
    }))
}

/// The store as `serve` uses it: every PostgreSQL statement bounded by the
/// request deadline.
pub async fn open_store(config: &Config) -> AppResult<Store> {
    open_store_with(config, Some(config.request_timeout)).await
}

/// The store for maintenance commands (seed, import, settle, refresh), whose
/// bulk statements may rightly run longer than any request.
pub async fn open_store_unbounded(config: &Config) -> AppResult<Store> {
    open_store_with(config, None).await
}

async fn open_store_with(
    config: &Config,
    statement_timeout: Option<std::time::Duration>,
) -> AppResult<Store> {
    let mut options = StoreOptions::new(config.database_url.clone());
    options.max_connections = config.db_max_connections;
    options.statement_timeout = statement_timeout;
    Store::connect(&options).await.map_err(|e| {
        AppError::Internal(anyhow::anyhow!(
            "cannot open the store at {}: {e}",
            redact_url(&config.database_url)
        ))
    })
}

async fn app_state(config: Config, store: Store) -> AppResult<AppState> {
    let secret = config.effective_jwt_secret();
    let leeway = std::time::Duration::from_secs(config.jwt_leeway_secs);
    let (iss, aud) = (config.jwt_issuer.as_deref(), config.jwt_audience.as_deref());
    let jwks = match &config.jwt_jwks {
        Some(location) => Some(Jwks::load(location, config.jwt_jwks_refresh).await),
        None => None,
    };
    let verifier = match (&secret, jwks) {
        (Some(s), Some(jwks)) => Some(TokenVerifier::hs256(s, iss, aud, leeway).with_jwks(jwks)),
        (Some(s), None) => Some(TokenVerifier::hs256(s, iss, aud, leeway)),
        (None, Some(jwks)) => Some(TokenVerifier::jwks(jwks, iss, aud, leeway)),
        (None, None) => None,
    };
    let issuer = secret
        .as_ref()
        .map(|s| TokenIssuer::hs256(s, config.jwt_issuer.clone(), config.jwt_audience.clone()));
    if verifier.is_none() {
        tracing::warn!(
            "no C360_JWT_SECRET or C360_JWT_JWKS and not in --dev mode: every bearer token will be refused"
        );
    }
    Ok(AppState(Arc::new(App {
        store,
        verifier,
        issuer,
        metrics: metrics::Metrics::default(),
        rate_limiter: rate_limit::RateLimiter::new(rate_limit::Quotas::from_config(&config)),
        documents: Default::default(),
        executions: crate::graphql::Executions::new(config.max_concurrent_requests),
        config,
    })))
}

/// The URL with any password replaced, fit for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
