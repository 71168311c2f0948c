//! The data set: a SQLite file or a PostgreSQL database of its own, seeded
//! once and reused while its size matches.

use std::time::Instant;

use c360::db::{Store, StoreOptions};
use c360::seed::{SeedOptions, run as seed};
use sea_orm::{
    ColumnTrait, ConnectionTrait, Database, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use crate::{Args, StoreKind};

/// A seeded store ready to serve.
pub struct Prepared {
    pub kind: StoreKind,
    pub url: String,
    /// The same database on a streaming replica, for the server's reads.
    pub read_url: Option<String>,
    pub customers: u64,
    /// Rows and seconds of the seeding, when this run seeded.
    pub seeded: Option<(u64, f64)>,
    /// Bytes read into the page cache before any round, and in how long.
    pub warmed: Warmed,
}

/// The store's files as read before the first round ([`warm`]).
pub enum Warmed {
    Read {
        bytes: u64,
        secs: f64,
    },
    /// Why the store could not be read ahead; its first rounds may run cold.
    Not(String),
}

impl Prepared {
    pub fn describe(&self) -> String {
        let warmed = match &self.warmed {
            Warmed::Read { bytes, secs } => format!(
                "; {:.0} MB read into the page cache in {secs:.1} s",
                *bytes as f64 / 1e6
            ),
            Warmed::Not(why) => format!("; not read ahead ({why}), the first rounds may run cold"),
        };
        let seeded = match self.seeded {
            Some((rows, secs)) => format!(
                "{:?}: seeded {} customers, {rows} rows in {secs:.1} s ({:.0} rows/s)",
                self.kind,
                self.customers,
                rows as f64 / secs
            ),
            None => format!(
                "{:?}: reusing {} customers at {}",
                self.kind, self.customers, self.url
            ),
        };
        seeded + &warmed
    }

    /// Customers holding at least `points` available loyalty points.
    pub async fn redeemable(&self, points: i64) -> anyhow::Result<Vec<i64>> {
        use c360_entity::loyalty_account::{Column, Entity};
        let store = self.connect(1).await?;
        let ids = Entity::find()
            .select_only()
            .column(Column::CustomerId)
            .filter(Column::PointsAvailable.gte(points))
            .order_by_asc(Column::CustomerId)
            .into_tuple::<i64>()
            .all(&store.conn)
            .await?;
        store.conn.close().await?;
        Ok(ids)
    }

    pub async fn connect(&self, max_connections: u32) -> anyhow::Result<Store> {
        let mut options = StoreOptions::new(self.url.clone());
        options.max_connections = max_connections;
        Ok(Store::connect(&options).await?)
    }
}

/// The database `name` on the server of `url`, with `url`'s parameters.
pub fn database_on(url: &str, name: &str) -> String {
    let (path, params) = url
        .split_once('?')
        .map_or((url, None), |(p, q)| (p, Some(q)));
    let base = path.rsplit_once('/').map_or(path, |(b, _)| b);
    match params {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

pub async fn prepare(args: &Args, kind: StoreKind) -> anyhow::Result<Prepared> {
    let name = format!("c360_bench_{}", args.customers);
    let pg_name = args.pg_database.clone().unwrap_or_else(|| name.clone());
    let mut sqlite_file = None;
    let url = match kind {
        StoreKind::Sqlite => {
            std::fs::create_dir_all(&args.data_dir)?;
            let path = args.data_dir.join(format!("{name}.db"));
            sqlite_file = Some(path.clone());
            if args.reseed {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            format!("sqlite://{}?mode=rwc", path.display())
        }
        StoreKind::Postgres => {
            let admin = Database::connect(&args.postgres_url).await?;
            if args.reseed {
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {pg_name} WITH (FORCE)"))
                    .await?;
            }
            let exists = admin
                .query_one_raw(sea_orm::Statement::from_string(
                    admin.get_database_backend(),
                    format!("SELECT 1 FROM pg_database WHERE datname = '{pg_name}'"),
                ))
                .await?
                .is_some();
            if !exists {
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {pg_name}"))
                    .await?;
            }
            admin.close().await?;
            database_on(&args.postgres_url, &pg_name)
        }
    };
    let read_url = match (kind, &args.postgres_replica_url) {
        (StoreKind::Postgres, Some(replica)) => Some(database_on(replica, &pg_name)),
        _ => None,
    };
    let store = Store::connect(&StoreOptions::new(url.clone())).await?;
    c360::db::migrate_up(&store.conn).await?;
    let existing = c360_entity::customer::Entity::find()
        .count(&store.conn)
        .await?;
    // The rules the server it starts will run with: the defaults and
    // whatever C360_* the environment sets, which the server inherits.
    let rules = c360::service::Rules::from_config(&c360::config::Config::for_store(&url))?;
    let seeded = if existing == args.customers {
        None
    } else {
        if existing != 0 {
            anyhow::bail!(
                "{url} holds {existing} customers, not {}; pass --reseed to start over",
                args.customers
            );
        }
        let started = Instant::now();
        let report = seed(
            &store.conn,
            &SeedOptions {
                customers: args.customers,
                seed: args.seed,
                rules: rules.clone(),
                now: c360::domain::Clock::system().now(),
                progress: true,
            },
        )
        .await?;
        Some((report.rows, started.elapsed().as_secs_f64()))
    };
    // What the server's schedule would have done by now, as it would in
    // production: an account due to settle, or whose tier review is due, is
    // settled by the first read that shows it, and the benchmark would time
    // those writes as reads (a data set seeded days ago has thousands).
    let now = c360::domain::Clock::system().now();
    c360::service::loyalty::settle_due(&store.conn, now).await?;
    c360::service::loyalty::review_due(&store.conn, &rules, now).await?;
    let warmed = warm(&store, sqlite_file.as_deref()).await;
    store.conn.close().await?;
    Ok(Prepared {
        kind,
        url,
        read_url,
        customers: args.customers,
        seeded,
        warmed,
    })
}

/// Reads the whole store into the operating system's page cache.
///
/// The data set is larger than PostgreSQL's shared buffers and, on a fresh
/// machine, than what the page cache holds of it; a round reads random
/// customers, so without this the first rounds wait on the disk, and
/// whichever side of a comparison runs first runs colder than the other.
/// Every side then starts from the same cache. A streaming replica's files
/// (`--postgres-replica-url`) are its own and are not read here: its
/// scenarios warm it with their warm-up requests alone.
async fn warm(store: &Store, sqlite_file: Option<&std::path::Path>) -> Warmed {
    let started = Instant::now();
    let bytes = match sqlite_file {
        Some(path) => {
            let path = path.to_owned();
            tokio::task::spawn_blocking(move || read_files(&path))
                .await
                .map_err(anyhow::Error::from)
                .and_then(|read| read)
        }
        None => prewarm_postgres(store).await,
    };
    match bytes {
        Ok(bytes) => Warmed::Read {
            bytes,
            secs: started.elapsed().as_secs_f64(),
        },
        Err(e) => Warmed::Not(format!("{e:#}")),
    }
}

/// A SQLite database and its write-ahead log, read to the end.
fn read_files(db: &std::path::Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for suffix in ["", "-wal"] {
        let path = format!("{}{suffix}", db.display());
        match std::fs::File::open(&path) {
            Ok(mut file) => total += std::io::copy(&mut file, &mut std::io::sink())?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(anyhow::anyhow!("reading {path}: {e}")),
        }
    }
    Ok(total)
}

/// Every table and index of the schema read by `pg_prewarm` (PostgreSQL's
/// contrib extension) in its `read` mode: into the page cache, leaving
/// shared buffers to the warm-up requests as they would fill in service.
async fn prewarm_postgres(store: &Store) -> anyhow::Result<u64> {
    store
        .conn
        .execute_unprepared("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        .await?;
    let row = store
        .conn
        .query_one_raw(sea_orm::Statement::from_string(
            store.backend(),
            "SELECT (COALESCE(SUM(pg_prewarm(c.oid, 'read')), 0) \
             * current_setting('block_size')::int8)::int8 AS bytes \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'i', 'm')",
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("pg_prewarm answered no row"))?;
    let bytes: i64 = row.try_get("", "bytes")?;
    Ok(u64::try_from(bytes).unwrap_or(0))
}
