//! Interests and recommendations in the store: the statements that read a
//! customer's purchases and the co-purchase neighbours of what they bought
//! (for `read::interests`), and the refresh that rebuilds the co-purchase
//! table `product_affinities` and every customer's `top_category`
//! (`customer_interests`). The rules are `domain::interests`.
//!
//! Purchases are aggregated in SQL, one row per (customer, order, sku),
//! and weighted in Rust: SQLite as the store ships it has no `exp` or
//! `pow`, and one formula for both stores keeps the API, `top_category`
//! and the tests in agreement to the last bit.
//!
//! A refresh (after seeding, `c360 insights refresh`, and with RFM every
//! `--rfm-refresh-interval`) is one transaction of a fixed number of
//! statements, whatever the size of the base: the purchases of every
//! customer, streamed, ranked into top categories that go back as one
//! JSON document; and the co-purchase pairs as one insert-select. Readers
//! see the old table or the new, never a mix. Before the first refresh the
//! table is empty, and so is every customer's list of recommendations.

use std::fmt;

use c360_entity::{customer_interest as ci, order, order_line, product_affinity as pa};
use chrono::{DateTime, SubsecRound, Utc};
use futures_util::TryStreamExt;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Query, SelectStatement};
use sea_orm::{
    ActiveEnum, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, QueryResult,
    Statement, StreamTrait,
};

use crate::domain::interests::{self, Decay, Neighbour, PURCHASES_EXCLUDE, Purchase};
use crate::error::{AppError, AppResult};

/// One customer's purchase, as the statement reads it.
pub type CustomerPurchase = (i64, Purchase);

/// The lines of counted purchases (`domain::interests`), one row per
/// (customer, order, sku, category), of the customers `ids` or of everyone,
/// ordered by customer, placement, order and sku: the order the weights are
/// summed in.
fn purchases_statement(base_currency: &str, ids: Option<&[i64]>) -> SelectStatement {
    use order::Column as O;
    use order_line::Column as L;
    let l = |c: L| Expr::col((order_line::Entity, c));
    let o = |c: O| Expr::col((order::Entity, c));
    let mut q = Query::select();
    q.expr(l(L::CustomerId))
        .expr(l(L::OrderId))
        .expr(o(O::PlacedAt))
        .expr(l(L::Sku))
        .expr(Func::max(l(L::ProductName)))
        .expr(l(L::Category))
        .expr(
            Expr::from(Func::sum(l(L::Quantity).mul(l(L::UnitPrice))))
                .cast_as(Alias::new("BIGINT")),
        )
        .from(order_line::Entity)
        .inner_join(
            order::Entity,
            o(O::Id).equals((order_line::Entity, L::OrderId)),
        )
        .and_where(o(O::Status).is_not_in(PURCHASES_EXCLUDE.map(|s| s.to_value())))
        .and_where(o(O::Currency).eq(base_currency))
        .group_by_columns([
            (order_line::Entity, L::CustomerId),
            (order_line::Entity, L::OrderId),
        ])
        .group_by_col((order::Entity, O::PlacedAt))
        .group_by_columns([
            (order_line::Entity, L::Sku),
            (order_line::Entity, L::Category),
        ])
        .order_by((order_line::Entity, L::CustomerId), sea_orm::Order::Asc)
        .order_by((order::Entity, O::PlacedAt), sea_orm::Order::Asc)
        .order_by((order_line::Entity, L::OrderId), sea_orm::Order::Asc)
        .order_by((order_line::Entity, L::Sku), sea_orm::Order::Asc)
        .order_by((order_line::Entity, L::Category), sea_orm::Order::Asc);
    if let Some(ids) = ids {
        q.and_where(l(L::CustomerId).is_in(ids.iter().copied()));
    }
    q
}

fn purchase_of(row: &QueryResult) -> AppResult<CustomerPurchase> {
    Ok((
        row.try_get_by_index(0)?,
        Purchase {
            order_id: row.try_get_by_index(1)?,
            placed_at: row.try_get_by_index(2)?,
            sku: row.try_get_by_index(3)?,
            product_name: row.try_get_by_index(4)?,
            category: row.try_get_by_index(5)?,
            amount: row.try_get_by_index(6)?,
        },
    ))
}

/// The purchases of the customers `ids`, in one statement.
pub async fn purchases(
    db: &impl ConnectionTrait,
    base_currency: &str,
    ids: &[i64],
) -> AppResult<Vec<CustomerPurchase>> {
    db.query_all(&purchases_statement(base_currency, Some(ids)))
        .await?
        .iter()
        .map(purchase_of)
        .collect()
}

/// The co-purchase neighbours of every sku the customers `ids` bought, in
/// one statement: the customer's skus (with their name on the customer's
/// lines) joined to the table through its key, ordered by customer, owned
/// sku and sku, the order `domain::interests::recommend` sums in.
pub async fn neighbours(
    db: &impl ConnectionTrait,
    base_currency: &str,
    ids: &[i64],
) -> AppResult<Vec<(i64, Neighbour)>> {
    use order::Column as O;
    use order_line::Column as L;
    const OWNED: &str = "owned";
    let owned = |c: &str| Expr::col((Alias::new(OWNED), Alias::new(c)));
    let a = |c: pa::Column| Expr::col((pa::Entity, c));
    let mut bought = Query::select();
    bought
        .expr_as(
            Expr::col((order_line::Entity, L::CustomerId)),
            Alias::new("customer_id"),
        )
        .expr_as(Expr::col((order_line::Entity, L::Sku)), Alias::new("sku"))
        .expr_as(
            Func::max(Expr::col((order_line::Entity, L::ProductName))),
            Alias::new("name"),
        )
        .from(order_line::Entity)
        .inner_join(
            order::Entity,
            Expr::col((order::Entity, O::Id)).equals((order_line::Entity, L::OrderId)),
        )
        .and_where(Expr::col((order_line::Entity, L::CustomerId)).is_in(ids.iter().copied()))
        .and_where(
            Expr::col((order::Entity, O::Status))
                .is_not_in(PURCHASES_EXCLUDE.map(|s| s.to_value())),
        )
        .and_where(Expr::col((order::Entity, O::Currency)).eq(base_currency))
        .group_by_columns([
            (order_line::Entity, L::CustomerId),
            (order_line::Entity, L::Sku),
        ]);
    let mut q = Query::select();
    q.expr(owned("customer_id"))
        .expr(owned("sku"))
        .expr(owned("name"))
        .expr(a(pa::Column::SkuB))
        .expr(a(pa::Column::NameB))
        .expr(a(pa::Column::Similarity))
        .from_subquery(bought, Alias::new(OWNED))
        .inner_join(
            pa::Entity,
            a(pa::Column::SkuA).equals((Alias::new(OWNED), Alias::new("sku"))),
        )
        .order_by(
            (Alias::new(OWNED), Alias::new("customer_id")),
            sea_orm::Order::Asc,
        )
        .order_by((Alias::new(OWNED), Alias::new("sku")), sea_orm::Order::Asc)
        .order_by((pa::Entity, pa::Column::SkuB), sea_orm::Order::Asc);
    db.query_all(&q)
        .await?
        .iter()
        .map(|row| {
            Ok((
                row.try_get_by_index(0)?,
                Neighbour {
                    owned_sku: row.try_get_by_index(1)?,
                    owned_name: row.try_get_by_index(2)?,
                    sku: row.try_get_by_index(3)?,
                    name: row.try_get_by_index(4)?,
                    similarity: row.try_get_by_index(5)?,
                },
            ))
        })
        .collect()
}

/// What a refresh wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refreshed {
    /// Rows of `product_affinities`: ordered pairs of skus bought together.
    pub pairs: u64,
    /// Customers with a top category.
    pub top_categories: u64,
}

impl Refreshed {
    pub fn rows(&self) -> u64 {
        self.pairs + self.top_categories
    }
}

impl fmt::Display for Refreshed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "co-purchase table refreshed: {} sku pairs; top categories for {} customers",
            self.pairs, self.top_categories
        )
    }
}

/// Rebuilds `product_affinities` and `customer_interests` from every
/// customer's purchases, in one transaction stamped `at`.
pub async fn refresh(
    db: &DatabaseConnection,
    decay: Decay,
    base_currency: &str,
    at: DateTime<Utc>,
) -> AppResult<Refreshed> {
    let at = at.trunc_subsecs(0);
    let txn = crate::db::begin_write(db).await?;
    let backend = ConnectionTrait::get_database_backend(&txn);
    // Two refreshes at once take turns, as `service::clv` does: the second
    // would not see the first's rows and its inserts would collide with them.
    if backend == DbBackend::Postgres {
        txn.execute_unprepared(
            "LOCK TABLE product_affinities, customer_interests IN SHARE ROW EXCLUSIVE MODE",
        )
        .await?;
    }
    let tops = top_categories(&txn, decay, base_currency).await?;
    txn.execute(&Query::delete().from_table(ci::Entity).to_owned())
        .await?;
    let top_categories = txn
        .execute_raw(insert_top_categories(backend, &tops, at)?)
        .await?
        .rows_affected();
    txn.execute(&Query::delete().from_table(pa::Entity).to_owned())
        .await?;
    let pairs = txn
        .execute_raw(insert_pairs(backend, base_currency, at))
        .await?
        .rows_affected();
    txn.commit().await?;
    Ok(Refreshed {
        pairs,
        top_categories,
    })
}

/// Every customer's top category, from one streamed statement, ranked a
/// customer at a time.
async fn top_categories(
    db: &DatabaseTransaction,
    decay: Decay,
    base_currency: &str,
) -> AppResult<Vec<(i64, String)>> {
    let mut rows = db.stream(&purchases_statement(base_currency, None)).await?;
    let mut out = Vec::new();
    let mut current: Option<i64> = None;
    let mut bought: Vec<Purchase> = Vec::new();
    let mut rank = |customer: Option<i64>, bought: &mut Vec<Purchase>| {
        if let Some(id) = customer
            && let Some(top) = interests::rank(decay, bought).top_category()
        {
            out.push((id, top.to_owned()));
        }
        bought.clear();
    };
    while let Some(row) = rows.try_next().await? {
        let (customer, purchase) = purchase_of(&row)?;
        if current != Some(customer) {
            rank(current, &mut bought);
            current = Some(customer);
        }
        bought.push(purchase);
    }
    rank(current, &mut bought);
    drop(rows);
    Ok(out)
}

/// One insert of every top category, passed as a JSON array of
/// `[customer_id, category]` so the statement count stays fixed.
fn insert_top_categories(
    backend: DbBackend,
    tops: &[(i64, String)],
    at: DateTime<Utc>,
) -> AppResult<Statement> {
    let json = serde_json::to_string(tops)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("top categories: {e}")))?;
    let sql = match backend {
        DbBackend::Postgres => {
            "INSERT INTO customer_interests (customer_id, top_category, refreshed_at)
             SELECT (e->>0)::bigint, e->>1, $2 FROM json_array_elements($1::json) AS e"
        }
        _ => {
            "INSERT INTO customer_interests (customer_id, top_category, refreshed_at)
             SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), $2
             FROM json_each($1)"
        }
    };
    Ok(Statement::from_sql_and_values(
        backend,
        sql,
        [json.into(), at.into()],
    ))
}

/// The co-purchase pairs as one insert-select, the same SQL on both stores:
/// each customer's distinct purchased skus, joined with themselves by
/// customer, counted per pair; `similarity = together / (buyers(a) +
/// buyers(b) − together)` (`domain::interests`).
fn insert_pairs(backend: DbBackend, base_currency: &str, at: DateTime<Utc>) -> Statement {
    let [cancelled, refunded] = PURCHASES_EXCLUDE.map(|s| s.to_value());
    let sql = "WITH purchased AS (
            SELECT l.customer_id, l.sku, l.product_name
            FROM order_lines l JOIN orders o ON o.id = l.order_id
            WHERE o.status NOT IN ($1, $2) AND o.currency = $3
        ), bought AS (
            SELECT DISTINCT customer_id, sku FROM purchased
        ), buyers AS (
            SELECT sku, COUNT(*) AS n FROM bought GROUP BY sku
        ), names AS (
            SELECT sku, MAX(product_name) AS name FROM purchased GROUP BY sku
        ), pairs AS (
            SELECT a.sku AS sku_a, b.sku AS sku_b, COUNT(*) AS together
            FROM bought a JOIN bought b ON b.customer_id = a.customer_id AND b.sku <> a.sku
            GROUP BY a.sku, b.sku
        )
        INSERT INTO product_affinities (sku_a, sku_b, name_b, customers, similarity, refreshed_at)
        SELECT p.sku_a, p.sku_b, nm.name, p.together,
               CAST(p.together AS DOUBLE PRECISION) / (ba.n + bb.n - p.together), $4
        FROM pairs p
        JOIN buyers ba ON ba.sku = p.sku_a
        JOIN buyers bb ON bb.sku = p.sku_b
        JOIN names nm ON nm.sku = p.sku_b";
    Statement::from_sql_and_values(
        backend,
        sql,
        [
            cancelled.into(),
            refunded.into(),
            base_currency.into(),
            at.into(),
        ],
    )
}

/// Refreshes at the app's clock under its rules (`c360 insights refresh`,
/// the schedule, seeding).
pub async fn refresh_now(
    db: &DatabaseConnection,
    rules: &crate::service::Rules,
    at: DateTime<Utc>,
) -> AppResult<Refreshed> {
    refresh(db, rules.interest_decay, &rules.base_currency, at).await
}
