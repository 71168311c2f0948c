//! The HTTP surface: `/graphql` by the GraphQL-over-HTTP spec, `/healthz`,
//! `/readyz`, `/metrics`. [`Application::build`] binds and wires everything;
//! the binary and the tests start the same application.

mod export;
mod graphql;
mod health;
pub mod metrics;
mod negotiate;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::app::{App, AppState};
use crate::auth::{TokenIssuer, TokenVerifier};
use crate::config::Config;
use crate::db::{Store, StoreOptions};
use crate::error::{AppError, AppResult};
use crate::graphql::C360Schema;

/// What every handler shares.
#[derive(Clone)]
pub struct HttpState {
    pub app: AppState,
    pub schema: C360Schema,
}

pub fn router(app: AppState) -> Router {
    let schema = crate::graphql::schema(app.clone());
    Router::new()
        .route(
            "/graphql",
            get(graphql::get_graphql).post(graphql::post_graphql),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/segments/{id}/export", get(export::export_segment))
        .with_state(HttpState { app, schema })
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
            app: app_state(config, store)?,
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
        axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|e| AppError::Internal(e.into()))
    }
}

pub async fn open_store(config: &Config) -> AppResult<Store> {
    let mut options = StoreOptions::new(config.database_url.clone());
    options.max_connections = config.db_max_connections;
    options.statement_timeout = Some(config.request_timeout);
    Store::connect(&options).await.map_err(|e| {
        AppError::Internal(anyhow::anyhow!(
            "cannot open the store at {}: {e}",
            redact_url(&config.database_url)
        ))
    })
}

fn app_state(config: Config, store: Store) -> AppResult<AppState> {
    let secret = config.effective_jwt_secret();
    let leeway = std::time::Duration::from_secs(config.jwt_leeway_secs);
    let verifier = secret.as_ref().map(|s| {
        TokenVerifier::hs256(
            s,
            config.jwt_issuer.as_deref(),
            config.jwt_audience.as_deref(),
            leeway,
        )
    });
    let issuer = secret
        .as_ref()
        .map(|s| TokenIssuer::hs256(s, config.jwt_issuer.clone(), config.jwt_audience.clone()));
    if verifier.is_none() {
        tracing::warn!(
            "no C360_JWT_SECRET and not in --dev mode: every bearer token will be refused"
        );
    }
    Ok(AppState(Arc::new(App {
        store,
        config,
        verifier,
        issuer,
        metrics: metrics::Metrics::default(),
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
