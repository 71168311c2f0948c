//! The figures derived from the seeded rows, computed after the load by the
//! same service code the write paths use rather than generated: customer
//! metrics, loyalty balances (with due points settled and expired ones
//! written off), tier reviews under the tier policy, RFM groups, lifetime
//! value, the co-purchase table and top categories, and fresh planner
//! statistics.

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::error::AppResult;
use crate::service::{Rules, clv, loyalty, metrics, rfm};

/// Derives every figure at `now`, in one transaction; returns the
/// `customer_metrics` rows written.
pub async fn figures(db: &DatabaseConnection, rules: &Rules, now: DateTime<Utc>) -> AppResult<u64> {
    let started = std::time::Instant::now();
    let txn = crate::db::begin_write(db).await?;
    let rows = metrics::refresh_all(&txn, &rules.base_currency, now).await?;
    loyalty::refresh_balances(&txn, None, now).await?;
    // Generation counts days from midnight: points whose return window
    // ended since then, and credits that expired at any time, are due now,
    // as the API's settlement would have left them. Generated history is
    // not news: it is settled without events.
    let due = loyalty::due_accounts(&txn, now).await?;
    loyalty::settle_history(&txn, now, &due).await?;
    // The generated tiers are the ones spend reaches at `now`; the review
    // gives each its review date, notice and due instant, silently.
    loyalty::review_history(&txn, rules, now).await?;
    rfm::refresh_in(&txn, now.trunc_subsecs(0)).await?;
    txn.commit().await?;
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "customer_metrics, loyalty balances and RFM groups derived"
    );
    Ok(rows)
}

/// Fits the lifetime-value models over the seeded base and writes every
/// customer's predictions (its own transaction, as `c360 insights refresh`
/// does); returns the rows written.
pub async fn lifetime_value(
    db: &DatabaseConnection,
    rules: &Rules,
    now: DateTime<Utc>,
) -> AppResult<u64> {
    let refreshed = clv::refresh(db, &rules.base_currency, now).await?;
    tracing::debug!("{refreshed}");
    Ok(refreshed.fit.customers as u64 + 1)
}

/// Rebuilds the co-purchase table and every customer's top category over
/// the seeded base (its own transaction, as `c360 insights refresh` does);
/// returns the rows written.
pub async fn interests(
    db: &DatabaseConnection,
    rules: &Rules,
    now: DateTime<Utc>,
) -> AppResult<u64> {
    let refreshed = crate::service::recommendations::refresh_now(db, rules, now).await?;
    tracing::debug!("{refreshed}");
    Ok(refreshed.rows())
}

/// Without fresh statistics PostgreSQL guesses a thousand orders per
/// customer after a bulk load and scans whole tables.
pub async fn analyse(db: &DatabaseConnection) -> AppResult<()> {
    db.execute_unprepared("ANALYZE").await?;
    Ok(())
}
