//! `customer_rfm`: recency, frequency and monetary scores and the RFM group,
//! recomputed in bulk from `customer_metrics`.
//!
//! Scores are quintiles, 1-5 (5 best), among the customers with at least one
//! counted order (see `service::metrics`), by `NTILE(5)` (SQLite ≥ 3.25 and
//! PostgreSQL):
//! - recency: by `last_order_at`, so the most recent fifth scores 5 (ordering
//!   by the instant equals ordering by days since the last order, reversed);
//! - frequency: by `orders_count`; monetary: by `net_spend`.
//!
//! Ties are split by customer id (the lower id gets the lower score), so a
//! refresh is deterministic and the fifths stay equal in size (NTILE's sizes
//! differ by at most one). Customers without orders get no row.
//!
//! Groups, the first rule that holds, with R, F, M the scores:
//! CHAMPIONS R ≥ 4, F ≥ 4, M ≥ 4; LOYAL R ≥ 3, F ≥ 4; NEW R ≥ 4, F = 1;
//! PROMISING R ≥ 4 (so F 2-3); NEEDS_ATTENTION R = 3 (so F ≤ 3);
//! AT_RISK R ≤ 2, F ≥ 3; ALMOST_LOST R = 2; DORMANT otherwise (R = 1, F ≤ 2).
//!
//! `customer_metrics` is rewritten per customer on every write; these scores
//! depend on every customer, so they live in their own table and are
//! refreshed after seeding, by `c360 insights refresh` and on a schedule.

use c360_entity::{customer_metrics as cm, customer_rfm as rfm};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{Alias, Cond, Expr, ExprTrait, Order, Query, WindowStatement};
use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::error::{AppError, AppResult};

/// Every RFM group, in the order [`group_case`] tests them.
pub const GROUPS: &[&str] = &[
    "CHAMPIONS",
    "LOYAL",
    "NEW",
    "PROMISING",
    "NEEDS_ATTENTION",
    "AT_RISK",
    "ALMOST_LOST",
    "DORMANT",
];

/// The group of scores `r`, `f`, `m` (1-5), as the refresh computes it in SQL.
pub fn group_of(r: i16, f: i16, m: i16) -> &'static str {
    match (r, f, m) {
        (4.., 4.., 4..) => "CHAMPIONS",
        (3.., 4.., _) => "LOYAL",
        (4.., 1, _) => "NEW",
        (4.., _, _) => "PROMISING",
        (3, _, _) => "NEEDS_ATTENTION",
        (_, 3.., _) => "AT_RISK",
        (2, _, _) => "ALMOST_LOST",
        _ => "DORMANT",
    }
}

/// Recomputes `customer_rfm` in one transaction (a delete and one
/// insert-select, whatever the number of customers); returns the rows written.
pub async fn refresh(db: &DatabaseConnection) -> AppResult<u64> {
    let txn = crate::db::begin_write(db).await?;
    let written = refresh_in(&txn, Utc::now().trunc_subsecs(0)).await?;
    txn.commit().await?;
    Ok(written)
}

/// As [`refresh`], inside the caller's transaction, stamped `at`.
pub async fn refresh_in(db: &impl ConnectionTrait, at: DateTime<Utc>) -> AppResult<u64> {
    db.execute(&Query::delete().from_table(rfm::Entity).to_owned())
        .await?;
    let insert = Query::insert()
        .into_table(rfm::Entity)
        .columns([
            rfm::Column::CustomerId,
            rfm::Column::RecencyScore,
            rfm::Column::FrequencyScore,
            rfm::Column::MonetaryScore,
            rfm::Column::RfmGroup,
            rfm::Column::RefreshedAt,
        ])
        .select_from(scored(at))
        .map_err(|e| AppError::Internal(anyhow::anyhow!("customer_rfm insert: {e}")))?
        .to_owned();
    Ok(db.execute(&insert).await?.rows_affected())
}

const S: &str = "s";

fn score(name: &'static str) -> Expr {
    Expr::col((Alias::new(S), Alias::new(name)))
}

/// `SELECT customer_id, r, f, m, CASE ... END, at FROM (quintiles) s`.
fn scored(at: DateTime<Utc>) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .expr(score("customer_id"))
        .expr(score("r"))
        .expr(score("f"))
        .expr(score("m"))
        .expr(group_case())
        .expr(Expr::val(at))
        .from_subquery(quintiles(), Alias::new(S))
        .to_owned()
}

/// The rules of [`group_of`] as one CASE over the scores.
fn group_case() -> Expr {
    let (r, f, m) = (score("r"), score("f"), score("m"));
    Expr::case(
        Cond::all()
            .add(r.clone().gte(4))
            .add(f.clone().gte(4))
            .add(m.gte(4)),
        "CHAMPIONS",
    )
    .case(
        Cond::all().add(r.clone().gte(3)).add(f.clone().gte(4)),
        "LOYAL",
    )
    .case(
        Cond::all().add(r.clone().gte(4)).add(f.clone().eq(1)),
        "NEW",
    )
    .case(r.clone().gte(4), "PROMISING")
    .case(r.clone().eq(3), "NEEDS_ATTENTION")
    .case(f.gte(3), "AT_RISK")
    .case(r.eq(2), "ALMOST_LOST")
    .finally("DORMANT")
    .into()
}

/// One NTILE(5) per dimension over the customers with counted orders.
fn quintiles() -> sea_orm::sea_query::SelectStatement {
    let ntile =
        |by: cm::Column, name: &'static str, q: &mut sea_orm::sea_query::SelectStatement| {
            q.expr_window_as(
                // A literal, not a bound parameter: PostgreSQL's ntile takes an
                // integer and would not resolve ntile(bigint).
                Expr::cust("NTILE(5)"),
                WindowStatement::new()
                    .order_by(by, Order::Asc)
                    .order_by(cm::Column::CustomerId, Order::Asc)
                    .to_owned(),
                Alias::new(name),
            );
        };
    let mut q = Query::select();
    q.column(cm::Column::CustomerId);
    ntile(cm::Column::LastOrderAt, "r", &mut q);
    ntile(cm::Column::OrdersCount, "f", &mut q);
    ntile(cm::Column::NetSpend, "m", &mut q);
    q.from(cm::Entity)
        .and_where(Expr::col(cm::Column::OrdersCount).gt(0));
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_score_combination_has_one_group() {
        for r in 1..=5 {
            for f in 1..=5 {
                for m in 1..=5 {
                    assert!(GROUPS.contains(&group_of(r, f, m)));
                }
            }
        }
        assert_eq!(group_of(5, 5, 5), "CHAMPIONS");
        assert_eq!(group_of(5, 5, 3), "LOYAL");
        assert_eq!(group_of(3, 4, 1), "LOYAL");
        assert_eq!(group_of(5, 1, 5), "NEW");
        assert_eq!(group_of(4, 3, 1), "PROMISING");
        assert_eq!(group_of(3, 3, 5), "NEEDS_ATTENTION");
        assert_eq!(group_of(2, 5, 5), "AT_RISK");
        assert_eq!(group_of(1, 3, 1), "AT_RISK");
        assert_eq!(group_of(2, 2, 5), "ALMOST_LOST");
        assert_eq!(group_of(1, 2, 5), "DORMANT");
    }
}
