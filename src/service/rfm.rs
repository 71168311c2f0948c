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
//! The groups and their rules are `domain::rfm::Group`; [`group_case`]
//! states the same rules in SQL, and a test holds the two together.
//!
//! `customer_metrics` is rewritten per customer on every write; these scores
//! depend on every customer, so they live in their own table and are
//! refreshed after seeding, by `c360 insights refresh` and on a schedule.

use c360_entity::{customer_metrics as cm, customer_rfm as rfm};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, Query, WindowStatement};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};

use crate::domain::rfm::Group;
use crate::error::{AppError, AppResult};

/// Recomputes `customer_rfm` in one transaction (a delete and one
/// insert-select, whatever the number of customers); returns the rows written.
pub async fn refresh(db: &DatabaseConnection, now: DateTime<Utc>) -> AppResult<u64> {
    let txn = crate::db::begin_write(db).await?;
    let written = refresh_in(&txn, now.trunc_subsecs(0)).await?;
    txn.commit().await?;
    Ok(written)
}

/// As [`refresh`], inside the caller's transaction, stamped `at`.
pub async fn refresh_in(db: &impl ConnectionTrait, at: DateTime<Utc>) -> AppResult<u64> {
    // Two instances refreshing at once take turns: without the lock, the
    // second's delete would not see the rows the first inserted (its
    // snapshot predates them) and its insert would collide with them.
    // SQLite's BEGIN IMMEDIATE already lets one writer in at a time.
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_unprepared("LOCK TABLE customer_rfm IN SHARE ROW EXCLUSIVE MODE")
            .await?;
    }
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

/// [`Group::of`] as one CASE over the scores, generated from it: each group
/// is the set of `r·100 + f·10 + m` codes that `Group::of` maps to it, so
/// the SQL cannot drift from the rule.
fn group_case() -> Expr {
    let code = score("r").mul(100).add(score("f").mul(10)).add(score("m"));
    let mut codes: Vec<(Group, Vec<i32>)> = Group::ALL.iter().map(|g| (*g, Vec::new())).collect();
    for r in 1..=5i16 {
        for f in 1..=5i16 {
            for m in 1..=5i16 {
                let group = Group::of(r, f, m);
                if let Some((_, list)) = codes.iter_mut().find(|(g, _)| *g == group) {
                    list.push(i32::from(r * 100 + f * 10 + m));
                }
            }
        }
    }
    let mut case = sea_orm::sea_query::CaseStatement::new();
    for (group, list) in codes.into_iter().filter(|(_, l)| !l.is_empty()) {
        case = case.case(code.clone().is_in(list), group.as_str());
    }
    case.into()
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
