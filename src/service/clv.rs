//! Lifetime value: the BG/NBD and Gamma-Gamma models (`domain::clv`)
//! fitted over the whole base, and each customer's predictions, refreshed
//! in bulk with RFM (after seeding, by `c360 insights refresh` and every
//! `--rfm-refresh-interval`).
//!
//! What the models see, per customer with a counted order (not cancelled,
//! in the base currency, as in `service::metrics`):
//! - `x`: counted orders after the first (repeat orders);
//! - `t_x`: whole days from the first counted order to the last;
//! - `T`: whole days from the first counted order to the refresh;
//! - the mean total of the repeat orders, before refunds, in major units
//!   of the base currency (the spend model describes what customers spend;
//!   refunds come off the predicted value as the base's refunded share).
//!
//! A refresh reads those figures in one statement, streamed, into 32 bytes
//! a customer; fits and predicts on a blocking thread so the server's
//! requests keep running, each prediction packed into 48 bytes
//! ([`Packed`]), so a refresh holds about 80 bytes a customer (and, while
//! the fit's data are built, some 60 more for a moment); then writes the
//! fit's row and every customer's row in one transaction: a delete and
//! inserts of [`ROWS_PER_INSERT`] rows. Readers see the old predictions or
//! the new, never a mix.

use std::time::{Duration, Instant};

use c360_entity::{clv_fit, customer_clv as cc, order};
use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use futures_util::TryStreamExt;
use sea_orm::sea_query::{
    Alias, Expr, ExprTrait, Func, Order, Query, SelectStatement, WindowStatement,
};
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    QueryOrder, Set, StreamTrait,
};

use crate::domain::clv::{
    self, BgNbd, ChurnRisk, Fit, Fitted, GammaGamma, Observation, Prediction, Status,
};
use crate::domain::orders::NOT_COUNTED;
use crate::error::{AppError, AppResult};

/// Customers per insert: 11 columns, far under every backend's parameter limit.
const ROWS_PER_INSERT: usize = 1_000;

const DAY_SECONDS: i64 = 86_400;

/// One customer as the models see it.
#[derive(Debug, Clone, Copy)]
struct Customer {
    id: i64,
    /// Repeat orders.
    x: u32,
    t_x: u32,
    age: u32,
    /// Sum of the repeat orders' totals, minor units.
    repeat_total: i64,
}

impl Customer {
    fn observation(&self) -> Observation {
        Observation {
            x: self.x,
            t_x: f64::from(self.t_x),
            age: f64::from(self.age),
        }
    }
}

/// What a refresh did.
#[derive(Debug, Clone)]
pub struct Refreshed {
    pub fit: clv_fit::Model,
    pub purchases: Option<Fit<BgNbd>>,
    pub spend: Option<Fit<GammaGamma>>,
    pub read: Duration,
    pub fitted: Duration,
    pub written: Duration,
}

impl std::fmt::Display for Refreshed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CLV refreshed for {} customers ({}):",
            self.fit.customers, self.fit.status
        )?;
        match &self.purchases {
            Some(p) => write!(
                f,
                " BG/NBD r {:.4}, α {:.4} days, a {:.4}, b {:.4} ({}converged);",
                p.params.r,
                p.params.alpha,
                p.params.a,
                p.params.b,
                if p.converged { "" } else { "not " }
            )?,
            None => write!(f, " BG/NBD not fitted;")?,
        }
        match &self.spend {
            Some(s) => write!(
                f,
                " Gamma-Gamma p {:.4}, q {:.4}, γ {:.4} over {} repeat customers ({}converged);",
                s.params.p,
                s.params.q,
                s.params.gamma,
                s.customers,
                if s.converged { "" } else { "not " }
            )?,
            None => write!(f, " Gamma-Gamma not fitted;")?,
        }
        write!(
            f,
            " read {} ms, fit {} ms, written {} ms",
            self.read.as_millis(),
            self.fitted.as_millis(),
            self.written.as_millis()
        )
    }
}

/// Refits both models at `now` and rewrites every customer's predictions.
pub async fn refresh(
    db: &DatabaseConnection,
    base_currency: &str,
    now: DateTime<Utc>,
) -> AppResult<Refreshed> {
    let at = now.trunc_subsecs(0);
    let started = Instant::now();
    let (customers, spent, refunded) = read(db, base_currency, at).await?;
    let read_time = started.elapsed();

    let started = Instant::now();
    let scale = 10f64.powi(crate::domain::money::minor_digits(base_currency) as i32);
    let (customers, fitted, predictions) = tokio::task::spawn_blocking(move || {
        let fitted = fit(&customers, scale, spent, refunded)?;
        let predictions: Vec<Packed> = customers
            .iter()
            .map(|c| Packed::of(&fitted.predict(&c.observation(), repeat_mean(c, scale))))
            .collect();
        Ok::<_, AppError>((customers, fitted, predictions))
    })
    .await
    .map_err(|e| AppError::Internal(anyhow::anyhow!("CLV fit: {e}")))??;
    let fit_time = started.elapsed();

    let started = Instant::now();
    let fit = write(db, at, &customers, &fitted, &predictions, scale, fit_time).await?;
    Ok(Refreshed {
        fit,
        purchases: fitted.purchases,
        spend: fitted.spend,
        read: read_time,
        fitted: fit_time,
        written: started.elapsed(),
    })
}

/// A prediction as it is kept until written: absent figures are NaN, an
/// absent day `u16::MAX` (the horizon is a year), the band follows from the
/// churn probability. 48 bytes where [`Prediction`] takes twice that.
#[derive(Debug, Clone, Copy)]
struct Packed {
    churn: f64,
    short: f64,
    year: f64,
    /// Major units.
    order_value: f64,
    value: f64,
    next_days: u16,
    status: Status,
}

impl Packed {
    const NO_DAY: u16 = u16::MAX;

    fn of(p: &Prediction) -> Packed {
        let f = |v: Option<f64>| v.unwrap_or(f64::NAN);
        Packed {
            churn: f(p.churn_probability),
            short: f(p.expected_orders_short),
            year: f(p.expected_orders_year),
            order_value: f(p.expected_order_value),
            value: f(p.predicted_value),
            next_days: p
                .next_order_in_days
                .and_then(|d| u16::try_from(d).ok())
                .filter(|d| *d != Self::NO_DAY)
                .unwrap_or(Self::NO_DAY),
            status: p.status,
        }
    }

    fn figure(v: f64) -> Option<f64> {
        (!v.is_nan()).then_some(v)
    }

    fn next_days(&self) -> Option<u16> {
        (self.next_days != Self::NO_DAY).then_some(self.next_days)
    }
}

fn repeat_mean(c: &Customer, scale: f64) -> f64 {
    if c.x == 0 {
        0.0
    } else {
        c.repeat_total as f64 / scale / f64::from(c.x)
    }
}

fn fit(customers: &[Customer], scale: f64, spent: i64, refunded: i64) -> AppResult<Fitted> {
    let purchases = clv::bgnbd::Data::new(customers.iter().map(Customer::observation))
        .map_err(|e| AppError::Internal(anyhow::anyhow!("CLV data: {e}")))?;
    let spend = clv::gamma_gamma::Data::new(
        customers
            .iter()
            .filter(|c| c.x > 0)
            .map(|c| (c.x, repeat_mean(c, scale))),
    )
    .map_err(|e| AppError::Internal(anyhow::anyhow!("CLV data: {e}")))?;
    let share = if spent > 0 {
        refunded as f64 / spent as f64
    } else {
        0.0
    };
    Ok(clv::fit(&purchases, &spend, share))
}

/// Streams one row per customer with a counted order; returns them with the
/// base's spend and refunds (minor units).
async fn read(
    db: &DatabaseConnection,
    base_currency: &str,
    at: DateTime<Utc>,
) -> AppResult<(Vec<Customer>, i64, i64)> {
    let days = |from: DateTime<Utc>, to: DateTime<Utc>| {
        u32::try_from(Ord::max((to - from).num_seconds(), 0) / DAY_SECONDS).unwrap_or(u32::MAX)
    };
    let mut customers = Vec::new();
    let (mut spent, mut refunded) = (0i64, 0i64);
    let mut rows = db.stream(&summaries(base_currency)).await?;
    while let Some(row) = rows.try_next().await? {
        let id: i64 = row.try_get_by_index(0)?;
        let orders: i64 = row.try_get_by_index(1)?;
        let first: DateTime<Utc> = row.try_get_by_index(2)?;
        let last: DateTime<Utc> = row.try_get_by_index(3)?;
        let repeat_total: i64 = row.try_get_by_index(4)?;
        spent += row.try_get_by_index::<i64>(5)?;
        refunded += row.try_get_by_index::<i64>(6)?;
        // A first order after the refresh instant (a clock set back) counts
        // as placed at it.
        let age = days(first, Ord::max(at, first));
        customers.push(Customer {
            id,
            x: u32::try_from(orders - 1).unwrap_or(0),
            t_x: Ord::min(days(first, last), age),
            age,
            repeat_total,
        });
    }
    Ok((customers, spent, refunded))
}

const RANKED: &str = "ranked";

fn ranked(name: &'static str) -> Expr {
    Expr::col((Alias::new(RANKED), Alias::new(name)))
}

/// Per customer with a counted order, by id: orders, first and last
/// `placed_at`, the total of the orders after the first (by `placed_at`,
/// then id), the total and the refunded amount of all of them.
fn summaries(base_currency: &str) -> SelectStatement {
    use order::Column as O;
    let mut inner = Query::select();
    inner
        .column(O::CustomerId)
        .column(O::PlacedAt)
        .column(O::Total)
        .column(O::Refunded)
        .expr_window_as(
            Func::cust(Alias::new("ROW_NUMBER")),
            WindowStatement::partition_by(O::CustomerId)
                .order_by(O::PlacedAt, Order::Asc)
                .order_by(O::Id, Order::Asc)
                .to_owned(),
            Alias::new("rn"),
        )
        .from(order::Entity)
        .and_where(Expr::col(O::Status).ne(NOT_COUNTED.to_value()))
        .and_where(Expr::col(O::Currency).eq(base_currency));
    let sum = |e: Expr| Expr::from(Func::sum(e)).cast_as("BIGINT");
    let repeat: Expr = Expr::case(ranked("rn").gt(1), ranked("total"))
        .finally(0i64)
        .into();
    Query::select()
        .expr(ranked("customer_id"))
        .expr(Expr::col(Alias::new("rn")).count().cast_as("BIGINT"))
        .expr(Func::min(ranked("placed_at")))
        .expr(Func::max(ranked("placed_at")))
        .expr(sum(repeat))
        .expr(sum(ranked("total")))
        .expr(sum(ranked("refunded")))
        .from_subquery(inner, Alias::new(RANKED))
        .group_by_col((Alias::new(RANKED), Alias::new("customer_id")))
        .order_by((Alias::new(RANKED), Alias::new("customer_id")), Order::Asc)
        .to_owned()
}

/// The fit's row, then every customer's, in one transaction.
async fn write(
    db: &DatabaseConnection,
    at: DateTime<Utc>,
    customers: &[Customer],
    fitted: &Fitted,
    predictions: &[Packed],
    scale: f64,
    fit_time: Duration,
) -> AppResult<clv_fit::Model> {
    let minor = |major: f64| (major * scale).round() as i64;
    let sum = |f: fn(&Packed) -> f64| -> Option<f64> {
        fitted
            .purchase_model
            .is_ok()
            .then(|| predictions.iter().map(f).filter_map(Packed::figure).sum())
    };
    let value: i64 = predictions
        .iter()
        .filter_map(|p| Packed::figure(p.value))
        .map(minor)
        .sum();
    let purchases = fitted.purchases;
    let spend = fitted.spend;
    let txn = crate::db::begin_write(db).await?;
    // Two instances refreshing at once take turns: without the lock, the
    // second's delete would not see the rows the first inserted (its
    // snapshot predates them) and its inserts would collide with them.
    // SQLite's BEGIN IMMEDIATE already lets one writer in at a time.
    if ConnectionTrait::get_database_backend(&txn) == DbBackend::Postgres {
        txn.execute_unprepared("LOCK TABLE customer_clv IN SHARE ROW EXCLUSIVE MODE")
            .await?;
    }
    let fit = clv_fit::ActiveModel {
        fitted_at: Set(at),
        status: Set(fitted.status().as_str().to_owned()),
        customers: Set(customers.len() as i64),
        purchase_r: Set(purchases.map(|f| f.params.r)),
        purchase_alpha: Set(purchases.map(|f| f.params.alpha)),
        purchase_a: Set(purchases.map(|f| f.params.a)),
        purchase_b: Set(purchases.map(|f| f.params.b)),
        purchase_log_likelihood: Set(purchases.map(|f| f.log_likelihood)),
        purchase_converged: Set(purchases.map(|f| f.converged)),
        repeat_customers: Set(customers
            .iter()
            .filter(|c| c.x > 0 && c.repeat_total > 0)
            .count() as i64),
        spend_p: Set(spend.map(|f| f.params.p)),
        spend_q: Set(spend.map(|f| f.params.q)),
        spend_gamma: Set(spend.map(|f| f.params.gamma)),
        spend_log_likelihood: Set(spend.map(|f| f.log_likelihood)),
        spend_converged: Set(spend.map(|f| f.converged)),
        refund_share: Set(fitted.refund_share),
        expected_orders_90d: Set(sum(|p| p.short)),
        expected_orders_365d: Set(sum(|p| p.year)),
        predicted_value: Set(fitted.spend_model.map(|_| value)),
        fit_millis: Set(fit_time.as_millis() as i64),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.execute(&Query::delete().from_table(cc::Entity).to_owned())
        .await?;
    for (chunk, predicted) in customers
        .chunks(ROWS_PER_INSERT)
        .zip(predictions.chunks(ROWS_PER_INSERT))
    {
        let mut insert = Query::insert();
        insert.into_table(cc::Entity).columns([
            cc::Column::CustomerId,
            cc::Column::FitId,
            cc::Column::Status,
            cc::Column::ChurnProbability,
            cc::Column::ChurnRisk,
            cc::Column::ExpectedOrders90d,
            cc::Column::ExpectedOrders365d,
            cc::Column::ExpectedOrderValue,
            cc::Column::PredictedValue,
            cc::Column::NextOrderAt,
            cc::Column::RefreshedAt,
        ]);
        for (c, p) in chunk.iter().zip(predicted) {
            let next = p
                .next_days()
                .and_then(|d| TimeDelta::try_days(i64::from(d)))
                .map(|d| at + d);
            let churn = Packed::figure(p.churn);
            insert
                .values([
                    c.id.into(),
                    fit.id.into(),
                    p.status.as_str().into(),
                    churn.into(),
                    churn.map(|c| ChurnRisk::of(c).as_str()).into(),
                    Packed::figure(p.short).into(),
                    Packed::figure(p.year).into(),
                    Packed::figure(p.order_value).map(minor).into(),
                    Packed::figure(p.value).map(minor).into(),
                    next.into(),
                    at.into(),
                ])
                .map_err(|e| AppError::Internal(anyhow::anyhow!("customer_clv insert: {e}")))?;
        }
        txn.execute(&insert).await?;
    }
    txn.commit().await?;
    Ok(fit)
}

/// The latest fit, if any refresh has run.
pub async fn latest_fit(db: &impl ConnectionTrait) -> AppResult<Option<clv_fit::Model>> {
    Ok(clv_fit::Entity::find()
        .order_by_desc(clv_fit::Column::Id)
        .one(db)
        .await?)
}

/// Sums of the latest predictions over a population.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    /// Customers with a prediction row.
    pub customers: i64,
    pub expected_orders_90d: f64,
    pub expected_orders_365d: f64,
    /// Minor units.
    pub predicted_value: i64,
}

/// [`Totals`] over the customers `population` selects (every customer
/// when None), in one aggregate statement.
pub async fn totals(
    db: &impl ConnectionTrait,
    population: Option<SelectStatement>,
) -> AppResult<Totals> {
    let col = |c: cc::Column| Expr::col((cc::Entity, c));
    let mut q = Query::select();
    q.expr(col(cc::Column::CustomerId).count().cast_as("BIGINT"))
        .expr(Func::coalesce([
            Func::sum(col(cc::Column::ExpectedOrders90d)).into(),
            Expr::val(0.0f64),
        ]))
        .expr(Func::coalesce([
            Func::sum(col(cc::Column::ExpectedOrders365d)).into(),
            Expr::val(0.0f64),
        ]))
        .expr(
            Expr::from(Func::coalesce([
                Func::sum(col(cc::Column::PredictedValue)).into(),
                Expr::val(0i64),
            ]))
            .cast_as("BIGINT"),
        )
        .from(cc::Entity);
    if let Some(pop) = population {
        q.and_where(col(cc::Column::CustomerId).in_subquery(pop));
    }
    let row = db
        .query_one(&q)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("aggregate returned no row")))?;
    Ok(Totals {
        customers: row.try_get_by_index(0)?,
        expected_orders_90d: row.try_get_by_index(1)?,
        expected_orders_365d: row.try_get_by_index(2)?,
        predicted_value: row.try_get_by_index(3)?,
    })
}

/// The status of a customer without a prediction row: not in the base
/// (no counted order) or not in it at the last refresh.
pub fn status_without_row(orders_count: i64) -> Status {
    if orders_count > 0 {
        Status::NotRefreshed
    } else {
        Status::NoOrders
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_customer_costs_what_the_module_says() {
        assert_eq!(std::mem::size_of::<Customer>(), 32);
        assert_eq!(std::mem::size_of::<Packed>(), 48);
        assert!(std::mem::size_of::<Prediction>() >= 2 * 48);
    }

    #[test]
    fn packing_keeps_every_figure_and_every_absence() {
        let p = Prediction {
            status: Status::NoRepeatOrder,
            churn_probability: Some(0.0),
            churn_risk: Some(ChurnRisk::Low),
            expected_orders_short: Some(0.4),
            expected_orders_year: Some(1.2),
            expected_order_value: None,
            predicted_value: None,
            next_order_in_days: Some(300),
        };
        let packed = Packed::of(&p);
        assert_eq!(Packed::figure(packed.churn), Some(0.0));
        assert_eq!(Packed::figure(packed.year), Some(1.2));
        assert_eq!(Packed::figure(packed.value), None);
        assert_eq!(packed.next_days(), Some(300));
        assert_eq!(packed.status, Status::NoRepeatOrder);
        let none = Packed::of(&Prediction {
            next_order_in_days: None,
            ..p
        });
        assert_eq!(none.next_days(), None);
    }
}
