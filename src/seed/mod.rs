//! Deterministic demo and benchmark data: `c360 seed` and `serve --seed-demo`.
//!
//! [`run`] fills an empty store with customers and everything around them
//! (orders and lines, tickets and messages, reviews, referrals, loyalty
//! accounts and ledgers, NPS answers, tags), then derives `customer_metrics`
//! and loyalty balances with the same SQL the write paths use.
//!
//! - [`catalog`]: the static tables the data is drawn from;
//! - [`generate`]: pure generation of rows from a seeded RNG;
//! - [`rows`]: one struct per table and its column mapping;
//! - [`insert`]: chunked multi-row INSERTs and PostgreSQL sequence resets;
//! - [`copy`]: `COPY ... FROM STDIN` for PostgreSQL, same rows.
//!
//! Customers are written in batches, so memory stays flat for any size. On
//! SQLite a batch is one transaction. On PostgreSQL it is three, written side
//! by side (see [`copy::pipelined`]). A failure leaves what was committed so
//! far; `c360 migrate fresh` and a re-run start over.

mod catalog;
mod copy;
mod generate;
mod insert;
mod rows;

/// Referral codes are derived from the customer id, unique by construction;
/// customers created through the API get theirs the same way.
use std::fmt;
use std::time::{Duration, Instant};

use c360_entity::customer;
use chrono::{SubsecRound, Utc};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, EntityName, Statement};

use crate::error::{AppError, AppResult};
use crate::service::{loyalty, metrics, rfm};

/// Customers per transaction: large enough to amortise commits, small enough
/// that a batch's rows (about 50 per customer) stay a few megabytes.
const BATCH_CUSTOMERS: u64 = 1_000;

/// What to seed.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    /// Number of customers; everything else scales with it (about 50 rows each).
    pub customers: u64,
    /// RNG seed: the same seed gives the same data (instants move with the day).
    pub seed: u64,
    /// ISO 4217 code of every generated amount; the store's base currency.
    pub base_currency: String,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

impl Default for SeedOptions {
    fn default() -> Self {
        SeedOptions {
            customers: 1_000,
            seed: 42,
            base_currency: "USD".to_owned(),
            progress: false,
        }
    }
}

/// What a seed run wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedReport {
    pub customers: u64,
    /// Rows inserted over all tables, `customer_metrics` included.
    pub rows: u64,
    pub elapsed: Duration,
}

impl fmt::Display for SeedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64();
        let rate = self.rows as f64 / secs.max(1e-3);
        let rate = if rate >= 1e6 {
            format!("{:.1}M", rate / 1e6)
        } else if rate >= 1e3 {
            format!("{:.0}k", rate / 1e3)
        } else {
            format!("{rate:.0}")
        };
        write!(
            f,
            "seeded {} customers, {} rows in {secs:.1} s ({rate} rows/s)",
            self.customers, self.rows
        )
    }
}

/// Seeds an empty store; refuses one that already holds customers.
pub async fn run(db: &DatabaseConnection, opts: &SeedOptions) -> AppResult<SeedReport> {
    let started = Instant::now();
    ensure_empty(db).await?;
    let mut ids = next_ids(db).await?;
    let first_customer_id = max_id(db, customer::Entity.table_name()).await? + 1;
    let world = generate::World::new(
        opts.seed,
        opts.customers,
        &opts.base_currency,
        Utc::now(),
        first_customer_id,
    );

    let bar = progress_bar(opts);
    let mut rows = 0;
    let mut next = 0;
    let mut children = copy::Children::default();
    while next < opts.customers {
        let end = (next + BATCH_CUSTOMERS).min(opts.customers);
        let batch = generate::batch(&world, &mut ids, next..end);
        rows += match db.get_database_backend() {
            DbBackend::Postgres => copy::pipelined(db, batch, &mut children).await?,
            _ => write_batch(db, batch).await?,
        };
        tracing::debug!(customers = end, rows, "seed batch committed");
        bar.inc(end - next);
        next = end;
    }
    rows += children.finish().await?;
    if db.get_database_backend() == DbBackend::Postgres {
        let mut conn = db
            .get_postgres_connection_pool()
            .acquire()
            .await
            .map_err(copy::db_err)?;
        copy::reset_sequences(&mut conn).await?;
    }

    bar.set_message("deriving metrics and balances");
    let derive = Instant::now();
    let txn = crate::db::begin_write(db).await?;
    rows += metrics::refresh_all(&txn, &opts.base_currency).await?;
    loyalty::refresh_balances(&txn, None).await?;
    // Generation counts days from midnight: points whose window ended
    // since then are due now.
    let now = Utc::now();
    let due = loyalty::due_accounts(&txn, now).await?;
    loyalty::settle(&txn, now, &due).await?;
    rfm::refresh_in(&txn, Utc::now().trunc_subsecs(0)).await?;
    txn.commit().await?;
    tracing::debug!(
        elapsed_ms = derive.elapsed().as_millis() as u64,
        "customer_metrics and loyalty balances derived"
    );
    // Fresh planner statistics: without them PostgreSQL guesses a thousand
    // orders per customer after a bulk load and scans whole tables.
    bar.set_message("analysing");
    db.execute_unprepared("ANALYZE").await?;
    bar.finish_and_clear();

    Ok(SeedReport {
        customers: opts.customers,
        rows,
        elapsed: started.elapsed(),
    })
}

/// Writes one batch in a transaction of its own (SQLite), sequences included,
/// so a committed batch leaves the store ready for ordinary inserts.
async fn write_batch(db: &DatabaseConnection, batch: rows::Batch) -> AppResult<u64> {
    let txn = crate::db::begin_write(db).await?;
    let rows = insert::batch(&txn, batch).await?;
    insert::reset_sequences(&txn).await?;
    txn.commit().await?;
    Ok(rows)
}

async fn ensure_empty(db: &impl ConnectionTrait) -> AppResult<()> {
    let probe = Query::select()
        .expr(Expr::val(1))
        .from(customer::Entity)
        .limit(1)
        .to_owned();
    if db.query_one(&probe).await?.is_some() {
        return Err(AppError::Conflict(
            "the store already holds customers; seed only fills an empty store \
             (run `c360 migrate fresh` first to start over)"
                .into(),
        ));
    }
    Ok(())
}

/// `MAX(id)` of a table, 0 when empty. Other tables may hold rows even when
/// `customers` is empty (say, from an import that failed half-way), so ids
/// continue after them instead of assuming 1.
async fn max_id(db: &impl ConnectionTrait, table: &str) -> AppResult<i64> {
    let backend = db.get_database_backend();
    let quoted = match backend {
        DbBackend::MySql => format!("`{table}`"),
        _ => format!("\"{table}\""),
    };
    // CAST keeps the type an integer on every backend; names are entity constants.
    let sql = format!("SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) AS m FROM {quoted}");
    let row = db
        .query_one_raw(Statement::from_string(backend, sql))
        .await?;
    Ok(match row {
        Some(row) => row.try_get::<i64>("", "m")?,
        None => 0,
    })
}

async fn next_ids(db: &impl ConnectionTrait) -> AppResult<generate::NextIds> {
    use c360_entity::{
        loyalty_account, loyalty_transaction, nps_response, order, order_line, referral, review,
        ticket, ticket_message,
    };
    Ok(generate::NextIds {
        account: max_id(db, loyalty_account::Entity.table_name()).await? + 1,
        order: max_id(db, order::Entity.table_name()).await? + 1,
        line: max_id(db, order_line::Entity.table_name()).await? + 1,
        ticket: max_id(db, ticket::Entity.table_name()).await? + 1,
        message: max_id(db, ticket_message::Entity.table_name()).await? + 1,
        review: max_id(db, review::Entity.table_name()).await? + 1,
        referral: max_id(db, referral::Entity.table_name()).await? + 1,
        ledger: max_id(db, loyalty_transaction::Entity.table_name()).await? + 1,
        nps: max_id(db, nps_response::Entity.table_name()).await? + 1,
    })
}

fn progress_bar(opts: &SeedOptions) -> ProgressBar {
    if !opts.progress {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(opts.customers), ProgressDrawTarget::stderr());
    // A bad template is a programming error, but not worth failing a seed over.
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} seeding [{bar:32}] {human_pos}/{human_len} customers ({per_sec}, eta {eta}) {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

#[cfg(test)]
mod tests {
    //! Seeds real stores through the real migrations and checks the
    //! invariants with SQL written independently of the code under test.
    //! SQLite always; PostgreSQL too when `C360_TEST_POSTGRES_URL` is set
    //! (as CI does), on a fresh database of its own.

    use c360_migration::Migrator;
    use c360_migration::sea_orm_migration::MigratorTrait;
    use chrono::{DateTime, Utc};
    use sea_orm::{Database, DatabaseConnection, TryGetable};

    use crate::db::{Store, StoreOptions};

    use super::*;

    async fn migrated(url: &str) -> DatabaseConnection {
        // The pool the CLI and server use: WAL, foreign keys on.
        let store = Store::connect(&StoreOptions::new(url))
            .await
            .expect("open store");
        let db = store.conn;
        Migrator::up(&db, None).await.expect("migrate");
        db
    }

    async fn sqlite_store(dir: &tempfile::TempDir, name: &str) -> DatabaseConnection {
        let path = dir.path().join(name);
        migrated(&format!("sqlite://{}?mode=rwc", path.display())).await
    }

    async fn seed(db: &DatabaseConnection, customers: u64, seed: u64) -> SeedReport {
        let opts = SeedOptions {
            customers,
            seed,
            ..SeedOptions::default()
        };
        run(db, &opts).await.expect("seed")
    }

    fn stmt(db: &DatabaseConnection, sql: &str) -> Statement {
        Statement::from_string(db.get_database_backend(), sql)
    }

    async fn scalar(db: &DatabaseConnection, sql: &str) -> i64 {
        let row = db
            .query_one_raw(stmt(db, sql))
            .await
            .expect(sql)
            .expect("one row");
        row.try_get_by_index::<i64>(0).expect("an integer")
    }

    async fn column<T: TryGetable>(db: &DatabaseConnection, sql: &str) -> Vec<T> {
        db.query_all_raw(stmt(db, sql))
            .await
            .expect(sql)
            .iter()
            .map(|row| row.try_get_by_index::<T>(0).expect("a value"))
            .collect()
    }

    const EMAILS: &str = "SELECT email FROM customers ORDER BY id";
    const TOTALS: &str = "SELECT total FROM orders ORDER BY id";

    /// Loyalty accounts whose balances differ from their ledger's sums.
    const BALANCES_OFF: &str = "SELECT COUNT(*) FROM loyalty_accounts a WHERE
           a.points_available <> (SELECT COALESCE(SUM(points), 0) FROM loyalty_transactions t
             WHERE t.customer_id = a.customer_id AND t.state = 'AVAILABLE')
        OR a.points_pending <> (SELECT COALESCE(SUM(points), 0) FROM loyalty_transactions t
             WHERE t.customer_id = a.customer_id AND t.state = 'PENDING')
        OR a.points_lifetime_earned <> (SELECT COALESCE(SUM(points), 0) FROM loyalty_transactions t
             WHERE t.customer_id = a.customer_id AND t.points > 0 AND t.state <> 'CANCELLED'
               AND t.kind IN ('EARN', 'ADJUST', 'REFERRAL_BONUS'))";

    /// Customers whose metrics row is missing or differs from a recount.
    const METRICS_OFF: &str =
        "SELECT COUNT(*) FROM customers c LEFT JOIN customer_metrics m ON m.customer_id = c.id
         WHERE m.customer_id IS NULL
            OR m.orders_count <> (SELECT COUNT(*) FROM orders o
                 WHERE o.customer_id = c.id AND o.status <> 'CANCELLED' AND o.currency = 'USD')
            OR m.net_spend <> (SELECT COALESCE(SUM(o.total - o.refunded), 0) FROM orders o
                 WHERE o.customer_id = c.id AND o.status <> 'CANCELLED' AND o.currency = 'USD')
            OR m.cancelled_count <> (SELECT COUNT(*) FROM orders o
                 WHERE o.customer_id = c.id AND o.status = 'CANCELLED')
            OR m.last_order_at IS DISTINCT FROM (SELECT MAX(o.placed_at) FROM orders o
                 WHERE o.customer_id = c.id AND o.status <> 'CANCELLED' AND o.currency = 'USD')
            OR m.tickets_count <> (SELECT COUNT(*) FROM tickets t WHERE t.customer_id = c.id)
            OR m.open_tickets <> (SELECT COUNT(*) FROM tickets t
                 WHERE t.customer_id = c.id AND t.status NOT IN ('SOLVED', 'CLOSED'))
            OR m.csat_count <> (SELECT COUNT(t.satisfaction_score) FROM tickets t
                 WHERE t.customer_id = c.id)
            OR m.reviews_count <> (SELECT COUNT(*) FROM reviews r WHERE r.customer_id = c.id)
            OR m.last_nps_score IS DISTINCT FROM (SELECT n.score FROM nps_responses n
                 WHERE n.customer_id = c.id ORDER BY n.created_at DESC, n.id DESC LIMIT 1)";

    /// Everything a seeded store must satisfy, in SQL that runs on SQLite and PostgreSQL.
    async fn check_store(db: &DatabaseConnection, report: &SeedReport, customers: i64) {
        assert_eq!(report.customers, customers as u64);
        assert_eq!(
            scalar(db, "SELECT COUNT(*) FROM customers").await,
            customers
        );

        // Every table is populated and the report counts every row.
        let tables = [
            "customers",
            "customer_tags",
            "customer_metrics",
            "orders",
            "order_lines",
            "tickets",
            "ticket_messages",
            "reviews",
            "referrals",
            "loyalty_accounts",
            "loyalty_transactions",
            "nps_responses",
        ];
        let mut total = 0;
        for table in tables {
            let n = scalar(db, &format!("SELECT COUNT(*) FROM {table}")).await;
            assert!(n > 0, "{table} is empty");
            total += n;
        }
        assert_eq!(report.rows, total as u64);
        let orders = scalar(db, "SELECT COUNT(*) FROM orders").await;
        assert!(
            (6 * customers..=14 * customers).contains(&orders),
            "about 10 orders per customer, got {orders} for {customers}"
        );

        // Balances equal the ledger's sums; no account is overdrawn.
        let off = scalar(
            db,
            "SELECT COUNT(*) FROM loyalty_accounts a WHERE
               a.points_available <> (SELECT COALESCE(SUM(points), 0) FROM loyalty_transactions t
                 WHERE t.customer_id = a.customer_id AND t.state = 'AVAILABLE')
            OR a.points_pending <> (SELECT COALESCE(SUM(points), 0) FROM loyalty_transactions t
                 WHERE t.customer_id = a.customer_id AND t.state = 'PENDING')
            OR a.points_lifetime_earned <> (SELECT COALESCE(SUM(points), 0) FROM loyalty_transactions t
                 WHERE t.customer_id = a.customer_id AND t.points > 0 AND t.state <> 'CANCELLED'
                   AND t.kind IN ('EARN', 'ADJUST', 'REFERRAL_BONUS'))",
        )
        .await;
        assert_eq!(off, 0, "accounts whose balances differ from the ledger");
        assert_eq!(
            scalar(db, "SELECT COUNT(*) FROM loyalty_accounts").await,
            customers
        );
        let overdrawn = "SELECT COUNT(*) FROM loyalty_accounts WHERE points_available < 0";
        assert_eq!(scalar(db, overdrawn).await, 0);
        for kind in ["EARN", "REDEEM", "REFERRAL_BONUS"] {
            let sql = format!("SELECT COUNT(*) FROM loyalty_transactions WHERE kind = '{kind}'");
            assert!(scalar(db, &sql).await > 0, "no {kind} rows");
        }

        // Metrics equal a recount from the raw tables, for every customer.
        let off = scalar(
            db,
            "SELECT COUNT(*) FROM customers c LEFT JOIN customer_metrics m ON m.customer_id = c.id
             WHERE m.customer_id IS NULL
                OR m.orders_count <> (SELECT COUNT(*) FROM orders o
                     WHERE o.customer_id = c.id AND o.status <> 'CANCELLED' AND o.currency = 'USD')
                OR m.net_spend <> (SELECT COALESCE(SUM(o.total - o.refunded), 0) FROM orders o
                     WHERE o.customer_id = c.id AND o.status <> 'CANCELLED' AND o.currency = 'USD')
                OR m.cancelled_count <> (SELECT COUNT(*) FROM orders o
                     WHERE o.customer_id = c.id AND o.status = 'CANCELLED')
                OR m.last_order_at IS DISTINCT FROM (SELECT MAX(o.placed_at) FROM orders o
                     WHERE o.customer_id = c.id AND o.status <> 'CANCELLED' AND o.currency = 'USD')
                OR m.tickets_count <> (SELECT COUNT(*) FROM tickets t WHERE t.customer_id = c.id)
                OR m.open_tickets <> (SELECT COUNT(*) FROM tickets t
                     WHERE t.customer_id = c.id AND t.status NOT IN ('SOLVED', 'CLOSED'))
                OR m.csat_count <> (SELECT COUNT(t.satisfaction_score) FROM tickets t
                     WHERE t.customer_id = c.id)
                OR m.reviews_count <> (SELECT COUNT(*) FROM reviews r WHERE r.customer_id = c.id)
                OR m.last_nps_score IS DISTINCT FROM (SELECT n.score FROM nps_responses n
                     WHERE n.customer_id = c.id ORDER BY n.created_at DESC, n.id DESC LIMIT 1)",
        )
        .await;
        assert_eq!(off, 0, "customers whose metrics differ from a recount");
        assert_eq!(
            scalar(db, "SELECT COUNT(*) FROM customer_metrics").await,
            customers
        );

        // First-reply minutes recomputed in Rust from the stored timestamps:
        // checks the backend's date arithmetic on the stored encoding.
        let rows = db
            .query_all_raw(stmt(
                db,
                "SELECT customer_id, created_at, first_reply_at FROM tickets
                 WHERE first_reply_at IS NOT NULL",
            ))
            .await
            .expect("tickets");
        let mut expected = std::collections::BTreeMap::<i64, (i64, i64)>::new();
        for row in &rows {
            let customer: i64 = row.try_get_by_index(0).expect("customer_id");
            let created: DateTime<Utc> = row.try_get_by_index(1).expect("created_at");
            let replied: DateTime<Utc> = row.try_get_by_index(2).expect("first_reply_at");
            let entry = expected.entry(customer).or_default();
            entry.0 += (replied - created).num_minutes();
            entry.1 += 1;
        }
        assert!(expected.values().any(|(sum, _)| *sum > 0));
        let rows = db
            .query_all_raw(stmt(
                db,
                "SELECT customer_id, first_reply_minutes_sum, first_reply_count
                 FROM customer_metrics WHERE first_reply_count > 0",
            ))
            .await
            .expect("metrics");
        let mut got = std::collections::BTreeMap::<i64, (i64, i64)>::new();
        for row in &rows {
            let customer: i64 = row.try_get_by_index(0).expect("customer_id");
            let sum: i64 = row.try_get_by_index(1).expect("sum");
            let count: i64 = row.try_get_by_index(2).expect("count");
            got.insert(customer, (sum, count));
        }
        assert_eq!(got, expected, "first-reply minutes per customer");

        // Every order's total is its lines less the discount plus tax.
        let off = scalar(
            db,
            "SELECT COUNT(*) FROM orders o WHERE
               o.subtotal <> (SELECT SUM(l.quantity * l.unit_price) FROM order_lines l
                 WHERE l.order_id = o.id)
            OR o.total <> o.subtotal - o.discount + o.tax",
        )
        .await;
        assert_eq!(off, 0, "orders whose total differs from their lines");

        // Verified reviews point at a kept purchase of the sku.
        let off = scalar(
            db,
            "SELECT COUNT(*) FROM reviews r WHERE r.verified_purchase AND NOT EXISTS (
               SELECT 1 FROM order_lines l JOIN orders o ON o.id = l.order_id
               WHERE o.customer_id = r.customer_id AND l.sku = r.product_sku
                 AND o.status IN ('PAID', 'FULFILLED', 'PARTIALLY_REFUNDED'))",
        )
        .await;
        assert_eq!(off, 0, "verified reviews without a purchase");

        // Referrers are earlier customers who signed up before inviting.
        let off = scalar(
            db,
            "SELECT COUNT(*) FROM referrals f JOIN customers r ON r.id = f.customer_id
             LEFT JOIN customers e ON e.id = f.referee_customer_id
             WHERE r.created_at > f.invited_at
                OR (e.id IS NOT NULL AND (e.created_at < f.invited_at OR e.id <= r.id))",
        )
        .await;
        assert_eq!(off, 0, "referrals out of order");

        // Emails are lower-case; instants are whole seconds (spot check).
        assert!(
            column::<String>(db, EMAILS)
                .await
                .iter()
                .all(|e| *e == e.to_lowercase())
        );
        let instants = column::<DateTime<Utc>>(db, "SELECT placed_at FROM orders").await;
        assert!(instants.iter().all(|t| t.timestamp_subsec_nanos() == 0));

        // Seeding again is refused.
        let again = run(db, &SeedOptions::default()).await;
        assert!(matches!(again, Err(AppError::Conflict(_))), "{again:?}");
    }

    #[tokio::test]
    async fn sqlite_seed_is_consistent_and_deterministic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sqlite_store(&dir, "a.db").await;
        let report = seed(&db, 200, 7).await;
        check_store(&db, &report, 200).await;

        // Same seed, same data; another seed, other data.
        let same = sqlite_store(&dir, "b.db").await;
        seed(&same, 200, 7).await;
        let other = sqlite_store(&dir, "c.db").await;
        seed(&other, 200, 8).await;
        let emails = column::<String>(&db, EMAILS).await;
        assert_eq!(emails, column::<String>(&same, EMAILS).await);
        assert_eq!(
            column::<i64>(&db, TOTALS).await,
            column::<i64>(&same, TOTALS).await
        );
        assert_ne!(emails, column::<String>(&other, EMAILS).await);

        // Writes after the seed, the way services will make them: a cancelled
        // order, a new NPS answer tied on time with the latest (the higher id
        // wins), a ledger row. refresh_for / refresh_balances(Some) repair
        // exactly those customers.
        let sql = "UPDATE orders SET status = 'CANCELLED' WHERE customer_id IN (1, 2, 3)";
        db.execute_unprepared(sql).await.expect("cancel");
        let nps_customer = scalar(
            &db,
            "SELECT customer_id FROM nps_responses ORDER BY id LIMIT 1",
        )
        .await;
        let latest = format!(
            "SELECT score FROM nps_responses WHERE customer_id = {nps_customer}
             ORDER BY created_at DESC, id DESC LIMIT 1"
        );
        let new_score = (scalar(&db, &latest).await + 1) % 11;
        let sql = format!(
            "INSERT INTO nps_responses (customer_id, score, channel, created_at)
             SELECT customer_id, {new_score}, 'WEB', MAX(created_at) FROM nps_responses
             WHERE customer_id = {nps_customer} GROUP BY customer_id"
        );
        db.execute_unprepared(&sql).await.expect("nps");
        let sql = "INSERT INTO loyalty_transactions (customer_id, kind, points, state, created_at)
                   VALUES (4, 'ADJUST', 123, 'PENDING', '2024-01-01T00:00:00+00:00')";
        db.execute_unprepared(sql).await.expect("ledger");
        assert!(scalar(&db, METRICS_OFF).await > 0);
        assert!(scalar(&db, BALANCES_OFF).await > 0);

        metrics::refresh_for(&db, "USD", &[3, 1, 2, nps_customer, 1])
            .await
            .expect("refresh_for");
        loyalty::refresh_balances(&db, Some(&[4]))
            .await
            .expect("balances");
        assert_eq!(scalar(&db, METRICS_OFF).await, 0);
        assert_eq!(scalar(&db, BALANCES_OFF).await, 0);
        assert_eq!(
            scalar(&db, "SELECT COUNT(*) FROM customer_metrics").await,
            200
        );
        let sql = format!(
            "SELECT last_nps_score FROM customer_metrics WHERE customer_id = {nps_customer}"
        );
        assert_eq!(column::<i32>(&db, &sql).await, vec![new_score as i32]);
        let sql = "SELECT orders_count FROM customer_metrics WHERE customer_id IN (1, 2, 3)";
        assert_eq!(column::<i64>(&db, sql).await, vec![0, 0, 0]);
    }

    /// `postgres://user@host/admin_db` with the database name replaced.
    fn with_database(url: &str, name: &str) -> String {
        let (base, query) = url
            .split_once('?')
            .map_or((url, None), |(b, q)| (b, Some(q)));
        let slash = base.rfind('/').unwrap_or(base.len());
        let host_part = if base[..slash].ends_with('/') {
            base
        } else {
            &base[..slash]
        };
        match query {
            Some(q) => format!("{host_part}/{name}?{q}"),
            None => format!("{host_part}/{name}"),
        }
    }

    #[tokio::test]
    async fn postgres_seed_is_consistent_and_matches_sqlite() {
        let Ok(admin_url) = std::env::var("C360_TEST_POSTGRES_URL") else {
            eprintln!("C360_TEST_POSTGRES_URL is not set: PostgreSQL seed test skipped");
            return;
        };
        let name = format!("c360_seed_test_{}", std::process::id());
        let admin = Database::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("C360_TEST_POSTGRES_URL is set but unreachable: {e}"));
        let drop = format!("DROP DATABASE IF EXISTS {name}");
        admin.execute_unprepared(&drop).await.expect("drop");
        let create = format!("CREATE DATABASE {name}");
        admin.execute_unprepared(&create).await.expect("create");

        let db = migrated(&with_database(&admin_url, &name)).await;
        let report = seed(&db, 200, 7).await;
        check_store(&db, &report, 200).await;

        // Explicit ids moved every sequence past them.
        for table in insert::id_tables() {
            let sql = format!(
                "SELECT CAST(CASE WHEN nextval(pg_get_serial_sequence('{table}', 'id'))
                   > (SELECT COALESCE(MAX(id), 0) FROM {table}) THEN 1 ELSE 0 END AS BIGINT)"
            );
            assert_eq!(scalar(&db, &sql).await, 1, "sequence of {table}");
        }

        // The same seed gives the same data on SQLite.
        let dir = tempfile::tempdir().expect("tempdir");
        let lite = sqlite_store(&dir, "same.db").await;
        seed(&lite, 200, 7).await;
        assert_eq!(
            column::<String>(&db, EMAILS).await,
            column::<String>(&lite, EMAILS).await
        );
        assert_eq!(
            column::<i64>(&db, TOTALS).await,
            column::<i64>(&lite, TOTALS).await
        );

        db.close().await.expect("close");
        admin.execute_unprepared(&drop).await.expect("drop");
    }

    /// Times a 10,000-customer seed on SQLite:
    /// `cargo test --release --lib seed::tests::seed_ten_thousand -- --ignored --nocapture`.
    #[tokio::test]
    #[ignore = "benchmark"]
    async fn seed_ten_thousand() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sqlite_store(&dir, "bench.db").await;
        println!("{}", seed(&db, 10_000, 42).await);
    }
}
