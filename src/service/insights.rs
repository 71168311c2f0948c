//! Period metrics: figures over `[from, to)` for all customers or a segment's
//! population, each group one aggregate statement (six in all, whatever the
//! size of the base), so nothing is summed per customer in Rust.
//!
//! Definitions (money in minor units of the base currency; *counted orders*
//! are not CANCELLED and in the base currency, as in `customer_metrics`; a
//! *buyer* is a customer with at least one counted order):
//! - `customers`: customers added before `to`; `new_customers`: added in the period;
//! - `active_customers`: customers with a counted order placed in the period;
//! - `revenue`: `SUM(total - refunded)` over counted orders placed in the
//!   period; `orders`: their number; average order value = revenue ÷ orders;
//! - repeat purchase rate: customers with 2+ counted orders in the period ÷
//!   active customers;
//! - retention rate: (buyers at end − new buyers) ÷ buyers at start, where
//!   buyers at start ordered before `from`, buyers at end ordered in the
//!   period and new buyers are those whose first order is in the period, so
//!   the numerator is the buyers at start who ordered again in the period;
//!   churn rate = 1 − retention rate;
//! - NPS: % promoters (9-10) − % detractors (0-6) over answers given in the period;
//! - CSAT: % of ratings 4-5 over tickets rated (`satisfaction_at`) in the period;
//! - follow-ups ([`follow_ups`], a seventh statement, run only when asked):
//!   due = follow-ups that fell due (`due_at`) in the period, skipped ones
//!   not counted; recorded = outcomes recorded (`recorded_at`) in the
//!   period; answered = those recorded SATISFIED or NOT_SATISFIED (the
//!   outcomes with a score); response rate = answered ÷ recorded; CSAT =
//!   % of answered scored 4-5, and the average score over answered, both by
//!   recording time as the tickets' CSAT is by rating time;
//! - median first reply: over tickets created in the period with a first
//!   reply, in whole minutes (rounded down) as in `customer_metrics`;
//! - points issued: positive ledger rows (earnings, referral bonuses,
//!   positive adjustments); points redeemed: REDEEM rows, as a positive
//!   number; both over rows created in the period and not CANCELLED.

use c360_entity::enums::{LoyaltyTransactionKind, LoyaltyTransactionState};
use c360_entity::follow_up::{self, FollowUpState};
use c360_entity::{customer, loyalty_transaction as lt, nps_response as nps, order, ticket};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{
    Alias, Expr, ExprTrait, Func, IntoCondition, Order, Query, SelectStatement,
};
use sea_orm::{ActiveEnum, ConnectionTrait, QueryResult};

use crate::domain::csat::SATISFIED_MIN;
use crate::domain::nps::{DETRACTOR_MAX, PROMOTER_MIN};
use crate::domain::orders::NOT_COUNTED;
use crate::error::{AppError, AppResult};
use crate::service::metrics::first_reply_minutes;

/// The half-open period `[from, to)`, in UTC.
#[derive(Debug, Clone, Copy)]
pub struct Period {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Period {
    /// Refuses an empty or reversed period, naming `to`.
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> AppResult<Period> {
        if from >= to {
            return Err(AppError::bad_input(
                "to",
                format!("`to` ({to}) must be after `from` ({from})"),
            ));
        }
        Ok(Period { from, to })
    }
}

/// The raw counts and sums of a period; rates are derived by the methods.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PeriodInsights {
    pub customers: i64,
    pub new_customers: i64,
    pub active_customers: i64,
    /// Active customers with 2+ counted orders in the period.
    pub repeat_customers: i64,
    pub orders: i64,
    pub revenue: i64,
    /// Buyers before `from`.
    pub buyers_at_start: i64,
    /// Buyers before `from` who ordered again in the period.
    pub retained_buyers: i64,
    pub promoters: i64,
    pub detractors: i64,
    pub nps_answers: i64,
    pub csat_satisfied: i64,
    pub csat_ratings: i64,
    /// Minutes to first reply, ascending.
    pub first_reply_minutes: Vec<i64>,
    pub points_issued: i64,
    pub points_redeemed: i64,
}

impl PeriodInsights {
    /// Revenue ÷ orders, rounded half away from zero; None without orders.
    pub fn average_order_value(&self) -> Option<i64> {
        (self.orders > 0).then(|| div_round(self.revenue, self.orders))
    }
    pub fn repeat_purchase_rate(&self) -> Option<f64> {
        ratio(self.repeat_customers, self.active_customers)
    }
    pub fn retention_rate(&self) -> Option<f64> {
        ratio(self.retained_buyers, self.buyers_at_start)
    }
    pub fn churn_rate(&self) -> Option<f64> {
        self.retention_rate().map(|r| 1.0 - r)
    }
    pub fn nps(&self) -> Option<f64> {
        ratio(self.promoters - self.detractors, self.nps_answers).map(|r| r * 100.0)
    }
    pub fn csat(&self) -> Option<f64> {
        ratio(self.csat_satisfied, self.csat_ratings).map(|r| r * 100.0)
    }
    /// The middle value, or the mean of the two middle values; None without replies.
    pub fn median_first_reply_minutes(&self) -> Option<f64> {
        let v = &self.first_reply_minutes;
        let n = v.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => v.get(n / 2).map(|m| *m as f64),
            _ => Some((v.get(n / 2 - 1)? + v.get(n / 2)?) as f64 / 2.0),
        }
    }
}

fn ratio(a: i64, b: i64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

/// `a ÷ b` rounded half away from zero (`b` > 0).
pub(crate) fn div_round(a: i64, b: i64) -> i64 {
    let (q, r) = (a / b, a % b);
    if 2 * r.abs() >= b { q + a.signum() } else { q }
}

/// Computes every figure of `period`. `population`, when given, selects the
/// ids of the customers to count (a compiled segment); every statement keeps
/// `customer_id IN (population)`.
pub async fn period(
    db: &impl ConnectionTrait,
    base_currency: &str,
    period: Period,
    population: Option<SelectStatement>,
) -> AppResult<PeriodInsights> {
    let pop = population.as_ref();
    let mut out = PeriodInsights::default();

    let row = one(db, &customers_stmt(period, pop)).await?;
    out.customers = big(&row, 0)?;
    out.new_customers = big(&row, 1)?;

    let row = one(db, &orders_stmt(period, base_currency, pop)).await?;
    out.active_customers = big(&row, 0)?;
    out.repeat_customers = big(&row, 1)?;
    out.orders = big(&row, 2)?;
    out.revenue = big(&row, 3)?;
    out.buyers_at_start = big(&row, 4)?;
    out.retained_buyers = big(&row, 5)?;

    let row = one(db, &nps_stmt(period, pop)).await?;
    out.promoters = big(&row, 0)?;
    out.detractors = big(&row, 1)?;
    out.nps_answers = big(&row, 2)?;

    let row = one(db, &csat_stmt(period, pop)).await?;
    out.csat_satisfied = big(&row, 0)?;
    out.csat_ratings = big(&row, 1)?;

    let rows = db
        .query_all(&first_reply_stmt(db.get_database_backend(), period, pop))
        .await?;
    out.first_reply_minutes = rows
        .iter()
        .map(|r| r.try_get_by_index::<i64>(0).map_err(AppError::from))
        .collect::<AppResult<_>>()?;

    let row = one(db, &points_stmt(period, pop)).await?;
    out.points_issued = big(&row, 0)?;
    out.points_redeemed = big(&row, 1)?;
    Ok(out)
}

async fn one(db: &impl ConnectionTrait, stmt: &SelectStatement) -> AppResult<QueryResult> {
    db.query_one(stmt)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("aggregate returned no row")))
}

/// Column `i` of an aggregate row; NULL (a SUM over no rows) is 0.
fn big(row: &QueryResult, i: usize) -> AppResult<i64> {
    Ok(row.try_get_by_index::<Option<i64>>(i)?.unwrap_or(0))
}

/// `CAST(SUM(CASE WHEN cond THEN value ELSE 0 END) AS BIGINT)`: PostgreSQL
/// widens SUM(bigint) to numeric, and the cast keeps one row type on both stores.
fn sum_if(cond: impl IntoCondition, value: impl Into<Expr>) -> Expr {
    sum(Expr::case(cond, value).finally(0i64))
}

fn sum(value: impl Into<Expr>) -> Expr {
    Expr::from(Func::sum(value.into())).cast_as("BIGINT")
}

fn count_if(cond: impl IntoCondition) -> Expr {
    sum_if(cond, 1i64)
}

/// `col` in `[from, to)`.
fn within(col: Expr, p: Period) -> Expr {
    col.clone().gte(p.from).and(col.lt(p.to))
}

fn restrict(q: &mut SelectStatement, col: Expr, pop: Option<&SelectStatement>) {
    if let Some(pop) = pop {
        q.and_where(col.in_subquery(pop.clone()));
    }
}

fn customers_stmt(p: Period, pop: Option<&SelectStatement>) -> SelectStatement {
    let created = || Expr::col((customer::Entity, customer::Column::CreatedAt));
    let mut q = Query::select();
    q.expr(count_if(created().lt(p.to)))
        .expr(count_if(within(created(), p)))
        .from(customer::Entity);
    restrict(
        &mut q,
        Expr::col((customer::Entity, customer::Column::Id)),
        pop,
    );
    q
}

const PER: &str = "per_customer";

fn per(name: &'static str) -> Expr {
    Expr::col((Alias::new(PER), Alias::new(name)))
}

/// Counted orders placed before `to`, one row per customer, then aggregated.
fn orders_stmt(p: Period, base_currency: &str, pop: Option<&SelectStatement>) -> SelectStatement {
    use order::Column as O;
    let placed = || Expr::col((order::Entity, O::PlacedAt));
    let in_period = || placed().gte(p.from);
    let mut inner = Query::select();
    inner
        .expr_as(
            Expr::col((order::Entity, O::CustomerId)),
            Alias::new("customer_id"),
        )
        .expr_as(count_if(in_period()), Alias::new("period_orders"))
        .expr_as(
            sum_if(
                in_period(),
                Expr::col((order::Entity, O::Total)).sub(Expr::col((order::Entity, O::Refunded))),
            ),
            Alias::new("period_net"),
        )
        .expr_as(count_if(placed().lt(p.from)), Alias::new("before_orders"))
        .from(order::Entity)
        .and_where(Expr::col((order::Entity, O::Status)).ne(NOT_COUNTED.to_value()))
        .and_where(Expr::col((order::Entity, O::Currency)).eq(base_currency))
        .and_where(placed().lt(p.to))
        .group_by_col((order::Entity, O::CustomerId));
    restrict(&mut inner, Expr::col((order::Entity, O::CustomerId)), pop);
    let mut q = Query::select();
    q.expr(count_if(per("period_orders").gt(0)))
        .expr(count_if(per("period_orders").gte(2)))
        .expr(sum(per("period_orders")))
        .expr(sum(per("period_net")))
        .expr(count_if(per("before_orders").gt(0)))
        .expr(count_if(
            per("before_orders").gt(0).and(per("period_orders").gt(0)),
        ))
        .from_subquery(inner, Alias::new(PER));
    q
}

fn nps_stmt(p: Period, pop: Option<&SelectStatement>) -> SelectStatement {
    let score = || Expr::col((nps::Entity, nps::Column::Score));
    let mut q = Query::select();
    q.expr(count_if(score().gte(PROMOTER_MIN)))
        .expr(count_if(score().lte(DETRACTOR_MAX)))
        .expr(
            Expr::col((nps::Entity, nps::Column::Id))
                .count()
                .cast_as("BIGINT"),
        )
        .from(nps::Entity)
        .and_where(within(Expr::col((nps::Entity, nps::Column::CreatedAt)), p));
    restrict(
        &mut q,
        Expr::col((nps::Entity, nps::Column::CustomerId)),
        pop,
    );
    q
}

fn csat_stmt(p: Period, pop: Option<&SelectStatement>) -> SelectStatement {
    let score = || Expr::col((ticket::Entity, ticket::Column::SatisfactionScore));
    let mut q = Query::select();
    q.expr(count_if(score().gte(SATISFIED_MIN)))
        .expr(score().count().cast_as("BIGINT"))
        .from(ticket::Entity)
        .and_where(score().is_not_null())
        .and_where(within(
            Expr::col((ticket::Entity, ticket::Column::SatisfactionAt)),
            p,
        ));
    restrict(
        &mut q,
        Expr::col((ticket::Entity, ticket::Column::CustomerId)),
        pop,
    );
    q
}

/// Post-purchase follow-up figures of a period (see the module comment).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FollowUpFigures {
    pub due: i64,
    pub recorded: i64,
    pub answered: i64,
    pub satisfied: i64,
    pub score_sum: i64,
}

impl FollowUpFigures {
    /// Answered ÷ recorded (0-1); None without recordings.
    pub fn response_rate(&self) -> Option<f64> {
        ratio(self.answered, self.recorded)
    }
    /// % of answered scored 4-5 (0-100); None without answers.
    pub fn csat(&self) -> Option<f64> {
        ratio(self.satisfied, self.answered).map(|r| r * 100.0)
    }
    /// Mean score of the answered (1-5); None without answers.
    pub fn average_score(&self) -> Option<f64> {
        ratio(self.score_sum, self.answered)
    }
}

/// The follow-up figures of `period`: one statement over the rows due or
/// recorded in it (the `due_at` and `recorded_at` indexes).
pub async fn follow_ups(
    db: &impl ConnectionTrait,
    period: Period,
    population: Option<&SelectStatement>,
) -> AppResult<FollowUpFigures> {
    use follow_up::Column as F;
    let col = |c: F| Expr::col((follow_up::Entity, c));
    let due =
        || within(col(F::DueAt), period).and(col(F::State).ne(FollowUpState::Skipped.to_value()));
    let recorded = || within(col(F::RecordedAt), period);
    let answered = || recorded().and(col(F::Score).is_not_null());
    let mut q = Query::select();
    q.expr(count_if(due()))
        .expr(count_if(recorded()))
        .expr(count_if(answered()))
        .expr(count_if(answered().and(col(F::Score).gte(SATISFIED_MIN))))
        .expr(sum_if(answered(), col(F::Score)))
        .from(follow_up::Entity)
        .and_where(within(col(F::DueAt), period).or(within(col(F::RecordedAt), period)));
    restrict(&mut q, col(F::CustomerId), population);
    let row = one(db, &q).await?;
    Ok(FollowUpFigures {
        due: big(&row, 0)?,
        recorded: big(&row, 1)?,
        answered: big(&row, 2)?,
        satisfied: big(&row, 3)?,
        score_sum: big(&row, 4)?,
    })
}

/// One column of minutes, ascending: bounded by the tickets of one period.
fn first_reply_stmt(
    backend: sea_orm::DbBackend,
    p: Period,
    pop: Option<&SelectStatement>,
) -> SelectStatement {
    let minutes = first_reply_minutes(backend);
    let mut q = Query::select();
    q.expr_as(minutes, Alias::new("minutes"))
        .from(ticket::Entity)
        .and_where(Expr::col((ticket::Entity, ticket::Column::FirstReplyAt)).is_not_null())
        .and_where(within(
            Expr::col((ticket::Entity, ticket::Column::CreatedAt)),
            p,
        ))
        .order_by(Alias::new("minutes"), Order::Asc);
    restrict(
        &mut q,
        Expr::col((ticket::Entity, ticket::Column::CustomerId)),
        pop,
    );
    q
}

fn points_stmt(p: Period, pop: Option<&SelectStatement>) -> SelectStatement {
    let points = || Expr::col((lt::Entity, lt::Column::Points));
    let mut q = Query::select();
    q.expr(sum_if(points().gt(0), points()))
        .expr(sum_if(
            Expr::col((lt::Entity, lt::Column::Kind)).eq(LoyaltyTransactionKind::Redeem.to_value()),
            Expr::val(0i64).sub(points()),
        ))
        .from(lt::Entity)
        .and_where(
            Expr::col((lt::Entity, lt::Column::State))
                .ne(LoyaltyTransactionState::Cancelled.to_value()),
        )
        .and_where(within(Expr::col((lt::Entity, lt::Column::CreatedAt)), p));
    restrict(&mut q, Expr::col((lt::Entity, lt::Column::CustomerId)), pop);
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_rounding() {
        let mut i = PeriodInsights {
            first_reply_minutes: vec![5, 10, 40],
            ..Default::default()
        };
        assert_eq!(i.median_first_reply_minutes(), Some(10.0));
        i.first_reply_minutes = vec![5, 10, 40, 41];
        assert_eq!(i.median_first_reply_minutes(), Some(25.0));
        i.first_reply_minutes.clear();
        assert_eq!(i.median_first_reply_minutes(), None);
        assert_eq!(div_round(10, 4), 3);
        assert_eq!(div_round(-10, 4), -3);
        assert_eq!(div_round(9, 4), 2);
    }
}
