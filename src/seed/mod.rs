//! Deterministic demo and benchmark data: `c360 seed` and `serve --seed-demo`.
//!
//! [`run`] fills an empty store with customers and everything around them
//! (orders and lines, tickets and messages, reviews, referrals, loyalty
//! accounts and ledgers, NPS answers, tags), then derives `customer_metrics`,
//! loyalty balances, RFM groups and lifetime-value predictions with the same
//! code the write paths and `c360 insights refresh` use.
//! The data follows the configured business rules ([`SeedOptions::rules`]),
//! so the seeded store reads as if the API had written it.
//!
//! - [`catalog`]: the static tables the data is drawn from;
//! - [`generate`]: pure generation of rows from a seeded RNG;
//! - [`rows`]: one struct per table and its column mapping;
//! - [`store`]: what the store already holds (emptiness, next ids);
//! - [`insert`]: chunked multi-row INSERTs and PostgreSQL sequence resets;
//! - [`copy`]: `COPY ... FROM STDIN` for PostgreSQL, same rows;
//! - [`derive`]: the figures derived from the rows once they are loaded.
//!
//! Customers are written in batches, so memory stays flat for any size. On
//! SQLite a batch is one transaction. On PostgreSQL it is three, written side
//! by side (see [`copy::pipelined`]). A failure leaves what was committed so
//! far; `c360 migrate fresh` and a re-run start over.

mod catalog;
mod copy;
mod derive;
mod generate;
mod insert;
mod rows;
mod store;
#[cfg(test)]
mod tests;

use std::fmt;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sea_orm::{DatabaseConnection, DbBackend};

use crate::domain::clv::{BgNbd, GammaGamma};
use crate::error::AppResult;
use crate::service::Rules;

/// The purchase process of the seeded customers, in days: BG/NBD with
/// λ ~ Gamma(r = 0.5, α = 16) (a mean of one order a month while active,
/// most customers buying far less often than the few who buy weekly) and a
/// dropout chance after each repeat order p ~ Beta(a = 0.8, b = 4.5) (one in
/// seven on average). The shapes are of CDNOW's order (r 0.24, a 0.79,
/// b 2.43): strong heterogeneity in rates and in dropout. See
/// `generate::orders` for how it is drawn; a fit of the seeded store
/// recovers it (`seed::tests::clv_recovers_the_generating_processes`).
pub const PURCHASES: BgNbd = BgNbd {
    r: 0.5,
    alpha: 16.0,
    a: 0.8,
    b: 4.5,
};

/// The spend process of the seeded orders, in major units of the base
/// currency, tax included: Gamma-Gamma with p = 6 (an order varies by about
/// 40 % around the customer's mean) and ν ~ Gamma(q = 4, γ = 35), a mean
/// order of pγ/(q − 1) = 70.00 across customers.
pub const SPEND: GammaGamma = GammaGamma {
    p: 6.0,
    q: 4.0,
    gamma: 35.0,
};

/// Customers per transaction: large enough to amortise commits, small enough
/// that a batch's rows (about 32 per customer) stay a few megabytes.
const BATCH_CUSTOMERS: u64 = 1_000;

/// What to seed, and under which rules.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    /// Number of customers; everything else scales with it (about 32 rows each).
    pub customers: u64,
    /// RNG seed: the same seed, rules and day give the same data.
    pub seed: u64,
    /// The store's business rules: base currency, points rate, return
    /// window, expiry, tiers, referral minimum and rewards.
    pub rules: Rules,
    /// The instant the store is seeded at: history ends the day before, and
    /// windows (return, tier, expiry) are measured from it.
    pub now: DateTime<Utc>,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

impl SeedOptions {
    /// 1,000 customers from seed 42, no progress bar.
    pub fn new(rules: Rules, now: DateTime<Utc>) -> SeedOptions {
        SeedOptions {
            customers: 1_000,
            seed: 42,
            rules,
            now,
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
    store::ensure_empty(db).await?;
    let mut ids = store::next_ids(db).await?;
    let world = generate::World::new(
        opts.seed,
        opts.customers,
        &opts.rules,
        opts.now,
        store::next_customer_id(db).await?,
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
    rows += derive::figures(db, &opts.rules, world.now).await?;
    bar.set_message("fitting lifetime value");
    rows += derive::lifetime_value(db, &opts.rules, world.now).await?;
    bar.set_message("relating products bought together");
    rows += derive::interests(db, &opts.rules, world.now).await?;
    bar.set_message("analysing");
    derive::analyse(db).await?;
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
