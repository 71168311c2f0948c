//! The floor: the statements the gateway issues for a request, captured by
//! running the same GraphQL in-process, then replayed directly on one
//! connection per worker, held for the whole run as the gateway's reads
//! hold theirs on PostgreSQL (`db::held`): handing it back to its pool after
//! every statement would add sqlx's ping. On SQLite the gateway still hands
//! each connection back, so there the gap includes that ping. The gap between floor and gateway is the
//! cost of HTTP, GraphQL and row mapping.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use c360::app::App;
use c360::auth::{Identity, Principal, Role};
use c360::config::{CombinePages, Config};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::{self, Postgres, Sqlite};
use sea_orm::{DatabaseConnection, DbBackend, Statement};
use sea_query_sqlx::SqlxValues;

use crate::Args;
use crate::load::{Measured, WorkerResult, summarise};
use crate::scenario::{Scenario, Workload};
use crate::store::Prepared;

/// Requests whose statements are captured and replayed: as many customers
/// as a round reaches, so that the replayed rows are no warmer in
/// PostgreSQL's shared buffers than the gateway's. With 200, every
/// replayed page stayed in the buffers while the gateway's random
/// customers were read into them from the page cache, and the floor ran
/// faster than the same statements could for the gateway.
const SAMPLES: u64 = 5_000;

/// The statements of each sampled request, in the order they ran.
pub struct Samples(Vec<Vec<Statement>>);

pub async fn capture(
    store: &Prepared,
    scenario: Scenario,
    workload: &Workload,
    seed: u64,
    combine_pages: CombinePages,
) -> anyhow::Result<Samples> {
    let db = store.connect(4).await?;
    let captured: Arc<Mutex<Vec<Statement>>> = Arc::default();
    let sink = captured.clone();
    db.stats.observe(move |stmt| {
        if let Ok(mut v) = sink.lock() {
            v.push(stmt.clone());
        }
    });
    let mut config = Config::for_store(store.url.clone());
    config.combine_pages = combine_pages;
    let app = App::assemble(config, db, c360::domain::Clock::system()).await?;
    let schema = c360::graphql::schema(app.clone());
    let staff = Identity::Authenticated(Principal {
        role: Role::Staff,
        subject: "bench".into(),
        scopes: Default::default(),
    });
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut samples = Vec::new();
    for _ in 0..SAMPLES {
        let body = scenario.body(&mut rng, workload);
        let request: async_graphql::Request = serde_json::from_value(body)?;
        if let Ok(mut v) = captured.lock() {
            v.clear();
        }
        let response = c360::graphql::execute(&schema, None, &app, staff.clone(), request).await;
        if !response.errors.is_empty() {
            anyhow::bail!(
                "{} failed in-process: {:?}",
                scenario.name(),
                response.errors
            );
        }
        let statements = captured.lock().map(|v| v.clone()).unwrap_or_default();
        samples.push(statements);
    }
    Ok(Samples(samples))
}

/// A worker's connection, taken from its own one-connection pool.
enum Connection {
    Postgres(PoolConnection<Postgres>),
    Sqlite(PoolConnection<Sqlite>),
}

impl Connection {
    async fn take(db: &DatabaseConnection) -> anyhow::Result<Connection> {
        Ok(match db.get_database_backend() {
            DbBackend::Postgres => {
                Connection::Postgres(db.get_postgres_connection_pool().acquire().await?)
            }
            _ => Connection::Sqlite(db.get_sqlite_connection_pool().acquire().await?),
        })
    }

    /// Runs one statement and reads its rows, as `db::read_pg` does.
    async fn run(&mut self, stmt: &Statement) -> Result<usize, sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(stmt.sql.as_str());
        let values = SqlxValues(stmt.values.clone().unwrap_or(sea_orm::Values(Vec::new())));
        match self {
            Connection::Postgres(conn) => sqlx::query_with(sql, values)
                .fetch_all(&mut **conn)
                .await
                .map(|rows| rows.len()),
            Connection::Sqlite(conn) => sqlx::query_with(sql, values)
                .fetch_all(&mut **conn)
                .await
                .map(|rows| rows.len()),
        }
    }
}

async fn worker(
    conn: Arc<tokio::sync::Mutex<Connection>>,
    samples: Arc<Samples>,
    seed: u64,
    until: Instant,
) -> WorkerResult {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut latencies = Vec::with_capacity(4096);
    let mut failures = 0;
    let mut conn = conn.lock().await;
    while Instant::now() < until {
        let sample = &samples.0[rng.random_range(0..samples.0.len())];
        let started = Instant::now();
        let mut ok = true;
        for statement in sample {
            if conn.run(statement).await.is_err() {
                ok = false;
                break;
            }
        }
        if ok {
            latencies.push(started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
        } else {
            failures += 1;
        }
    }
    WorkerResult {
        latencies,
        failures,
    }
}

async fn round(
    conns: &[Arc<tokio::sync::Mutex<Connection>>],
    samples: &Arc<Samples>,
    length: Duration,
    seed: u64,
) -> (Vec<WorkerResult>, Duration) {
    let started = Instant::now();
    let until = started + length;
    let handles: Vec<_> = conns
        .iter()
        .enumerate()
        .map(|(w, c)| {
            tokio::spawn(worker(
                c.clone(),
                samples.clone(),
                seed ^ (w as u64) << 20,
                until,
            ))
        })
        .collect();
    let mut results = Vec::new();
    for h in handles {
        if let Ok(r) = h.await {
            results.push(r);
        }
    }
    (results, started.elapsed())
}

pub async fn run(
    args: &Args,
    store: &Prepared,
    samples: &Samples,
    concurrency: usize,
) -> anyhow::Result<Measured> {
    let samples = Arc::new(Samples(samples.0.clone()));
    let mut pools = Vec::with_capacity(concurrency);
    let mut conns = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let pool = store.connect(1).await?.conn;
        conns.push(Arc::new(tokio::sync::Mutex::new(
            Connection::take(&pool).await?,
        )));
        pools.push(pool);
    }
    round(&conns, &samples, args.warmup, args.seed).await;
    let (results, elapsed) = round(&conns, &samples, args.duration, args.seed + 1).await;
    let mut measured = summarise(results, elapsed);
    let statements: usize = samples.0.iter().map(Vec::len).sum();
    measured.statements = Some(statements as f64 / samples.0.len().max(1) as f64);
    // Every connection back in its pool before the pool closes, which
    // waits for them.
    drop(conns);
    for pool in pools {
        let _ = pool.close().await;
    }
    Ok(measured)
}
