//! Opening the store: one pool per process, SQLite tuned for a server
//! (WAL, foreign keys, busy timeout), and a count of every SQL statement run,
//! which `/metrics` exposes and the tests use to hold the statement budget.
//! SQLite's compile-time options are set in `.cargo/config.toml`
//! (docs/ARCHITECTURE.md, "SQLite's build and the allocator"). Read
//! replicas, and which connection a request reads from, are in
//! [`replicas`]; the connections reads keep between statements, in
//! [`held`].

pub mod held;
pub mod positional;
pub mod replicas;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseConnectionType,
    DbBackend, DbErr, FromQueryResult, QueryResult, Statement,
};

tokio::task_local! {
    static REQUEST_STATEMENTS: Arc<AtomicU64>;
}

/// Runs `fut` and counts the SQL statements it issues.
pub async fn count_statements<F: std::future::Future>(fut: F) -> (F::Output, u64) {
    let counter = Arc::new(AtomicU64::new(0));
    let out = REQUEST_STATEMENTS.scope(counter.clone(), fut).await;
    (out, counter.load(Ordering::Relaxed))
}

/// Runs a read on the backend's own pool connection. Through
/// `DatabaseConnection` every statement runs in a future that holds a branch
/// for each backend and is boxed by `async_trait`, about 15 kB moved three
/// times per statement: an eighth of a profile request's instructions on
/// PostgreSQL (BENCHMARKS.md, "Where a request's instructions go"). The
/// pool's callback counts the statement as before.
///
/// Each backend's future is boxed where it is made: held inline, the largest
/// of them set the size of this one, which its callers moved a few times per
/// statement (about 3 kB each time, 6 % of a profile request's instructions).
pub async fn read_all(db: &DatabaseConnection, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
    match &db.inner {
        DatabaseConnectionType::SqlxPostgresPoolConnection(pool) => {
            Box::pin(pool.query_all(stmt)).await
        }
        DatabaseConnectionType::SqlxSqlitePoolConnection(pool) => {
            Box::pin(pool.query_all(stmt)).await
        }
        _ => db.query_all_raw(stmt).await,
    }
}

/// Runs a read on PostgreSQL's pool through sqlx itself, counted as
/// sea-orm's callback counts a statement ([`SqlStats::record`]).
///
/// sea-orm's `query_all` future is kilobytes (a branch per backend, the
/// pool's acquire and the fetch inline), and it was moved twice per
/// statement even boxed where made ([`read_all`]): 8 % of a profile
/// request's instructions. Here only the acquire is that large, and it is
/// boxed alone; sqlx's own `fetch_all` is boxed inside, and the text is
/// borrowed rather than copied into a `Statement`. Errors are sea-orm's for
/// the same failures.
///
/// The connection comes from, and after a read that ran to the end goes
/// back to, the store's [`held::Held`] set when it has room.
pub async fn read_pg(
    store: &Store,
    sql: &str,
    values: sea_orm::Values,
) -> Result<Vec<sea_orm::sqlx::postgres::PgRow>, DbErr> {
    use sea_orm::sqlx::{self, Error};
    let pool = store.conn.get_postgres_connection_pool();
    let stats = &store.stats;
    let started = std::time::Instant::now();
    let mut conn = match store.held.take(pool) {
        Some(conn) => conn,
        // Boxed where it is made: acquiring may connect, and that future
        // alone is kilobytes, which every future above it would carry.
        None => store
            .held
            .lease(Box::pin(pool.acquire()).await.map_err(|err| match err {
                Error::PoolTimedOut => DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout),
                Error::PoolClosed => {
                    DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::ConnectionClosed)
                }
                err => DbErr::Conn(sea_orm::RuntimeErr::SqlxError(Arc::new(err))),
            })?),
    };
    let observed = stats.observer.get().map(|observer| {
        let stmt = Statement::from_sql_and_values(DbBackend::Postgres, sql, values.clone());
        (observer, stmt)
    });
    let query = sqlx::query_with(sqlx::AssertSqlSafe(sql), sea_query_sqlx::SqlxValues(values));
    let rows = query.fetch_all(conn.conn()).await;
    stats.record(sql, started.elapsed(), rows.is_err());
    if let Some((observer, stmt)) = observed {
        observer(&stmt);
    }
    match &rows {
        Ok(_) => store.held.keep(pool, conn),
        // The server answered: this connection goes back through sqlx's
        // ping, the others are as good as before.
        Err(Error::Database(_)) => drop(conn),
        // The connection itself failed: the server most likely dropped the
        // kept ones too, and the pool tests each before lending it again.
        Err(_) => {
            drop(conn);
            store.held.release_all();
        }
    }
    rows.map_err(|err| DbErr::Query(sea_orm::RuntimeErr::SqlxError(Arc::new(err))))
}

/// [`read_all`], each row read as an `M`.
pub async fn read_models<M: FromQueryResult>(
    db: &DatabaseConnection,
    stmt: Statement,
) -> Result<Vec<M>, DbErr> {
    read_all(db, stmt)
        .await?
        .iter()
        .map(|row| M::from_query_result(row, ""))
        .collect()
}

/// [`read_models`] for a statement whose first columns are `M`'s fields in
/// order: on SQLite each row is read by position ([`positional`]).
pub async fn read_models_in_order<M: FromQueryResult + serde::de::DeserializeOwned>(
    db: &DatabaseConnection,
    stmt: Statement,
) -> Result<Vec<M>, DbErr> {
    read_all(db, stmt)
        .await?
        .iter()
        .map(|row| positional::read(row).unwrap_or_else(|| M::from_query_result(row, "")))
        .collect()
}

/// Statements run on the pool since start.
#[derive(Default)]
pub struct SqlStats {
    statements: AtomicU64,
    failed: AtomicU64,
    reruns: AtomicU64,
    observer: OnceLock<Observer>,
}

/// Shown every statement that runs, its values included ([`SqlStats::observe`]).
type Observer = Box<dyn Fn(&Statement) + Send + Sync>;

impl std::fmt::Debug for SqlStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStats")
            .field("statements", &self.statements)
            .field("failed", &self.failed)
            .field("reruns", &self.reruns)
            .finish_non_exhaustive()
    }
}

impl SqlStats {
    /// Shows `observer` every statement the store runs from now on, its
    /// values included, whichever way it runs (the benchmark's floor
    /// replays them). One observer per store; false when one was set.
    pub fn observe(&self, observer: impl Fn(&Statement) + Send + Sync + 'static) -> bool {
        self.observer.set(Box::new(observer)).is_ok()
    }

    /// Counts a statement that ran, for the store and for the request
    /// whose task ran it.
    fn record(&self, sql: &str, elapsed: Duration, failed: bool) {
        self.statements.fetch_add(1, Ordering::Relaxed);
        // Loader batches run on the request's own task, so the request's
        // counter is in scope for every statement it causes.
        let _ = REQUEST_STATEMENTS.try_with(|n| n.fetch_add(1, Ordering::Relaxed));
        if failed {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        crate::telemetry::statement(sql, elapsed, failed);
    }

    pub fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Counts a level sent as two statements whose pages differed, run
    /// again as one (`read::combine::Halves`).
    pub fn rerun(&self) {
        self.reruns.fetch_add(1, Ordering::Relaxed);
    }

    pub fn reruns(&self) -> u64 {
        self.reruns.load(Ordering::Relaxed)
    }
}

/// How to open the store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub url: String,
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// Server-side cap on one statement (PostgreSQL `statement_timeout`).
    pub statement_timeout: Option<Duration>,
    /// Connect on first use rather than at open, keeping no idle
    /// connection: a replica that is down at start must not stop it.
    pub lazy: bool,
}

impl StoreOptions {
    pub fn new(url: impl Into<String>) -> Self {
        StoreOptions {
            url: url.into(),
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: None,
            lazy: false,
        }
    }
}

/// How long a connection may sit idle before it is tested (a round trip)
/// on its way into use: long enough that a busy server never pays for it.
pub const TEST_IF_IDLE_FOR: Duration = Duration::from_secs(30);

/// An open store: the pool, its statement counter, and the connections
/// reads keep between statements.
#[derive(Debug, Clone, Default)]
pub struct Store {
    pub conn: DatabaseConnection,
    pub stats: Arc<SqlStats>,
    pub held: Arc<held::Held>,
}

impl Store {
    pub async fn connect(options: &StoreOptions) -> Result<Store, DbErr> {
        let mut opts = ConnectOptions::new(options.url.clone());
        opts.max_connections(options.max_connections)
            .connect_lazy(options.lazy)
            .acquire_timeout(options.acquire_timeout)
            .connect_timeout(options.acquire_timeout)
            // sea-orm pings on every acquire by default, and it acquires per
            // statement: that doubles the round trips of a request. Only a
            // connection idle long enough to have been dropped is pinged; one
            // that fails in use is discarded, so the pool still recovers on its
            // own once the database is back.
            .test_before_acquire_if_idle_for(TEST_IF_IDLE_FOR)
            // No maintenance task: sqlx's (for idle timeouts, lifetimes and a
            // minimum of connections) can read an underflowed idle count after
            // a release races an acquire and spin a core for good, hanging
            // shutdown (sqlx issue 3645). The pool keeps the connections it
            // opened (a non-lazy start opens one, so a store that is down fails
            // the start); one that died while idle fails the ping above and is
            // replaced.
            .min_connections(0)
            .idle_timeout(None)
            .max_lifetime(None)
            .sqlx_logging(false)
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(5))
                    .create_if_missing(true)
            });
        if let Some(timeout) = options.statement_timeout {
            opts.statement_timeout(timeout);
        }
        let mut conn = Database::connect(opts).await?;
        let stats = Arc::new(SqlStats::default());
        let counter = stats.clone();
        conn.set_metric_callback(move |info| {
            counter.record(&info.statement.sql, info.elapsed, info.failed);
            if let Some(observer) = counter.observer.get() {
                observer(info.statement);
            }
        });
        Ok(Store {
            conn,
            stats,
            held: Arc::new(held::Held::new(options.max_connections)),
        })
    }

    pub fn backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    /// Open and idle connections of the pool, and its maximum.
    pub fn pool_usage(&self) -> PoolUsage {
        // sea-orm's pool accessors panic on the wrong backend: ask by backend.
        let (open, idle, max) = match self.backend() {
            DbBackend::Sqlite => {
                let pool = self.conn.get_sqlite_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
            DbBackend::Postgres => {
                let pool = self.conn.get_postgres_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
            _ => (0, 0, 0),
        };
        PoolUsage {
            open,
            // Kept connections wait for a statement as the pool's idle ones do.
            idle: (idle + self.held.count()) as u32,
            max,
        }
    }
}

/// A snapshot of the connection pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    pub open: u32,
    pub idle: u32,
    pub max: u32,
}

impl PoolUsage {
    pub fn in_use(&self) -> u32 {
        self.open.saturating_sub(self.idle)
    }
}

/// Applies every pending migration.
pub async fn migrate_up(conn: &DatabaseConnection) -> Result<(), DbErr> {
    use c360_migration::sea_orm_migration::MigratorTrait;
    c360_migration::Migrator::up(conn, None).await
}

/// Opens a transaction that will write. On SQLite it begins IMMEDIATE, taking
/// the write lock at `BEGIN` and waiting for it up to the busy timeout: a
/// plain (deferred) transaction reads first and, asking to write while
/// another connection holds or has just released the lock, fails at once
/// with SQLITE_BUSY, since waiting would leave it with a stale snapshot.
/// Concurrent writers therefore queue instead of failing. PostgreSQL ignores
/// the mode and locks rows as it writes them.
pub async fn begin_write<C: sea_orm::TransactionTrait>(db: &C) -> Result<C::Transaction, DbErr> {
    db.begin_with_options(sea_orm::TransactionOptions {
        sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
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

#[cfg(test)]
mod tests {
    use super::{Store, StoreOptions};
    use sea_orm::{ConnectionTrait, Statement};

    /// `.cargo/config.toml`'s `LIBSQLITE3_FLAGS` reached the SQLite linked
    /// in: no shared page cache, no memory statistics, no STAT4.
    #[tokio::test]
    async fn sqlite_is_built_without_its_global_locks() {
        let store = Store::connect(&StoreOptions::new("sqlite::memory:"))
            .await
            .expect("an in-memory store opens");
        let rows = store
            .conn
            .query_all_raw(Statement::from_string(
                store.conn.get_database_backend(),
                "PRAGMA compile_options",
            ))
            .await
            .expect("compile options read");
        let options: Vec<String> = rows
            .iter()
            .map(|row| row.try_get_by_index(0).expect("an option's text"))
            .collect();
        assert!(
            options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
            "{options:?}"
        );
        // The options of the build that is linked, not an empty list.
        assert!(options.iter().any(|o| o == "THREADSAFE=1"), "{options:?}");
        for absent in ["ENABLE_MEMORY_MANAGEMENT", "ENABLE_STAT4"] {
            assert!(
                !options.iter().any(|o| o == absent),
                "{absent} in {options:?}"
            );
        }
    }
}
