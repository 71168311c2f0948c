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
}

impl Prepared {
    pub fn describe(&self) -> String {
        match self.seeded {
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
        }
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
    let url = match kind {
        StoreKind::Sqlite => {
            std::fs::create_dir_all(&args.data_dir)?;
            let path = args.data_dir.join(format!("{name}.db"));
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
    store.conn.close().await?;
    Ok(Prepared {
        kind,
        url,
        read_url,
        customers: args.customers,
        seeded,
    })
}
