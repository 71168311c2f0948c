//! Store credit balances by customer, with expired credit written off
//! before they are shown.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use c360_entity::store_credit_balance as balance;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};

use super::LoadError;
use crate::domain::Clock;
use crate::error::AppError;

/// A customer's balances, one per currency it ever held credit in, ordered
/// by currency. A balance whose `next_expiry_at` has passed has its expired
/// credit written off first (`service::store_credit::settle`, one
/// transaction on the primary, then one more read of those customers), so a
/// balance shown never includes expired credit; with nothing due it is one
/// statement per batch. Read from the request's connection otherwise.
pub struct CreditBalanceLoader {
    pub(super) db: DatabaseConnection,
    pub(super) primary: DatabaseConnection,
    pub(super) clock: Clock,
}

impl Loader<i64> for CreditBalanceLoader {
    type Value = Vec<balance::Model>;
    type Error = LoadError;

    async fn load(&self, ids: &[i64]) -> Result<HashMap<i64, Vec<balance::Model>>, Self::Error> {
        async fn find(
            db: &DatabaseConnection,
            ids: Vec<i64>,
        ) -> Result<Vec<balance::Model>, sea_orm::DbErr> {
            balance::Entity::find()
                .filter(balance::Column::CustomerId.is_in(ids))
                .order_by_asc(balance::Column::CustomerId)
                .order_by_asc(balance::Column::Currency)
                .all(db)
                .await
        }
        let fail = |e: AppError| Arc::new(e);
        let mut rows = find(&self.db, ids.to_vec())
            .await
            .map_err(|e| fail(e.into()))?;
        let now = self.clock.now();
        let mut due: Vec<i64> = rows
            .iter()
            .filter(|b| b.next_expiry_at.is_some_and(|at| at <= now))
            .map(|b| b.customer_id)
            .collect();
        due.dedup();
        if !due.is_empty() {
            let txn = crate::db::begin_write(&self.primary)
                .await
                .map_err(|e| fail(e.into()))?;
            crate::service::store_credit::settle(&txn, now, &due)
                .await
                .map_err(fail)?;
            txn.commit().await.map_err(|e| fail(e.into()))?;
            rows.retain(|b| !due.contains(&b.customer_id));
            rows.extend(find(&self.primary, due).await.map_err(|e| fail(e.into()))?);
        }
        let mut out: HashMap<i64, Vec<balance::Model>> = HashMap::new();
        for row in rows {
            out.entry(row.customer_id).or_default().push(row);
        }
        for balances in out.values_mut() {
            balances.sort_by(|a, b| a.currency.cmp(&b.currency));
        }
        Ok(out)
    }
}
