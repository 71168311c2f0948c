//! Starting the gateway the way the binary does, on a store of its own.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use c360::auth::{Role, TokenIssuer};
use c360::config::{Config, DEV_JWT_SECRET};
use c360::domain::Clock;
use c360::seed::SeedOptions;
use c360::service::Rules;
use c360::startup::Application;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use secrecy::SecretString;
use serde_json::{Value, json};

/// Runs a test body on SQLite and, when configured, on PostgreSQL.
#[macro_export]
macro_rules! both_stores {
    ($(#[$meta:meta])* async fn $name:ident($app:ident: TestApp) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($app: $crate::helpers::TestApp) $body

            $(#[$meta])*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run($crate::helpers::TestApp::spawn_sqlite().await).await;
            }

            $(#[$meta])*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) = $crate::helpers::TestApp::spawn_postgres().await {
                    run(app).await;
                }
            }
        }
    };
}

/// Runs a test body once per store, for tests that configure the gateway
/// themselves (`TestApp::spawn(store, |config| ...)`).
#[macro_export]
macro_rules! each_store {
    ($(#[$meta:meta])* async fn $name:ident($store:ident: StoreKind) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($store: $crate::helpers::StoreKind) $body

            $(#[$meta])*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run($crate::helpers::StoreKind::Sqlite).await;
            }

            $(#[$meta])*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if std::env::var("C360_TEST_POSTGRES_URL").is_ok() {
                    run($crate::helpers::StoreKind::Postgres).await;
                } else {
                    $crate::helpers::postgres_not_run();
                }
            }
        }
    };
}

/// Says, in the test's output, that the PostgreSQL part of a test did not
/// run, so a green run without PostgreSQL is not mistaken for a full one.
pub fn postgres_not_run() {
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    // Straight to stderr: libtest captures `eprintln!` of passing tests.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "{test}: C360_TEST_POSTGRES_URL is not set; ran on SQLite only"
    );
}

/// Which store a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Sqlite,
    Postgres,
}

/// The test's configuration with the background jobs that poll the store
/// every second or minute turned off, so the statements a test counts are
/// its requests' own; tests of those jobs turn them back on, or tick them.
fn quiet(mut config: Config) -> Config {
    config.webhooks_poll_interval = std::time::Duration::ZERO;
    config.scheduler_interval = std::time::Duration::ZERO;
    // A statement a list, so that statement budgets count relations on
    // both stores; the combined reads, PostgreSQL's default, are tested
    // where a test asks for them (`CombinePages::Always`).
    config.combine_pages = c360::config::CombinePages::Never;
    config
}

/// A running gateway on its own store.
pub struct TestApp {
    pub addr: SocketAddr,
    pub db: DatabaseConnection,
    /// The store's URL, for running the `c360` binary against it.
    pub db_url: String,
    pub client: reqwest::Client,
    /// The server's own pool, closed when the test ends.
    server_db: DatabaseConnection,
    /// The clock the gateway reads the time from: tests move it instead of
    /// sleeping or rewriting rows.
    pub clock: Clock,
    /// The business rules the gateway runs with, read from its configuration.
    pub rules: Rules,
    /// The server's own state, for running its jobs in the test (`tick`).
    state: c360::app::AppState,
    issuer: TokenIssuer,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    _dir: Option<tempfile::TempDir>,
    pg_drop: Option<(String, String)>,
}

static NEXT_DB: AtomicU64 = AtomicU64::new(0);

impl TestApp {
    /// A gateway on a fresh SQLite file.
    pub async fn spawn_sqlite() -> TestApp {
        Self::spawn_sqlite_with(|_| {}).await
    }

    /// A gateway on a fresh store of `kind`, its configuration adjusted by `configure`.
    pub async fn spawn(kind: StoreKind, configure: impl FnOnce(&mut Config)) -> TestApp {
        match kind {
            StoreKind::Sqlite => Self::spawn_sqlite_with(configure).await,
            StoreKind::Postgres => Self::spawn_postgres_with(configure)
                .await
                .expect("C360_TEST_POSTGRES_URL is set"),
        }
    }

    pub async fn spawn_sqlite_with(configure: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("c360.db").display());
        let mut config = quiet(Config::for_store(url));
        configure(&mut config);
        Self::start(config, Some(dir), None).await
    }

    /// A fresh database on the configured PostgreSQL; `None` when the variable
    /// is unset. Set but unreachable is a failure, never a skip.
    pub async fn spawn_postgres() -> Option<TestApp> {
        Self::spawn_postgres_with(|_| {}).await
    }

    pub async fn spawn_postgres_with(configure: impl FnOnce(&mut Config)) -> Option<TestApp> {
        let Ok(admin_url) = std::env::var("C360_TEST_POSTGRES_URL") else {
            postgres_not_run();
            return None;
        };
        let name = format!(
            "c360_test_{}_{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::Relaxed)
        );
        let admin = Database::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("C360_TEST_POSTGRES_URL is set but unreachable: {e}"));
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}"))
            .await
            .expect("drop old test database");
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        admin.close().await.ok();
        let url = with_database(&admin_url, &name);
        let mut config = quiet(Config::for_store(url));
        config.db_max_connections = 4;
        configure(&mut config);
        Some(Self::start(config, None, Some((admin_url, name))).await)
    }

    async fn start(
        config: Config,
        dir: Option<tempfile::TempDir>,
        pg_drop: Option<(String, String)>,
    ) -> TestApp {
        let db_url = config.database_url.clone();
        let rules = Rules::from_config(&config).expect("rules from the configuration");
        let clock = Clock::settable();
        let app = Application::build_with_clock(config, clock.clone())
            .await
            .expect("application starts");
        let addr = app.local_addr();
        let server_db = app.state().store.conn.clone();
        let state = app.state().clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            app.run_until(async {
                let _ = rx.await;
            })
            .await
            .expect("server runs");
        });
        let db = Database::connect(&db_url).await.expect("test connection");
        TestApp {
            addr,
            db,
            db_url,
            client: reqwest::Client::new(),
            server_db,
            clock,
            rules,
            state,
            issuer: TokenIssuer::hs256(&SecretString::from(DEV_JWT_SECRET), None, None),
            shutdown: Some(tx),
            server: Some(server),
            _dir: dir,
            pg_drop,
        }
    }

    /// A second gateway on this one's store, configured by `configure`; the
    /// store stays this one's to remove.
    pub async fn beside(&self, configure: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = quiet(Config::for_store(self.db_url.clone()));
        config.db_max_connections = 4;
        configure(&mut config);
        Self::start(config, None, None).await
    }

    /// Runs one pass of the events scheduler on the server's state (its
    /// store, configuration and clock), as `serve` does every interval.
    pub async fn tick(&self) -> c360::events::scheduler::Ticked {
        c360::events::scheduler::tick(&self.state)
            .await
            .expect("scheduler pass")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Seeds `customers` customers with the fixed seed 7, as `c360 seed`
    /// does: under the gateway's rules, at its clock's time.
    pub async fn seed(&self, customers: u64) {
        self.seed_with(customers, 7).await;
    }

    /// Seeds `customers` customers from `seed` under the gateway's rules.
    pub async fn seed_with(&self, customers: u64, seed: u64) {
        c360::seed::run(
            &self.db,
            &SeedOptions {
                customers,
                seed,
                rules: self.rules.clone(),
                now: self.clock.now(),
                progress: false,
            },
        )
        .await
        .expect("seed");
    }

    pub fn token(&self, role: Role, sub: &str, scopes: &[&str]) -> String {
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        self.issuer
            .mint(role, sub, &scopes, Duration::from_secs(600))
            .expect("token")
    }

    pub fn staff(&self) -> String {
        self.token(Role::Staff, "staff-test", &[])
    }

    /// POSTs a query and returns the status and JSON body.
    pub async fn post(&self, query: &str, variables: Value, token: Option<&str>) -> (u16, Value) {
        let mut req = self
            .client
            .post(self.url("/graphql"))
            .header("accept", "application/graphql-response+json")
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let body = resp.json::<Value>().await.expect("JSON body");
        (status, body)
    }

    /// POSTs a query as staff and returns `data`, failing on any error.
    pub async fn query(&self, query: &str, variables: Value) -> Value {
        let (status, body) = self.post(query, variables, Some(&self.staff())).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// Total SQL statements the server has run on all its pools, from `/metrics`.
    pub async fn sql_statements(&self) -> u64 {
        let text = self.metrics_text().await;
        let total: Vec<u64> = text
            .lines()
            .filter(|l| l.starts_with("c360_sql_statements_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
            .collect();
        assert!(!total.is_empty(), "no c360_sql_statements_total in {text}");
        total.iter().sum()
    }

    /// SQL statements the server has run on one pool (`primary`, `replica-0`, …).
    pub async fn pool_statements(&self, pool: &str) -> u64 {
        self.pool_metric("c360_sql_statements_total", pool).await as u64
    }

    /// A per-pool metric of `/metrics` (`c360_sql_…{pool="primary"}`).
    pub async fn pool_metric(&self, name: &str, pool: &str) -> f64 {
        let text = self.metrics_text().await;
        let name = format!("{name}{{pool=\"{pool}\"}}");
        metric(&text, &name).unwrap_or_else(|| panic!("no {name} in {text}"))
    }

    /// The text `/metrics` answers.
    pub async fn metrics_text(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text")
    }

    /// The first column of every row, as integers.
    pub async fn ids(&self, sql: &str) -> Vec<i64> {
        self.db
            .query_all_raw(Statement::from_string(
                self.db.get_database_backend(),
                sql.to_owned(),
            ))
            .await
            .expect("query")
            .iter()
            .map(|row| row.try_get_by_index::<i64>(0).expect("an integer"))
            .collect()
    }

    /// One text value from the store.
    pub async fn text(&self, sql: &str) -> String {
        self.db
            .query_one_raw(Statement::from_string(
                self.db.get_database_backend(),
                sql.to_owned(),
            ))
            .await
            .expect("query")
            .expect("a row")
            .try_get_by_index::<String>(0)
            .expect("text")
    }

    /// One value from the store, for assertions against the raw rows.
    pub async fn scalar(&self, sql: &str) -> i64 {
        let row = self
            .db
            .query_one_raw(Statement::from_string(
                self.db.get_database_backend(),
                sql.to_owned(),
            ))
            .await
            .expect("query")
            .expect("a row");
        row.try_get_by_index::<i64>(0).expect("an integer")
    }
}

/// The global id of a row.
pub fn gid(kind: &str, id: i64) -> String {
    format!("gid://c360/{kind}/{id}")
}

/// Every error's `extensions.code`, in order.
pub fn codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errs| {
            errs.iter()
                .map(|e| {
                    e["extensions"]["code"]
                        .as_str()
                        .unwrap_or("<none>")
                        .to_owned()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Reads one sample from Prometheus text.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let base = match base.rfind('/') {
        Some(i) if i > base.find("://").map_or(0, |s| s + 2) => &base[..i],
        _ => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// Marks a pool closed at once (the future `close` returns only waits for
/// its connections to finish). A pool left open when the test's runtime
/// shuts down keeps its maintenance task polling against timers that no
/// longer wait, and the test never ends.
fn close_pool(db: &DatabaseConnection) {
    match db.get_database_backend() {
        sea_orm::DbBackend::Sqlite => drop(db.get_sqlite_connection_pool().close()),
        sea_orm::DbBackend::Postgres => drop(db.get_postgres_connection_pool().close()),
        _ => {}
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
        close_pool(&self.server_db);
        self.state.replicas.close();
        close_pool(&self.db);
        if let Some((admin_url, name)) = self.pg_drop.take() {
            // Drop runs outside async context guarantees: clean up on a thread
            // with its own runtime so a failed test still removes its database.
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async {
                    if let Ok(admin) = Database::connect(&admin_url).await {
                        let _ = admin
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

impl TestApp {
    /// Cuts (or restores) the server's access to its PostgreSQL database:
    /// new connections are refused and open ones are terminated.
    pub async fn set_database_reachable(&self, reachable: bool) {
        let Some((admin_url, name)) = &self.pg_drop else {
            panic!("only PostgreSQL stores can be cut off");
        };
        let admin = Database::connect(admin_url)
            .await
            .expect("admin connection");
        admin
            .execute_unprepared(&format!(
                "ALTER DATABASE {name} ALLOW_CONNECTIONS {reachable}"
            ))
            .await
            .expect("alter database");
        if !reachable {
            admin
                .execute_unprepared(&format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
                ))
                .await
                .expect("terminate backends");
        }
        admin.close().await.ok();
    }
}
