//! `customer_metrics`: the single definition of every per-customer metric,
//! as one `INSERT INTO customer_metrics (...) SELECT ...` built with sea-query
//! that runs on SQLite and PostgreSQL.
//!
//! The select reads `customers` LEFT JOIN one aggregate per source table
//! (orders, tickets, reviews, the newest NPS answer), so a customer without
//! activity still gets a row of zeros and NULLs. Refreshing is delete +
//! insert-select: a fixed number of statements whatever the number of
//! customers. Call it inside the caller's transaction so readers never see a
//! customer without metrics.
//!
//! Definitions (money in minor units of `base_currency`):
//! - *counted orders*: `status <> 'CANCELLED' AND currency = base_currency`;
//! - `orders_count`: counted orders;
//! - `gross_spend`: `SUM(total)` and `refunded_total`: `SUM(refunded)` over
//!   counted orders; `net_spend = gross_spend - refunded_total`;
//! - `refunds_count`: counted orders with `refunded > 0`;
//! - `cancelled_count`: CANCELLED orders, in any currency (a count, not money);
//! - `first_order_at` / `last_order_at`: `MIN` / `MAX(placed_at)` over counted orders;
//! - `tickets_count`: all tickets; `open_tickets`: status not SOLVED or CLOSED;
//! - `first_reply_minutes_sum` / `first_reply_count`: over tickets with
//!   `first_reply_at`, the whole minutes (rounded down) from `created_at`;
//! - `csat_sum` / `csat_count`: over tickets with `satisfaction_score`;
//! - `reviews_count`: all reviews, whatever their moderation status;
//! - `last_nps_score` / `last_nps_at`: the newest `nps_responses` row
//!   (latest `created_at`, ties broken by the highest id);
//! - `updated_at`: the instant of the refresh (whole seconds).

use c360_entity::enums::TicketStatus;
use c360_entity::{customer, customer_metrics as cm, nps_response, order, review, ticket};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{
    Alias, Cond, Expr, ExprTrait, Func, JoinType, Order, Query, SelectStatement, WindowStatement,
};
use sea_orm::{ActiveEnum, ConnectionTrait, DbBackend};

use crate::error::{AppError, AppResult};

/// Ids per statement in [`refresh_for`]: the id list is bound once per source
/// table (five times), far under every backend's parameter limit.
const IDS_PER_STATEMENT: usize = 1_000;

/// Recomputes `customer_metrics` for every customer; returns the rows written.
/// `at` stamps the rows (`refreshed_at`).
pub async fn refresh_all(
    db: &impl ConnectionTrait,
    base_currency: &str,
    at: DateTime<Utc>,
) -> AppResult<u64> {
    db.execute(&Query::delete().from_table(cm::Entity).to_owned())
        .await?;
    let insert = insert_select(
        db.get_database_backend(),
        base_currency,
        None,
        at.trunc_subsecs(0),
    )?;
    Ok(db.execute(&insert).await?.rows_affected())
}

/// Recomputes `customer_metrics` for `customer_ids` (duplicates and unknown
/// ids are fine), e.g. after a write, inside the writer's transaction.
pub async fn refresh_for(
    db: &impl ConnectionTrait,
    base_currency: &str,
    customer_ids: &[i64],
    at: DateTime<Utc>,
) -> AppResult<()> {
    let mut ids = customer_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let at = at.trunc_subsecs(0);
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        // DELETE then INSERT of one customer's row must not interleave with
        // another writer's: the second INSERT would hit the primary key.
        super::owner::lock_customers(db, chunk).await?;
        db.execute(
            &Query::delete()
                .from_table(cm::Entity)
                .and_where(Expr::col(cm::Column::CustomerId).is_in(chunk.iter().copied()))
                .to_owned(),
        )
        .await?;
        let insert = insert_select(db.get_database_backend(), base_currency, Some(chunk), at)?;
        db.execute(&insert).await?;
    }
    Ok(())
}

/// `INSERT INTO customer_metrics (...) SELECT ...`, for all customers or `ids`.
fn insert_select(
    backend: DbBackend,
    base_currency: &str,
    ids: Option<&[i64]>,
    at: DateTime<Utc>,
) -> AppResult<sea_orm::sea_query::InsertStatement> {
    use cm::Column as M;
    let select = metrics_select(backend, base_currency, ids, at);
    let mut insert = Query::insert();
    insert
        .into_table(cm::Entity)
        .columns([
            M::CustomerId,
            M::OrdersCount,
            M::GrossSpend,
            M::RefundedTotal,
            M::NetSpend,
            M::RefundsCount,
            M::CancelledCount,
            M::FirstOrderAt,
            M::LastOrderAt,
            M::TicketsCount,
            M::OpenTickets,
            M::FirstReplyMinutesSum,
            M::FirstReplyCount,
            M::CsatSum,
            M::CsatCount,
            M::ReviewsCount,
            M::LastNpsScore,
            M::LastNpsAt,
            M::UpdatedAt,
        ])
        .select_from(select)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("customer_metrics insert: {e}")))?;
    Ok(insert)
}

// Aliases of the derived tables and their columns.
const C: &str = "c";
const O: &str = "o";
const T: &str = "t";
const R: &str = "r";
const N: &str = "n";

fn col(table: &'static str, column: &'static str) -> Expr {
    Expr::col((Alias::new(table), Alias::new(column)))
}

/// `COALESCE(alias.column, 0)`: customers without rows in a source get zeros.
fn zero_if_null(table: &'static str, column: &'static str) -> Expr {
    Func::coalesce([col(table, column), Expr::val(0i64)]).into()
}

/// `SUM(CASE WHEN cond THEN value ELSE 0 END)`.
fn sum_if(cond: Cond, value: impl Into<Expr>) -> Expr {
    Func::sum(Expr::case(cond, value).finally(0i64)).into()
}

fn metrics_select(
    backend: DbBackend,
    base_currency: &str,
    ids: Option<&[i64]>,
    at: DateTime<Utc>,
) -> SelectStatement {
    let mut select = Query::select();
    select
        .expr(Expr::col((Alias::new(C), customer::Column::Id)))
        .expr(zero_if_null(O, "orders_count"))
        .expr(zero_if_null(O, "gross_spend"))
        .expr(zero_if_null(O, "refunded_total"))
        .expr(zero_if_null(O, "gross_spend").sub(zero_if_null(O, "refunded_total")))
        .expr(zero_if_null(O, "refunds_count"))
        .expr(zero_if_null(O, "cancelled_count"))
        .expr(col(O, "first_order_at"))
        .expr(col(O, "last_order_at"))
        .expr(zero_if_null(T, "tickets_count"))
        .expr(zero_if_null(T, "open_tickets"))
        .expr(zero_if_null(T, "first_reply_minutes_sum"))
        .expr(zero_if_null(T, "first_reply_count"))
        .expr(zero_if_null(T, "csat_sum"))
        .expr(zero_if_null(T, "csat_count"))
        .expr(zero_if_null(R, "reviews_count"))
        .expr(col(N, "score"))
        .expr(col(N, "created_at"))
        .expr(Expr::val(at))
        .from_as(customer::Entity, Alias::new(C))
        .join_subquery(
            JoinType::LeftJoin,
            orders_aggregate(base_currency, ids),
            Alias::new(O),
            Expr::col((Alias::new(O), Alias::new("customer_id")))
                .equals((Alias::new(C), customer::Column::Id)),
        )
        .join_subquery(
            JoinType::LeftJoin,
            tickets_aggregate(backend, ids),
            Alias::new(T),
            Expr::col((Alias::new(T), Alias::new("customer_id")))
                .equals((Alias::new(C), customer::Column::Id)),
        )
        .join_subquery(
            JoinType::LeftJoin,
            reviews_aggregate(ids),
            Alias::new(R),
            Expr::col((Alias::new(R), Alias::new("customer_id")))
                .equals((Alias::new(C), customer::Column::Id)),
        )
        .join_subquery(
            JoinType::LeftJoin,
            latest_nps(ids),
            Alias::new(N),
            Cond::all()
                .add(
                    Expr::col((Alias::new(N), Alias::new("customer_id")))
                        .equals((Alias::new(C), customer::Column::Id)),
                )
                .add(col(N, "rn").eq(1)),
        );
    if let Some(ids) = ids {
        select
            .and_where(Expr::col((Alias::new(C), customer::Column::Id)).is_in(ids.iter().copied()));
    }
    select
}

/// Restricts a source table to `ids` when refreshing a subset, so the
/// aggregate reads only those customers' rows.
fn only_ids(
    select: &mut SelectStatement,
    column: impl sea_orm::sea_query::IntoColumnRef,
    ids: Option<&[i64]>,
) {
    if let Some(ids) = ids {
        select.and_where(Expr::col(column).is_in(ids.iter().copied()));
    }
}

fn orders_aggregate(base_currency: &str, ids: Option<&[i64]>) -> SelectStatement {
    use order::Column as O;
    let cancelled = crate::domain::orders::NOT_COUNTED.to_value();
    let counted = || {
        Cond::all()
            .add(Expr::col(O::Status).ne(cancelled.clone()))
            .add(Expr::col(O::Currency).eq(base_currency))
    };
    let mut select = Query::select();
    select
        .column(O::CustomerId)
        .expr_as(sum_if(counted(), 1i64), Alias::new("orders_count"))
        .expr_as(
            sum_if(counted(), Expr::col(O::Total)),
            Alias::new("gross_spend"),
        )
        .expr_as(
            sum_if(counted(), Expr::col(O::Refunded)),
            Alias::new("refunded_total"),
        )
        .expr_as(
            sum_if(counted().add(Expr::col(O::Refunded).gt(0)), 1i64),
            Alias::new("refunds_count"),
        )
        .expr_as(
            sum_if(
                Cond::all().add(Expr::col(O::Status).eq(cancelled.clone())),
                1i64,
            ),
            Alias::new("cancelled_count"),
        )
        // CASE without ELSE is NULL for uncounted orders, which MIN/MAX skip.
        .expr_as(
            Func::min(Expr::case(counted(), Expr::col(O::PlacedAt))),
            Alias::new("first_order_at"),
        )
        .expr_as(
            Func::max(Expr::case(counted(), Expr::col(O::PlacedAt))),
            Alias::new("last_order_at"),
        )
        .from(order::Entity)
        .group_by_col(O::CustomerId);
    only_ids(&mut select, O::CustomerId, ids);
    select
}

/// Whole minutes from `created_at` to `first_reply_at` of a `tickets` row.
///
/// sea-orm stores `DateTimeUtc` in SQLite as RFC 3339 text with an offset
/// (`2024-05-01T12:00:00+00:00`, sqlx's encoding), which SQLite's date
/// functions parse; `strftime('%s', ...)` (any SQLite version) gives Unix
/// seconds. PostgreSQL subtracts `timestamptz` values into an interval.
pub(crate) fn first_reply_minutes(backend: DbBackend) -> Expr {
    match backend {
        DbBackend::Sqlite => Expr::cust(
            r#"(CAST(strftime('%s', "first_reply_at") AS INTEGER) - CAST(strftime('%s', "created_at") AS INTEGER)) / 60"#,
        ),
        DbBackend::Postgres => Expr::cust(
            r#"CAST(FLOOR(EXTRACT(EPOCH FROM ("first_reply_at" - "created_at")) / 60) AS BIGINT)"#,
        ),
        _ => Expr::cust("TIMESTAMPDIFF(MINUTE, `created_at`, `first_reply_at`)"),
    }
}

fn tickets_aggregate(backend: DbBackend, ids: Option<&[i64]>) -> SelectStatement {
    use ticket::Column as T;
    let done = [
        TicketStatus::Solved.to_value(),
        TicketStatus::Closed.to_value(),
    ];
    let replied = || Cond::all().add(Expr::col(T::FirstReplyAt).is_not_null());
    let mut select = Query::select();
    select
        .column(T::CustomerId)
        .expr_as(Func::count(Expr::col(T::Id)), Alias::new("tickets_count"))
        .expr_as(
            sum_if(Cond::all().add(Expr::col(T::Status).is_not_in(done)), 1i64),
            Alias::new("open_tickets"),
        )
        .expr_as(
            sum_if(replied(), first_reply_minutes(backend)),
            Alias::new("first_reply_minutes_sum"),
        )
        .expr_as(
            Func::count(Expr::col(T::FirstReplyAt)),
            Alias::new("first_reply_count"),
        )
        .expr_as(
            Func::coalesce([
                Func::sum(Expr::col(T::SatisfactionScore)).into(),
                Expr::val(0i64),
            ]),
            Alias::new("csat_sum"),
        )
        .expr_as(
            Func::count(Expr::col(T::SatisfactionScore)),
            Alias::new("csat_count"),
        )
        .from(ticket::Entity)
        .group_by_col(T::CustomerId);
    only_ids(&mut select, T::CustomerId, ids);
    select
}

fn reviews_aggregate(ids: Option<&[i64]>) -> SelectStatement {
    let mut select = Query::select();
    select
        .column(review::Column::CustomerId)
        .expr_as(
            Func::count(Expr::col(review::Column::Id)),
            Alias::new("reviews_count"),
        )
        .from(review::Entity)
        .group_by_col(review::Column::CustomerId);
    only_ids(&mut select, review::Column::CustomerId, ids);
    select
}

/// Every NPS answer numbered per customer, newest first; the join keeps `rn = 1`.
fn latest_nps(ids: Option<&[i64]>) -> SelectStatement {
    use nps_response::Column as N;
    let mut select = Query::select();
    select
        .column(N::CustomerId)
        .column(N::Score)
        .column(N::CreatedAt)
        .expr_window_as(
            Func::cust(Alias::new("ROW_NUMBER")),
            WindowStatement::partition_by(N::CustomerId)
                .order_by(N::CreatedAt, Order::Desc)
                .order_by(N::Id, Order::Desc)
                .to_owned(),
            Alias::new("rn"),
        )
        .from(nps_response::Entity);
    only_ids(&mut select, N::CustomerId, ids);
    select
}
