//! Read replicas (`--database-read-url`): PostgreSQL streaming standbys that
//! answer queries, so reads scale out while writes stay on the primary.
//!
//! Each replica has a pool of its own, opened lazily (a replica that is down
//! never holds up start), with its own statement counts (`/metrics` shows
//! them per pool). A background job (`startup::Jobs`) checks every replica
//! every `--replica-check-interval` on a connection of its own, so checks
//! are neither counted as statements nor starved by a busy pool. A replica
//! is *in use* while its last check answered within [`CHECK_TIMEOUT`], it
//! is a standby, and its lag was at most `--replica-max-lag`; otherwise
//! reads skip it until a later check passes. Each change is logged once.
//!
//! The lag is what the standby reports (`LAG_SQL`): 0 while it has
//! replayed all the WAL it received, else the age of the last transaction
//! it replayed. An idle primary thus does not look like lag; a standby cut
//! off from its primary keeps reporting 0, which monitoring of
//! `pg_stat_replication` on the primary must catch.
//!
//! [`Replicas::pick`] chooses where a read goes: round-robin over the
//! replicas in use, none for a caller that wrote within the lag bound (it
//! reads its own writes on the primary). `App::reader` asks it once per
//! request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::DbBackend;
use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection};
use sea_orm::sqlx::{Connection, query_as};

use super::{SqlStats, Store, StoreOptions, redact_url};
use crate::config::Config;
use crate::error::{AppError, AppResult};

/// Longest a check waits for a replica, connecting included.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether the server is a standby, and its replay lag in seconds (NULL when
/// it cannot tell: nothing replayed since it started).
const LAG_SQL: &str = "SELECT pg_is_in_recovery(), CAST(CASE \
     WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 \
     ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) \
     END AS DOUBLE PRECISION)";

/// Distinct recent writers kept before the expired ones are dropped.
const PRUNE_AT: usize = 4096;

/// The connection one request reads from, chosen once by `App::reader`,
/// and its store's statement counts.
#[derive(Clone, Debug)]
pub struct Reader(pub Store);

/// The configured replicas, their health, and the callers who wrote lately.
#[derive(Debug, Default)]
pub struct Replicas {
    list: Vec<Replica>,
    next: AtomicUsize,
    max_lag: Duration,
    /// How long a writer's reads stay on the primary: the lag bound, plus
    /// one check interval during which a replica's lag may have grown
    /// unseen.
    own_writes: Duration,
    writers: Mutex<HashMap<String, Instant>>,
}

/// One replica: its pool for requests, the connection it is checked on,
/// and what the last check found.
#[derive(Debug)]
pub struct Replica {
    /// `replica-0`, `replica-1`, … in the order configured.
    pub name: String,
    /// The URL without its password.
    pub url: String,
    pub store: Store,
    /// Where the check connects, and its connection once made.
    target: PgConnectOptions,
    check: tokio::sync::Mutex<Option<PgConnection>>,
    in_use: AtomicBool,
    health: Mutex<Health>,
}

/// What a check found.
#[derive(Debug, Clone, PartialEq)]
enum Health {
    /// Not checked yet; not used.
    Unchecked,
    /// Answers and lags at most the bound: used.
    InUse { lag: f64 },
    /// Answers, but lags past the bound or cannot tell its lag.
    Lagging { lag: Option<f64> },
    /// Answers, but is not in recovery: a promoted or mistaken server, whose
    /// data need not follow the primary's.
    NotStandby,
    /// No answer within `CHECK_TIMEOUT`, or an error.
    Unreachable { error: String },
}

/// A replica as `/readyz` and `/metrics` show it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReplicaStatus {
    pub name: String,
    pub url: String,
    /// What its last check found: `unchecked`, `in_use`, `lagging`,
    /// `not_standby` or `unreachable`.
    pub state: &'static str,
    /// Its last check answered.
    pub up: bool,
    /// The lag its last check reported, in seconds.
    pub lag_seconds: Option<f64>,
    /// Queries go to it.
    pub used: bool,
    #[serde(skip)]
    pub stats: Arc<SqlStats>,
}

impl Replicas {
    /// Opens a lazy pool and a check connection per configured replica; no
    /// connection is made here. Refused when replicas are configured on a
    /// primary that is not PostgreSQL.
    pub async fn open(config: &Config, primary: DbBackend) -> AppResult<Replicas> {
        let urls = &config.database_read_urls;
        if urls.is_empty() {
            return Ok(Replicas::default());
        }
        let refuse = |message: String| AppError::bad_input("--database-read-url", message);
        if primary != DbBackend::Postgres {
            return Err(refuse(
                "read replicas (--database-read-url, C360_DATABASE_READ_URLS) need a PostgreSQL \
                 primary; --database-url is not PostgreSQL"
                    .into(),
            ));
        }
        if config.replica_check_interval.is_zero() {
            return Err(AppError::bad_input(
                "--replica-check-interval",
                "--replica-check-interval must be more than 0s while replicas are configured",
            ));
        }
        let mut list = Vec::with_capacity(urls.len());
        for (i, url) in urls.iter().enumerate() {
            let shown = redact_url(url);
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err(refuse(format!(
                    "`{shown}` is not a PostgreSQL URL (postgres://user@host:port/database)"
                )));
            }
            let target: PgConnectOptions = url
                .parse()
                .map_err(|e| refuse(format!("`{shown}` is not a usable PostgreSQL URL: {e}")))?;
            let cannot = |e: sea_orm::DbErr| refuse(format!("cannot open `{shown}`: {e}"));
            let mut options = StoreOptions::new(url.clone());
            options.max_connections = config.db_max_connections;
            options.statement_timeout = Some(config.request_timeout);
            options.lazy = true;
            let store = Store::connect(&options).await.map_err(cannot)?;
            list.push(Replica {
                name: format!("replica-{i}"),
                url: shown,
                store,
                target,
                check: tokio::sync::Mutex::new(None),
                in_use: AtomicBool::new(false),
                health: Mutex::new(Health::Unchecked),
            });
        }
        Ok(Replicas {
            list,
            next: AtomicUsize::new(0),
            max_lag: config.replica_max_lag,
            own_writes: config.replica_max_lag + config.replica_check_interval,
            writers: Mutex::default(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The replica a read of `subject` goes to: the next in use, round-robin;
    /// none when none is in use or the caller wrote within the lag bound.
    pub fn pick(&self, subject: Option<&str>) -> Option<&Replica> {
        if self.list.is_empty() || subject.is_some_and(|s| self.wrote_lately(s)) {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.list.len();
        (0..n)
            .map(|i| &self.list[(start + i) % n])
            .find(|r| r.in_use.load(Ordering::Relaxed))
    }

    /// Notes that `subject` wrote: its reads stay on the primary for a while,
    /// so it never reads a replica's older state of its own write.
    pub fn wrote(&self, subject: &str) {
        if self.list.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut writers = self.writers.lock().unwrap_or_else(|p| p.into_inner());
        if writers.len() >= PRUNE_AT {
            let window = self.own_writes;
            writers.retain(|_, at| now.duration_since(*at) < window);
        }
        writers.insert(subject.to_owned(), now);
    }

    fn wrote_lately(&self, subject: &str) -> bool {
        let writers = self.writers.lock().unwrap_or_else(|p| p.into_inner());
        writers
            .get(subject)
            .is_some_and(|at| at.elapsed() < self.own_writes)
    }

    /// Checks every replica at once and records what each check found.
    pub async fn check(&self) {
        let max_lag = self.max_lag;
        futures_util::future::join_all(self.list.iter().map(|r| r.check(max_lag))).await;
    }

    /// Every replica as its last check left it.
    pub fn status(&self) -> Vec<ReplicaStatus> {
        self.list.iter().map(Replica::status).collect()
    }

    /// Marks every pool closed at once (tests end their runtime right after).
    pub fn close(&self) {
        for replica in &self.list {
            drop(replica.store.conn.get_postgres_connection_pool().close());
        }
    }
}

impl Replica {
    async fn check(&self, max_lag: Duration) {
        let mut check = self.check.lock().await;
        let found = match tokio::time::timeout(CHECK_TIMEOUT, self.ask(&mut check)).await {
            Ok(Ok((false, _))) => Health::NotStandby,
            Ok(Ok((true, Some(lag)))) if lag <= max_lag.as_secs_f64() => {
                Health::InUse { lag: lag.max(0.0) }
            }
            Ok(Ok((true, lag))) => Health::Lagging { lag },
            Ok(Err(error)) => Health::Unreachable { error },
            Err(_) => {
                // Cut off mid-way, the connection is in no known state.
                *check = None;
                Health::Unreachable {
                    error: format!("no answer within {} s", CHECK_TIMEOUT.as_secs()),
                }
            }
        };
        drop(check);
        self.record(found, max_lag);
    }

    /// Asks the lag on the check's connection, made when there is none. A
    /// kept connection that fails (the replica restarted, or a firewall
    /// dropped it) is replaced and asked once more before the replica
    /// counts as down.
    async fn ask(&self, check: &mut Option<PgConnection>) -> Result<(bool, Option<f64>), String> {
        let mut retry = check.is_some();
        loop {
            let conn = match check {
                Some(conn) => conn,
                None => check.insert(
                    PgConnection::connect_with(&self.target)
                        .await
                        .map_err(|e| e.to_string())?,
                ),
            };
            match query_as(LAG_SQL).fetch_one(conn).await {
                Ok(found) => return Ok(found),
                Err(e) => {
                    *check = None;
                    if !std::mem::replace(&mut retry, false) {
                        return Err(e.to_string());
                    }
                }
            }
        }
    }

    /// Keeps what a check found, logging a change of state once.
    fn record(&self, found: Health, max_lag: Duration) {
        let before = {
            let mut health = self.health.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::replace(&mut *health, found.clone())
        };
        let in_use = matches!(found, Health::InUse { .. });
        if in_use && matches!(before, Health::Unreachable { .. }) {
            // Pooled connections from before the outage are dead; without
            // this the first requests after recovery would find them so.
            self.drop_idle_connections();
        }
        self.in_use.store(in_use, Ordering::Relaxed);
        if std::mem::discriminant(&before) == std::mem::discriminant(&found) {
            return;
        }
        let (name, url) = (&self.name, &self.url);
        match &found {
            Health::InUse { lag } if before == Health::Unchecked => {
                tracing::info!(replica = %name, url = %url, "read replica in use, lag {lag:.1} s")
            }
            Health::InUse { lag } => {
                tracing::info!(replica = %name, url = %url, "read replica back in use, lag {lag:.1} s")
            }
            Health::Lagging { lag: Some(lag) } => tracing::warn!(
                replica = %name, url = %url,
                "read replica lags {lag:.1} s, more than --replica-max-lag ({} s): skipped until it catches up",
                max_lag.as_secs_f64()
            ),
            Health::Lagging { lag: None } => tracing::warn!(
                replica = %name, url = %url,
                "read replica cannot tell its lag (nothing replayed since it started): skipped until it can"
            ),
            Health::NotStandby => tracing::warn!(
                replica = %name, url = %url,
                "read replica is not a standby (pg_is_in_recovery() is false): skipped"
            ),
            Health::Unreachable { error } => tracing::warn!(
                replica = %name, url = %url, error = %error,
                "read replica does not answer: skipped, its reads go to the other replicas or the primary, until a check passes"
            ),
            Health::Unchecked => {}
        }
    }

    fn drop_idle_connections(&self) {
        let pool = self.store.conn.get_postgres_connection_pool();
        let idle: Vec<_> = std::iter::from_fn(|| pool.try_acquire()).collect();
        for conn in idle {
            drop(conn.detach());
        }
    }

    fn status(&self) -> ReplicaStatus {
        let health = self.health.lock().unwrap_or_else(|p| p.into_inner());
        let (state, up, lag_seconds) = match &*health {
            Health::Unchecked => ("unchecked", false, None),
            Health::InUse { lag } => ("in_use", true, Some(*lag)),
            Health::Lagging { lag } => ("lagging", true, *lag),
            Health::NotStandby => ("not_standby", true, None),
            Health::Unreachable { .. } => ("unreachable", false, None),
        };
        ReplicaStatus {
            name: self.name.clone(),
            url: self.url.clone(),
            state,
            up,
            lag_seconds,
            used: matches!(*health, Health::InUse { .. }),
            stats: self.store.stats.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn replicas(n: usize) -> Replicas {
        let mut config = Config::for_store("postgres://c360@127.0.0.1:1/primary");
        config.database_read_urls = (0..n)
            .map(|i| format!("postgres://c360@127.0.0.1:1/replica{i}"))
            .collect();
        Replicas::open(&config, DbBackend::Postgres)
            .await
            .expect("lazy pools open without connecting")
    }

    fn mark(replicas: &Replicas, i: usize, health: Health) {
        replicas.list[i].record(health, Duration::from_secs(5));
    }

    fn picked(replicas: &Replicas, subject: Option<&str>) -> Option<String> {
        replicas.pick(subject).map(|r| r.name.clone())
    }

    #[tokio::test]
    async fn reads_go_round_robin_to_the_replicas_in_use() {
        let replicas = replicas(3).await;
        assert_eq!(
            picked(&replicas, None),
            None,
            "unchecked replicas are not used"
        );
        for i in 0..3 {
            mark(&replicas, i, Health::InUse { lag: 0.0 });
        }
        mark(&replicas, 1, Health::Lagging { lag: Some(9.0) });
        let names: Vec<_> = (0..4).filter_map(|_| picked(&replicas, None)).collect();
        assert_eq!(names.len(), 4);
        assert!(names.iter().all(|n| n != "replica-1"), "{names:?}");
        assert!(names.contains(&"replica-0".into()) && names.contains(&"replica-2".into()));
        mark(
            &replicas,
            0,
            Health::Unreachable {
                error: "down".into(),
            },
        );
        mark(&replicas, 2, Health::NotStandby);
        assert_eq!(picked(&replicas, None), None);
        replicas.close();
    }

    #[tokio::test]
    async fn a_writer_reads_from_the_primary_for_the_lag_bound() {
        let replicas = replicas(1).await;
        mark(&replicas, 0, Health::InUse { lag: 0.0 });
        replicas.wrote("writer");
        assert_eq!(picked(&replicas, Some("writer")), None);
        assert_eq!(picked(&replicas, Some("other")), Some("replica-0".into()));
        assert_eq!(picked(&replicas, None), Some("replica-0".into()));
        replicas.close();
    }

    #[tokio::test]
    async fn replicas_need_a_postgresql_primary() {
        let mut config = Config::for_store("sqlite::memory:");
        config.database_read_urls = vec!["postgres://c360@127.0.0.1:1/replica".into()];
        let refused = Replicas::open(&config, DbBackend::Sqlite).await;
        assert!(
            matches!(&refused, Err(e) if e.to_string().contains("need a PostgreSQL primary")),
            "{refused:?}"
        );
    }
}
