//! The reads of a customer's year in review (`Customer.yearInReview`): one
//! loader per part, keyed by (customer, year), each one statement per
//! year asked, whatever the number of customers and their history.
//!
//! Definitions (money in minor units of the base currency):
//! - *counted orders* are those of `customer_metrics` (not CANCELLED, in
//!   the base currency; `domain::orders`), placed within the year; net
//!   spend is `SUM(total - refunded)` over them;
//! - the standing compares the customer's net spend of the year with every
//!   buyer's of that year (`domain::year_review::Standing`), counted in the
//!   same statement by a window over the year's per-customer totals (the
//!   index `(currency, placed_at, status, customer_id, total, refunded)` of
//!   migration 000016 holds every column those totals read);
//! - products and categories add up `quantity × unit_price` of the lines of
//!   counted orders (refunds are kept per order, not per line); a
//!   category's share is its spend over all the year's line spend,
//!   uncategorised lines included, so shares never overstate;
//! - points earned are the positive ledger rows and points redeemed the
//!   REDEEM rows (as a positive number), created in the year and not
//!   CANCELLED, as in period insights;
//! - tier changes are the account's `loyalty.tier_changed` events, the
//!   tier history the outbox keeps (`domain::year_review::tier_reached`);
//! - reviews written and tickets opened are those created in the year; a
//!   ticket's first reply counts in whole minutes as in `customer_metrics`;
//! - NPS answers are those given in the year, the last one being the
//!   newest (ties broken by the highest id).

use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use c360_entity::enums::{LoyaltyTier, LoyaltyTransactionKind, LoyaltyTransactionState};
use c360_entity::{
    event, loyalty_transaction as lt, nps_response, order, order_line, review, ticket,
};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{
    Alias, Cond, Expr, ExprTrait, Frame, FrameType, Func, JoinType, Order, Query, SelectStatement,
    WindowStatement,
};
use sea_orm::{ActiveEnum, ConnectionTrait, DatabaseConnection, QueryResult};

use super::driver::RequestTasks;
use super::loaders::LoadError;
use crate::domain::orders::NOT_COUNTED;
use crate::domain::year_review::{Standing, TOP_CATEGORIES, TOP_PRODUCTS, TierChange, YearWindow};
use crate::error::{AppError, AppResult};
use crate::events::EventType;

/// Customers per batch: a page of parents is at most 100; the ids are bound
/// up to three times per statement, far under every store's limit.
const MAX_BATCH: usize = 1_000;

/// A customer's year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct YearKey {
    pub customer_id: i64,
    pub window: YearWindow,
}

/// A counted order at an end of the year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchase {
    pub order_id: i64,
    pub order_number: String,
    pub placed_at: DateTime<Utc>,
}

/// The year's counted orders of one customer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct YearOrders {
    pub count: i64,
    pub net_spend: i64,
    pub first: Option<Purchase>,
    pub last: Option<Purchase>,
    /// None without a counted order in the year.
    pub standing: Option<Standing>,
}

/// A product bought in the year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductSpend {
    pub sku: String,
    /// The product's name on its lines (the greatest, should they differ).
    pub name: String,
    pub quantity: i64,
    pub spend: i64,
}

/// A category bought in the year, with the year's line spend it is a share of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategorySpend {
    pub category: String,
    pub spend: i64,
    pub of_total: i64,
}

impl CategorySpend {
    /// The category's share (0 to 1) of the year's line spend.
    pub fn share(&self) -> f64 {
        if self.of_total <= 0 {
            return 0.0;
        }
        self.spend as f64 / self.of_total as f64
    }
}

/// Points of the year.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct YearPoints {
    pub earned: i64,
    pub redeemed: i64,
}

/// Tickets opened in the year.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct YearTickets {
    pub opened: i64,
    /// Whole minutes to the first reply of those answered, ascending.
    pub first_reply_minutes: Vec<i64>,
}

/// NPS answers given in the year.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct YearNps {
    pub answers: i64,
    pub last_score: Option<i32>,
}

/// One part of a review: what it reads for the customers `ids` in `window`.
/// Customers without rows get the part's default (zeros, nothing).
pub trait Part: Send + Sync + 'static {
    type Value: Clone + Default + Send + Sync + 'static;
    fn read(
        db: &DatabaseConnection,
        base_currency: &str,
        window: YearWindow,
        ids: &[i64],
    ) -> impl Future<Output = AppResult<HashMap<i64, Self::Value>>> + Send;
}

/// Loads one part for every (customer, year) of a level: one statement per
/// year asked.
pub struct YearLoader<P> {
    db: DatabaseConnection,
    base_currency: String,
    _part: PhantomData<P>,
}

impl<P: Part> Loader<YearKey> for YearLoader<P> {
    type Value = P::Value;
    type Error = LoadError;

    async fn load(&self, keys: &[YearKey]) -> Result<HashMap<YearKey, P::Value>, LoadError> {
        let mut years: HashMap<YearWindow, Vec<i64>> = HashMap::new();
        for key in keys {
            years.entry(key.window).or_default().push(key.customer_id);
        }
        let mut out = HashMap::with_capacity(keys.len());
        for (window, ids) in years {
            let mut found = P::read(&self.db, &self.base_currency, window, &ids)
                .await
                .map_err(Arc::new)?;
            for customer_id in ids {
                let value = found.remove(&customer_id).unwrap_or_default();
                out.insert(
                    YearKey {
                        customer_id,
                        window,
                    },
                    value,
                );
            }
        }
        Ok(out)
    }
}

/// The loaders of one request's reviews.
pub struct YearLoaders {
    pub orders: DataLoader<YearLoader<Orders>>,
    pub products: DataLoader<YearLoader<Products>>,
    pub categories: DataLoader<YearLoader<Categories>>,
    pub points: DataLoader<YearLoader<Points>>,
    pub tier_changes: DataLoader<YearLoader<TierChanges>>,
    pub reviews: DataLoader<YearLoader<Reviews>>,
    pub tickets: DataLoader<YearLoader<Tickets>>,
    pub nps: DataLoader<YearLoader<Nps>>,
}

impl YearLoaders {
    pub fn new(
        db: &DatabaseConnection,
        base_currency: &str,
        tasks: &RequestTasks,
        delay: std::time::Duration,
    ) -> YearLoaders {
        fn dl<P: Part>(
            db: &DatabaseConnection,
            base_currency: &str,
            tasks: &RequestTasks,
            delay: std::time::Duration,
        ) -> DataLoader<YearLoader<P>> {
            let loader = YearLoader {
                db: db.clone(),
                base_currency: base_currency.to_owned(),
                _part: PhantomData,
            };
            DataLoader::new(loader, tasks.spawner())
                .delay(delay)
                .max_batch_size(MAX_BATCH)
        }
        YearLoaders {
            orders: dl(db, base_currency, tasks, delay),
            products: dl(db, base_currency, tasks, delay),
            categories: dl(db, base_currency, tasks, delay),
            points: dl(db, base_currency, tasks, delay),
            tier_changes: dl(db, base_currency, tasks, delay),
            reviews: dl(db, base_currency, tasks, delay),
            tickets: dl(db, base_currency, tasks, delay),
            nps: dl(db, base_currency, tasks, delay),
        }
    }
}

fn alias(name: &str) -> Alias {
    Alias::new(name)
}

fn col(table: &str, column: &str) -> Expr {
    Expr::col((alias(table), alias(column)))
}

/// `CAST(expr AS BIGINT)`: PostgreSQL widens SUM(bigint) to numeric, and
/// the cast keeps one row type on both stores.
fn big(expr: impl Into<Expr>) -> Expr {
    expr.into().cast_as("BIGINT")
}

/// `column` in `[start, end)`.
fn within(column: Expr, w: YearWindow) -> Cond {
    Cond::all()
        .add(column.clone().gte(w.start))
        .add(column.lt(w.end))
}

/// Counted orders placed in the year, on `orders` named as itself.
fn counted(base_currency: &str, w: YearWindow) -> Cond {
    use order::Column as O;
    Cond::all()
        .add(Expr::col((order::Entity, O::Status)).ne(NOT_COUNTED.to_value()))
        .add(Expr::col((order::Entity, O::Currency)).eq(base_currency))
        .add(within(Expr::col((order::Entity, O::PlacedAt)), w))
}

fn ids_in(column: Expr, ids: &[i64]) -> Expr {
    column.is_in(ids.iter().copied())
}

fn get<T: sea_orm::TryGetable>(row: &QueryResult, i: usize) -> AppResult<T> {
    Ok(row.try_get_by_index::<T>(i)?)
}

/// The year's counted orders: count, net spend, first and last, and the
/// standing among the year's buyers.
pub struct Orders;

impl Part for Orders {
    type Value = YearOrders;

    async fn read(
        db: &DatabaseConnection,
        base_currency: &str,
        window: YearWindow,
        ids: &[i64],
    ) -> AppResult<HashMap<i64, YearOrders>> {
        let rows = db
            .query_all(&orders_stmt(base_currency, window, ids))
            .await?;
        let mut out = HashMap::with_capacity(rows.len());
        for row in rows {
            let purchase = |at: usize| -> AppResult<Purchase> {
                Ok(Purchase {
                    order_id: get(&row, at)?,
                    order_number: get(&row, at + 1)?,
                    placed_at: get(&row, at + 2)?,
                })
            };
            out.insert(
                get(&row, 0)?,
                YearOrders {
                    count: get(&row, 1)?,
                    net_spend: get(&row, 2)?,
                    standing: Some(Standing {
                        at_or_below: get(&row, 3)?,
                        buyers: get(&row, 4)?,
                    }),
                    first: Some(purchase(5)?),
                    last: Some(purchase(8)?),
                },
            );
        }
        Ok(out)
    }
}

/// ```sql
/// SELECT t.customer_id, t.orders, t.net, t.at_or_below, t.buyers,
///        e.first_id, e.first_number, e.first_at, e.last_id, e.last_number, e.last_at
/// FROM (SELECT y.*, COUNT(*) OVER (ORDER BY net RANGE BETWEEN UNBOUNDED
///              PRECEDING AND CURRENT ROW) AS at_or_below,
///              COUNT(*) OVER () AS buyers
///       FROM (<every buyer's count and net spend of the year>) y) t
/// JOIN (SELECT customer_id, MAX(CASE WHEN first_rn = 1 THEN id END) AS first_id, ...
///       FROM (<the customers' counted orders, numbered from the first
///              and from the last>) n GROUP BY customer_id) e
///   ON e.customer_id = t.customer_id
/// WHERE t.customer_id IN (...)
/// ```
///
/// The RANGE frame takes in every buyer with the same net spend, so ties
/// share the higher count, as "lower than or equal" says. The first and
/// last orders come grouped, one row per customer, so PostgreSQL estimates
/// them well and hash-joins the ranked buyers once rather than scanning
/// them per customer.
fn orders_stmt(base_currency: &str, w: YearWindow, ids: &[i64]) -> SelectStatement {
    use order::Column as O;
    let totals = Query::select()
        .expr_as(
            Expr::col((order::Entity, O::CustomerId)),
            alias("customer_id"),
        )
        .expr_as(
            big(Expr::col((order::Entity, O::Id)).count()),
            alias("orders"),
        )
        .expr_as(
            big(Func::sum(
                Expr::col((order::Entity, O::Total)).sub(Expr::col((order::Entity, O::Refunded))),
            )),
            alias("net"),
        )
        .from(order::Entity)
        .cond_where(counted(base_currency, w))
        .group_by_col((order::Entity, O::CustomerId))
        .to_owned();
    let ranked = Query::select()
        .expr(col("y", "customer_id"))
        .expr(col("y", "orders"))
        .expr(col("y", "net"))
        .expr_window_as(
            Expr::cust("COUNT(*)"),
            WindowStatement::new()
                .order_by((alias("y"), alias("net")), Order::Asc)
                .frame_between(
                    FrameType::Range,
                    Frame::UnboundedPreceding,
                    Frame::CurrentRow,
                )
                .to_owned(),
            alias("at_or_below"),
        )
        .expr_window_as(
            Expr::cust("COUNT(*)"),
            WindowStatement::new(),
            alias("buyers"),
        )
        .from_subquery(totals, alias("y"))
        .to_owned();
    let row_number = |direction: Order| {
        WindowStatement::partition_by((order::Entity, O::CustomerId))
            .order_by((order::Entity, O::PlacedAt), direction.clone())
            .order_by((order::Entity, O::Id), direction)
            .to_owned()
    };
    let numbered = Query::select()
        .expr_as(
            Expr::col((order::Entity, O::CustomerId)),
            alias("customer_id"),
        )
        .expr_as(Expr::col((order::Entity, O::Id)), alias("id"))
        .expr_as(
            Expr::col((order::Entity, O::OrderNumber)),
            alias("order_number"),
        )
        .expr_as(Expr::col((order::Entity, O::PlacedAt)), alias("placed_at"))
        .expr_window_as(
            Expr::cust("ROW_NUMBER()"),
            row_number(Order::Asc),
            alias("first_rn"),
        )
        .expr_window_as(
            Expr::cust("ROW_NUMBER()"),
            row_number(Order::Desc),
            alias("last_rn"),
        )
        .from(order::Entity)
        .cond_where(counted(base_currency, w))
        .and_where(ids_in(Expr::col((order::Entity, O::CustomerId)), ids))
        .to_owned();
    let mut edges = Query::select();
    edges.expr(col("n", "customer_id"));
    for end in ["first", "last"] {
        for column in ["id", "order_number", "placed_at"] {
            let at_end = col("n", &format!("{end}_rn")).eq(1);
            edges.expr_as(
                Func::max(Expr::case(at_end, col("n", column))),
                alias(&format!("{end}_{column}")),
            );
        }
    }
    edges
        .from_subquery(numbered, alias("n"))
        .group_by_col((alias("n"), alias("customer_id")));
    let mut select = Query::select();
    select
        .expr(col("t", "customer_id"))
        .expr(col("t", "orders"))
        .expr(col("t", "net"))
        .expr(big(col("t", "at_or_below")))
        .expr(big(col("t", "buyers")));
    for end in ["first", "last"] {
        for column in ["id", "order_number", "placed_at"] {
            select.expr(col("e", &format!("{end}_{column}")));
        }
    }
    select
        .from_subquery(ranked, alias("t"))
        .join_subquery(
            JoinType::InnerJoin,
            edges,
            alias("e"),
            col("e", "customer_id").equals((alias("t"), alias("customer_id"))),
        )
        .and_where(ids_in(col("t", "customer_id"), ids))
        .to_owned()
}

/// The lines of the customers' counted orders of the year, grouped by
/// customer and `key` (an `order_lines` column), with their quantity and
/// spend.
fn lines_by(base_currency: &str, w: YearWindow, ids: &[i64], key: &str) -> SelectStatement {
    use order::Column as O;
    use order_line::Column as L;
    let line = |c: L| Expr::col((order_line::Entity, c));
    Query::select()
        .expr_as(
            Expr::col((order::Entity, O::CustomerId)),
            alias("customer_id"),
        )
        .expr_as(col("order_lines", key), alias(key))
        .expr_as(Func::max(line(L::ProductName)), alias("name"))
        .expr_as(big(Func::sum(line(L::Quantity))), alias("quantity"))
        .expr_as(
            big(Func::sum(line(L::Quantity).mul(line(L::UnitPrice)))),
            alias("spend"),
        )
        .from(order_line::Entity)
        .inner_join(
            order::Entity,
            Expr::col((order::Entity, O::Id)).equals((order_line::Entity, L::OrderId)),
        )
        .cond_where(counted(base_currency, w))
        .and_where(ids_in(Expr::col((order::Entity, O::CustomerId)), ids))
        .group_by_col((order::Entity, O::CustomerId))
        .group_by_col((order_line::Entity, alias(key)))
        .to_owned()
}

/// The year's top products by spend (then quantity, then sku).
pub struct Products;

impl Part for Products {
    type Value = Vec<ProductSpend>;

    async fn read(
        db: &DatabaseConnection,
        base_currency: &str,
        window: YearWindow,
        ids: &[i64],
    ) -> AppResult<HashMap<i64, Vec<ProductSpend>>> {
        let ranked = Query::select()
            .column(alias("customer_id"))
            .column(alias("sku"))
            .column(alias("name"))
            .column(alias("quantity"))
            .column(alias("spend"))
            .expr_as(
                Expr::cust(
                    r#"ROW_NUMBER() OVER (PARTITION BY "customer_id" ORDER BY "spend" DESC, "quantity" DESC, "sku")"#,
                ),
                alias("rn"),
            )
            .from_subquery(lines_by(base_currency, window, ids, "sku"), alias("g"))
            .to_owned();
        let stmt = Query::select()
            .columns(["customer_id", "sku", "name", "quantity", "spend"].map(alias))
            .from_subquery(ranked, alias("r"))
            .and_where(Expr::col(alias("rn")).lte(TOP_PRODUCTS))
            .order_by(alias("customer_id"), Order::Asc)
            .order_by(alias("rn"), Order::Asc)
            .to_owned();
        let mut out: HashMap<i64, Vec<ProductSpend>> = HashMap::new();
        for row in db.query_all(&stmt).await? {
            out.entry(get(&row, 0)?).or_default().push(ProductSpend {
                sku: get(&row, 1)?,
                name: get(&row, 2)?,
                quantity: get(&row, 3)?,
                spend: get(&row, 4)?,
            });
        }
        Ok(out)
    }
}

/// The year's top categories by spend (then name), with their share.
pub struct Categories;

impl Part for Categories {
    type Value = Vec<CategorySpend>;

    async fn read(
        db: &DatabaseConnection,
        base_currency: &str,
        window: YearWindow,
        ids: &[i64],
    ) -> AppResult<HashMap<i64, Vec<CategorySpend>>> {
        // Uncategorised lines rank last, so the categorised ones are
        // numbered from 1, and still count in each customer's total.
        let ranked = Query::select()
            .column(alias("customer_id"))
            .column(alias("category"))
            .column(alias("spend"))
            .expr_as(
                Expr::cust(r#"CAST(SUM("spend") OVER (PARTITION BY "customer_id") AS BIGINT)"#),
                alias("total"),
            )
            .expr_as(
                Expr::cust(
                    r#"ROW_NUMBER() OVER (PARTITION BY "customer_id" ORDER BY CASE WHEN "category" IS NULL THEN 1 ELSE 0 END, "spend" DESC, "category")"#,
                ),
                alias("rn"),
            )
            .from_subquery(
                lines_by(base_currency, window, ids, "category"),
                alias("g"),
            )
            .to_owned();
        let stmt = Query::select()
            .columns(["customer_id", "category", "spend", "total"].map(alias))
            .from_subquery(ranked, alias("r"))
            .and_where(Expr::col(alias("category")).is_not_null())
            .and_where(Expr::col(alias("rn")).lte(TOP_CATEGORIES))
            .order_by(alias("customer_id"), Order::Asc)
            .order_by(alias("rn"), Order::Asc)
            .to_owned();
        let mut out: HashMap<i64, Vec<CategorySpend>> = HashMap::new();
        for row in db.query_all(&stmt).await? {
            out.entry(get(&row, 0)?).or_default().push(CategorySpend {
                category: get(&row, 1)?,
                spend: get(&row, 2)?,
                of_total: get(&row, 3)?,
            });
        }
        Ok(out)
    }
}

/// Points earned and redeemed in the year.
pub struct Points;

impl Part for Points {
    type Value = YearPoints;

    async fn read(
        db: &DatabaseConnection,
        _base_currency: &str,
        w: YearWindow,
        ids: &[i64],
    ) -> AppResult<HashMap<i64, YearPoints>> {
        use lt::Column as T;
        let points = || Expr::col(T::Points);
        let sum_if =
            |cond: Expr, value: Expr| big(Func::sum(Expr::case(cond, value).finally(0i64)));
        let stmt = Query::select()
            .column(T::CustomerId)
            .expr(sum_if(points().gt(0), points()))
            .expr(sum_if(
                Expr::col(T::Kind).eq(LoyaltyTransactionKind::Redeem.to_value()),
                Expr::val(0i64).sub(points()),
            ))
            .from(lt::Entity)
            .and_where(ids_in(Expr::col(T::CustomerId), ids))
            .and_where(Expr::col(T::State).ne(LoyaltyTransactionState::Cancelled.to_value()))
            .cond_where(within(Expr::col(T::CreatedAt), w))
            .group_by_col(T::CustomerId)
            .to_owned();
        let mut out = HashMap::new();
        for row in db.query_all(&stmt).await? {
            out.insert(
                get(&row, 0)?,
                YearPoints {
                    earned: get(&row, 1)?,
                    redeemed: get(&row, 2)?,
                },
            );
        }
        Ok(out)
    }
}

/// Every recorded change of the customers' tiers, oldest first: the year
/// needs the last change before it as well as those within it.
pub struct TierChanges;

impl Part for TierChanges {
    type Value = Vec<TierChange>;

    async fn read(
        db: &DatabaseConnection,
        _base_currency: &str,
        _window: YearWindow,
        ids: &[i64],
    ) -> AppResult<HashMap<i64, Vec<TierChange>>> {
        use event::Column as E;
        let stmt = Query::select()
            .columns([E::CustomerId, E::OccurredAt, E::Data])
            .from(event::Entity)
            .and_where(ids_in(Expr::col(E::CustomerId), ids))
            .and_where(Expr::col(E::EventType).eq(EventType::LoyaltyTierChanged.name()))
            .order_by(E::CustomerId, Order::Asc)
            .order_by(E::Seq, Order::Asc)
            .to_owned();
        let tier = |data: &serde_json::Value, key: &str| -> AppResult<LoyaltyTier> {
            serde_json::from_value(data[key].clone()).map_err(|e| {
                AppError::Internal(anyhow::anyhow!("a tier change without its `{key}`: {e}"))
            })
        };
        let mut out: HashMap<i64, Vec<TierChange>> = HashMap::new();
        for row in db.query_all(&stmt).await? {
            let data: serde_json::Value = get(&row, 2)?;
            out.entry(get(&row, 0)?).or_default().push(TierChange {
                at: get(&row, 1)?,
                from: tier(&data, "from")?,
                to: tier(&data, "to")?,
            });
        }
        Ok(out)
    }
}

/// Reviews written in the year.
pub struct Reviews;

impl Part for Reviews {
    type Value = i64;

    async fn read(
        db: &DatabaseConnection,
        _base_currency: &str,
        w: YearWindow,
        ids: &[i64],
    ) -> AppResult<HashMap<i64, i64>> {
        use review::Column as R;
        let stmt = Query::select()
            .column(R::CustomerId)
            .expr(big(Expr::col(R::Id).count()))
            .from(review::Entity)
            .and_where(ids_in(Expr::col(R::CustomerId), ids))
            .cond_where(within(Expr::col(R::CreatedAt), w))
            .group_by_col(R::CustomerId)
            .to_owned();
        let mut out = HashMap::new();
        for row in db.query_all(&stmt).await? {
            out.insert(get(&row, 0)?, get(&row, 1)?);
        }
        Ok(out)
    }
}

/// Tickets opened in the year and their first replies.
pub struct Tickets;

impl Part for Tickets {
    type Value = YearTickets;

    async fn read(
        db: &DatabaseConnection,
        _base_currency: &str,
        w: YearWindow,
        ids: &[i64],
    ) -> AppResult<HashMap<i64, YearTickets>> {
        use ticket::Column as T;
        let minutes = Expr::case(
            Expr::col(T::FirstReplyAt).is_not_null(),
            crate::service::metrics::first_reply_minutes(db.get_database_backend()),
        )
        .finally(Expr::null());
        let stmt = Query::select()
            .column(T::CustomerId)
            .expr_as(big(minutes), alias("minutes"))
            .from(ticket::Entity)
            .and_where(ids_in(Expr::col(T::CustomerId), ids))
            .cond_where(within(Expr::col(T::CreatedAt), w))
            .order_by(T::CustomerId, Order::Asc)
            // Unanswered tickets sort first on SQLite and last on
            // PostgreSQL; the answered ones are ascending on both.
            .order_by(alias("minutes"), Order::Asc)
            .to_owned();
        let mut out: HashMap<i64, YearTickets> = HashMap::new();
        for row in db.query_all(&stmt).await? {
            let tickets = out.entry(get(&row, 0)?).or_default();
            tickets.opened += 1;
            if let Some(m) = get::<Option<i64>>(&row, 1)? {
                tickets.first_reply_minutes.push(m);
            }
        }
        Ok(out)
    }
}

/// NPS answers given in the year and the last one's score.
pub struct Nps;

impl Part for Nps {
    type Value = YearNps;

    async fn read(
        db: &DatabaseConnection,
        _base_currency: &str,
        w: YearWindow,
        ids: &[i64],
    ) -> AppResult<HashMap<i64, YearNps>> {
        use nps_response::Column as N;
        let numbered = Query::select()
            .column(N::CustomerId)
            .column(N::Score)
            .expr_as(
                Expr::cust(r#"ROW_NUMBER() OVER (PARTITION BY "customer_id" ORDER BY "created_at" DESC, "id" DESC)"#),
                alias("rn"),
            )
            .expr_as(
                Expr::cust(r#"COUNT(*) OVER (PARTITION BY "customer_id")"#),
                alias("answers"),
            )
            .from(nps_response::Entity)
            .and_where(ids_in(Expr::col(N::CustomerId), ids))
            .cond_where(within(Expr::col(N::CreatedAt), w))
            .to_owned();
        let stmt = Query::select()
            .column(alias("customer_id"))
            .expr(big(Expr::col(alias("answers"))))
            .column(alias("score"))
            .from_subquery(numbered, alias("n"))
            .and_where(Expr::col(alias("rn")).eq(1))
            .to_owned();
        let mut out = HashMap::new();
        for row in db.query_all(&stmt).await? {
            out.insert(
                get(&row, 0)?,
                YearNps {
                    answers: get(&row, 1)?,
                    last_score: Some(get(&row, 2)?),
                },
            );
        }
        Ok(out)
    }
}
