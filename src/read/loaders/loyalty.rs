//! Loyalty reads that depend on the clock: accounts, settled and their
//! tiers reviewed when due before they are shown, and the trailing
//! tier-window spend.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError};

use async_graphql::dataloader::Loader;
use c360_entity::{loyalty_account, loyalty_transaction, order};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use super::{LoadError, Primed};
use crate::domain::Clock;
use crate::error::AppError;
use crate::service::Rules;

/// Whether an account has points to settle or expire, or a tier review
/// due, before it is shown.
pub fn settlement_due(
    account: &loyalty_account::Model,
    now: chrono::DateTime<chrono::Utc>,
) -> bool {
    points_due(account, now) || tier_due(account, now)
}

fn points_due(account: &loyalty_account::Model, now: chrono::DateTime<chrono::Utc>) -> bool {
    account.settle_due_at.is_some_and(|at| at <= now)
}

fn tier_due(account: &loyalty_account::Model, now: chrono::DateTime<chrono::Utc>) -> bool {
    account.tier_due_at.is_some_and(|at| at <= now)
}

/// Loyalty accounts by customer, settled when due: an account whose
/// `settle_due_at` has passed has its due PENDING points made AVAILABLE and
/// its expired points written off, and one whose `tier_due_at` has passed
/// has its tier reviewed under the tier policy, before it is shown (one
/// transaction, then one more read of those accounts), so neither a balance
/// nor a tier is ever stale. An account with nothing due costs no more than
/// a plain read. The accounts are read from the request's connection, a
/// replica for a query; settling writes, so it, and the read of what it
/// wrote, go to the primary. The ledger pages of a settled account read
/// ahead of it (`PageLoader::prime`) are dropped, so the ledger is read
/// again after the settlement.
pub struct LoyaltyLoader {
    pub(super) db: DatabaseConnection,
    pub(super) primary: DatabaseConnection,
    pub(super) clock: Clock,
    pub(super) rules: Rules,
    pub(super) ledger_ahead: Primed<loyalty_transaction::Model>,
}

impl Loader<i64> for LoyaltyLoader {
    type Value = loyalty_account::Model;
    type Error = LoadError;

    async fn load(&self, ids: &[i64]) -> Result<HashMap<i64, loyalty_account::Model>, Self::Error> {
        async fn find(
            db: &DatabaseConnection,
            ids: Vec<i64>,
        ) -> Result<Vec<loyalty_account::Model>, sea_orm::DbErr> {
            loyalty_account::Entity::find()
                .filter(loyalty_account::Column::CustomerId.is_in(ids))
                .all(db)
                .await
        }
        let fail = |e: AppError| Arc::new(e);
        let mut rows = find(&self.db, ids.to_vec())
            .await
            .map_err(|e| fail(e.into()))?;
        let now = self.clock.now();
        let due: Vec<i64> = rows
            .iter()
            .filter(|a| settlement_due(a, now))
            .map(|a| a.customer_id)
            .collect();
        if !due.is_empty() {
            let of = |due: fn(&loyalty_account::Model, chrono::DateTime<chrono::Utc>) -> bool| {
                rows.iter()
                    .filter(|a| due(a, now))
                    .map(|a| a.customer_id)
                    .collect::<Vec<i64>>()
            };
            let (points, tiers) = (of(points_due), of(tier_due));
            let txn = crate::db::begin_write(&self.primary)
                .await
                .map_err(|e| fail(e.into()))?;
            // Tiers first: a review locks the customers, as writes do,
            // before anything writes their accounts.
            if !tiers.is_empty() {
                crate::service::loyalty::review_due_of(&txn, &self.rules, now, &tiers)
                    .await
                    .map_err(fail)?;
            }
            if !points.is_empty() {
                crate::service::loyalty::settle(&txn, now, &points)
                    .await
                    .map_err(fail)?;
            }
            txn.commit().await.map_err(|e| fail(e.into()))?;
            self.ledger_ahead
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|key, _| !due.contains(&key.parent));
            rows.retain(|a| !due.contains(&a.customer_id));
            rows.extend(find(&self.primary, due).await.map_err(|e| fail(e.into()))?);
        }
        Ok(rows.into_iter().map(|a| (a.customer_id, a)).collect())
    }
}

/// Net spend (`total - refunded`) of paid orders placed in the tier window, per customer and currency: one grouped statement per batch. The
/// resolver picks the base currency, so the loader needs no configuration.
pub struct TrailingSpendLoader {
    pub(super) db: DatabaseConnection,
    pub(super) clock: Clock,
}

impl Loader<i64> for TrailingSpendLoader {
    type Value = Vec<(String, i64)>;
    type Error = LoadError;

    async fn load(&self, ids: &[i64]) -> Result<HashMap<i64, Vec<(String, i64)>>, Self::Error> {
        use order::Column as O;
        let since = crate::domain::tiers::window_start(self.clock.now());
        let select =
            Query::select()
                .column(O::CustomerId)
                .column(O::Currency)
                .expr(Expr::cust(r#"CAST(SUM("total" - "refunded") AS BIGINT)"#))
                .from(order::Entity)
                .and_where(Expr::col(O::CustomerId).is_in(ids.iter().copied()))
                .and_where(Expr::col(O::Status).is_in(
                    crate::domain::orders::SPENDING.map(|s| sea_orm::ActiveEnum::to_value(&s)),
                ))
                .and_where(Expr::col(O::PlacedAt).gte(since))
                .group_by_col(O::CustomerId)
                .group_by_col(O::Currency)
                .to_owned();
        let rows = sea_orm::ConnectionTrait::query_all(&self.db, &select)
            .await
            .map_err(|e| Arc::new(AppError::from(e)))?;
        let mut out: HashMap<i64, Vec<(String, i64)>> = HashMap::new();
        for row in rows {
            let parsed = (|| {
                Ok::<_, sea_orm::DbErr>((
                    row.try_get_by_index::<i64>(0)?,
                    row.try_get_by_index::<String>(1)?,
                    row.try_get_by_index::<i64>(2)?,
                ))
            })();
            let (customer, currency, spend) = parsed.map_err(|e| Arc::new(AppError::from(e)))?;
            out.entry(customer).or_default().push((currency, spend));
        }
        Ok(out)
    }
}
