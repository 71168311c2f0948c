//! One startup: opens and migrates the store, builds the [`App`] (verifier,
//! rules, clock, caches, limits) and starts its background jobs. `serve`,
//! every other CLI command, the tests and the benchmark all start here, so
//! what runs in production is what was tested.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::app::{App, AppState};
use crate::auth::{Jwks, TokenIssuer, TokenVerifier};
use crate::config::Config;
use crate::db::{Store, StoreOptions, redact_url};
use crate::domain::Clock;
use crate::error::{AppError, AppResult};
use crate::service::Rules;

/// What the store is opened for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Answering requests: every PostgreSQL statement bounded by the
    /// request deadline.
    Serve,
    /// Maintenance commands (seed, import, settle, refresh), whose bulk
    /// statements may rightly run longer than any request.
    Maintenance,
}

/// Opens the store at `config.database_url` for `purpose`.
pub async fn open_store(config: &Config, purpose: Purpose) -> AppResult<Store> {
    let mut options = StoreOptions::new(config.database_url.clone());
    options.max_connections = config.db_max_connections;
    options.statement_timeout = match purpose {
        Purpose::Serve => Some(config.request_timeout),
        Purpose::Maintenance => None,
    };
    Store::connect(&options).await.map_err(|e| {
        AppError::Internal(anyhow::anyhow!(
            "cannot open the store at {}: {e}",
            redact_url(&config.database_url)
        ))
    })
}

/// Opens and migrates the store and builds the app on it. Tier reviews
/// made under other tier rules than the configured ones are made due, so a
/// changed policy or threshold applies at the next review pass.
pub async fn build(config: Config, purpose: Purpose, clock: Clock) -> AppResult<AppState> {
    let store = open_store(&config, purpose).await?;
    crate::db::migrate_up(&store.conn).await?;
    let app = App::assemble(config, store, clock).await?;
    crate::service::loyalty::mark_due_on_new_rules(&app.store.conn, &app.rules, app.clock.now())
        .await?;
    Ok(app)
}

impl App {
    /// The app on an open, migrated store.
    pub async fn assemble(config: Config, store: Store, clock: Clock) -> AppResult<AppState> {
        let rules = Rules::from_config(&config)?;
        let (verifier, issuer) = tokens(&config).await;
        let trusted =
            crate::graphql::trusted::TrustedDocuments::load(config.trusted_documents.as_deref())?;
        let replicas = crate::db::replicas::Replicas::open(&config, store.backend()).await?;
        Ok(AppState(Arc::new(App {
            store,
            replicas,
            verifier,
            issuer,
            rules,
            clock,
            metrics: crate::http::metrics::Metrics::default(),
            rate_limiter: crate::http::rate_limit::RateLimiter::from_config(&config)?,
            documents: Default::default(),
            trusted,
            executions: crate::graphql::Executions::new(config.max_concurrent_requests),
            graphiql_demo: Default::default(),
            feed: Default::default(),
            sockets: Default::default(),
            config,
        })))
    }
}

/// The verifier and issuer the configured secret and JWKS give.
async fn tokens(config: &Config) -> (Option<TokenVerifier>, Option<TokenIssuer>) {
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
    (verifier, issuer)
}

/// A bound, ready-to-serve gateway.
pub struct Application {
    listener: TcpListener,
    app: AppState,
}

impl Application {
    /// Opens and migrates the store, binds the listener; on the system clock.
    pub async fn build(config: Config) -> AppResult<Application> {
        Application::build_with_clock(config, Clock::system()).await
    }

    /// As [`Application::build`], reading the time from `clock`.
    pub async fn build_with_clock(config: Config, clock: Clock) -> AppResult<Application> {
        let listen = config.listen;
        let app = build(config, Purpose::Serve, clock).await?;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| AppError::Internal(anyhow::anyhow!("cannot listen on {listen}: {e}")))?;
        Ok(Application { listener, app })
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
        let router = crate::http::router(self.app.clone())
            .into_make_service_with_connect_info::<SocketAddr>();
        let _jobs = Jobs::start(&self.app);
        // Each response goes out as soon as it is written: a client's next
        // request on the connection must not wait on the ACK of the last.
        let listener = axum::serve::ListenerExt::tap_io(self.listener, |tcp| {
            if let Err(err) = tcp.set_nodelay(true) {
                tracing::warn!(%err, "cannot set TCP_NODELAY on a connection");
            }
        });
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|e| AppError::Internal(e.into()))
    }
}

/// The background jobs of a serving app; aborted when dropped. Aborting
/// mid-job drops its transaction, which rolls back.
pub struct Jobs(Vec<JoinHandle<()>>);

impl Jobs {
    pub fn start(app: &AppState) -> Jobs {
        Jobs(
            [
                rfm_schedule(app),
                settle_schedule(app),
                events_schedule(app),
                reload_trusted_documents_on_hangup(app),
                replica_checks(app),
                crate::stream::job(app),
                crate::live::job(app),
            ]
            .into_iter()
            .flatten()
            .chain(crate::webhooks::jobs(app))
            .collect(),
        )
    }
}

impl Drop for Jobs {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Recomputes RFM scores, then refits the lifetime-value models and their
/// predictions (`service::clv`) and rebuilds the co-purchase table and top
/// categories (`service::recommendations`), every `rfm_refresh_interval` while
/// serving. The first run is one interval after start: seeding and `c360
/// insights refresh` already leave fresh scores, and a refresh racing a
/// seed would only wait on its locks.
fn rfm_schedule(app: &AppState) -> Option<JoinHandle<()>> {
    let app = app.clone();
    every(
        app.config.rfm_refresh_interval,
        "RFM and CLV refresh",
        move || {
            let app = app.clone();
            async move {
                let now = app.clock.now();
                let rows = crate::service::rfm::refresh(&app.store.conn, now).await?;
                let clv =
                    crate::service::clv::refresh(&app.store.conn, &app.config.base_currency, now)
                        .await?;
                let affinities =
                    crate::service::recommendations::refresh_now(&app.store.conn, &app.rules, now)
                        .await?;
                Ok(format!(
                    "RFM scores refreshed for {rows} customers; {clv}; {affinities}"
                ))
            }
        },
    )
}

/// Settles due loyalty accounts every `loyalty_settle_interval`. Reads
/// settle the accounts they show; this keeps the balances that segments
/// and list sorting read from the table current as well.
fn settle_schedule(app: &AppState) -> Option<JoinHandle<()>> {
    let app = app.clone();
    every(
        app.config.loyalty_settle_interval,
        "loyalty settlement",
        move || {
            let app = app.clone();
            async move {
                let settled =
                    crate::service::loyalty::settle_due(&app.store.conn, app.clock.now()).await?;
                Ok(format!(
                    "loyalty settled: {} rows available, {} points expired",
                    settled.rows, settled.points_expired
                ))
            }
        },
    )
}

/// Runs the events scheduler (`events::scheduler`) every
/// `scheduler_interval`: time-based events, each emitted once however
/// many instances run it.
fn events_schedule(app: &AppState) -> Option<JoinHandle<()>> {
    let app = app.clone();
    every(
        app.config.scheduler_interval,
        "events scheduler",
        move || {
            let app = app.clone();
            async move { Ok(crate::events::scheduler::tick(&app).await?.to_string()) }
        },
    )
}

/// Checks every read replica at once and then every
/// `replica_check_interval` (`db::replicas`); queries use a replica only
/// once a check has found it current.
fn replica_checks(app: &AppState) -> Option<JoinHandle<()>> {
    if app.replicas.is_empty() {
        return None;
    }
    let urls: Vec<String> = app.replicas.status().into_iter().map(|r| r.url).collect();
    tracing::info!(
        replicas = %urls.join(", "),
        "queries go to the read replicas that a check finds current"
    );
    let app = app.clone();
    Some(tokio::spawn(async move {
        let mut ticks = tokio::time::interval(app.config.replica_check_interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            app.replicas.check().await;
        }
    }))
}

/// Reads the trusted-document manifest again on SIGHUP, the Unix signal for
/// "reload your configuration", so a client release can add documents
/// without a restart. A manifest that no longer loads is logged and the
/// loaded one stays.
fn reload_trusted_documents_on_hangup(app: &AppState) -> Option<JoinHandle<()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        app.config.trusted_documents.as_ref()?;
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; the trusted-document manifest will not reload");
                return None;
            }
        };
        let app = app.clone();
        Some(tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                match app.trusted.reload() {
                    Ok(count) => {
                        tracing::info!("trusted-document manifest reloaded: {count} documents")
                    }
                    Err(e) => tracing::error!(
                        "trusted-document manifest not reloaded, the loaded one stays: {e}"
                    ),
                }
            }
        }))
    }
    #[cfg(not(unix))]
    {
        let _ = app;
        None
    }
}

/// Runs `job` every `period` while serving, the first time one period after
/// start; `None` for a zero period. A failed run is logged and retried at
/// the next tick.
fn every<F, Fut>(period: std::time::Duration, what: &'static str, job: F) -> Option<JoinHandle<()>>
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
