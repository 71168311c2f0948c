//! Loaders keyed by customer: the customers themselves (within the caller's
//! scope, with the to-one rows a selection asks for), rows with a unique
//! `customer_id` ([`ByCustomer`]), tags and the referral that brought a
//! customer in.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use c360_entity::enums::ReferralStatus;
use c360_entity::{customer, customer_clv, customer_metrics, customer_rfm, customer_tag, referral};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QueryTrait};

use super::LoadError;
use crate::auth::CustomerScope;
use crate::error::AppError;
use crate::read::joined::{self, Joined, Joins};
use crate::segment::compile::{join_loyalty, join_metrics};

/// A customer by id, with the to-one rows the selection asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CustomerKey {
    pub id: i64,
    pub joins: Joins,
}

/// Customers by id, within the caller's scope.
pub struct CustomerLoader {
    pub(super) db: DatabaseConnection,
    pub(super) scope: CustomerScope,
}

impl Loader<CustomerKey> for CustomerLoader {
    type Value = (customer::Model, Joined);
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[CustomerKey],
    ) -> Result<HashMap<CustomerKey, Self::Value>, Self::Error> {
        // Selections of one level usually ask for the same joins: one statement.
        let mut groups: HashMap<Joins, Vec<i64>> = HashMap::new();
        for key in keys {
            groups.entry(key.joins).or_default().push(key.id);
        }
        let mut out = HashMap::with_capacity(keys.len());
        for (joins, ids) in groups {
            let mut query = customer::Entity::find();
            if joins.metrics {
                join_metrics(QueryTrait::query(&mut query));
            }
            if joins.loyalty {
                join_loyalty(QueryTrait::query(&mut query));
            }
            let mut query = query.filter(customer::Column::Id.is_in(ids));
            if let CustomerScope::Only(own) = self.scope {
                query = query.filter(customer::Column::Id.eq(own));
            }
            let rows = joined::fetch(&self.db, query, joins)
                .await
                .map_err(Arc::new)?;
            out.extend(
                rows.into_iter()
                    .map(|(c, j)| (CustomerKey { id: c.id, joins }, (c, j))),
            );
        }
        Ok(out)
    }
}

/// Loads rows of a table with a unique `customer_id` column by customer.
pub struct ByCustomer<E> {
    pub(super) db: DatabaseConnection,
    pub(super) _e: PhantomData<E>,
}

pub trait CustomerKeyed: EntityTrait {
    fn customer_col() -> Self::Column;
    fn customer_of(model: &Self::Model) -> i64;
}

impl CustomerKeyed for customer_metrics::Entity {
    fn customer_col() -> Self::Column {
        customer_metrics::Column::CustomerId
    }
    fn customer_of(model: &Self::Model) -> i64 {
        model.customer_id
    }
}

impl CustomerKeyed for customer_rfm::Entity {
    fn customer_col() -> Self::Column {
        customer_rfm::Column::CustomerId
    }
    fn customer_of(model: &Self::Model) -> i64 {
        model.customer_id
    }
}

impl CustomerKeyed for customer_clv::Entity {
    fn customer_col() -> Self::Column {
        customer_clv::Column::CustomerId
    }
    fn customer_of(model: &Self::Model) -> i64 {
        model.customer_id
    }
}

impl<E> Loader<i64> for ByCustomer<E>
where
    E: CustomerKeyed + Send + Sync + 'static,
    E::Model: Clone + Send + Sync + 'static,
{
    type Value = E::Model;
    type Error = LoadError;

    async fn load(&self, ids: &[i64]) -> Result<HashMap<i64, E::Model>, Self::Error> {
        let rows = E::find()
            .filter(E::customer_col().is_in(ids.iter().copied()))
            .all(&self.db)
            .await
            .map_err(|e| Arc::new(AppError::from(e)))?;
        Ok(rows.into_iter().map(|m| (E::customer_of(&m), m)).collect())
    }
}

/// A customer's tags, sorted.
pub struct TagsLoader {
    pub(super) db: DatabaseConnection,
}

impl Loader<i64> for TagsLoader {
    type Value = Vec<String>;
    type Error = LoadError;

    async fn load(&self, ids: &[i64]) -> Result<HashMap<i64, Vec<String>>, Self::Error> {
        let rows = customer_tag::Entity::find()
            .filter(customer_tag::Column::CustomerId.is_in(ids.iter().copied()))
            .order_by_asc(customer_tag::Column::Tag)
            .all(&self.db)
            .await
            .map_err(|e| Arc::new(AppError::from(e)))?;
        let mut out: HashMap<i64, Vec<String>> = ids.iter().map(|id| (*id, Vec::new())).collect();
        for row in rows {
            out.entry(row.customer_id).or_default().push(row.tag);
        }
        Ok(out)
    }
}

/// The referral that brought a customer in (by referee id), if any.
pub struct ReferredByLoader {
    pub(super) db: DatabaseConnection,
}

impl Loader<i64> for ReferredByLoader {
    type Value = referral::Model;
    type Error = LoadError;

    async fn load(&self, referees: &[i64]) -> Result<HashMap<i64, referral::Model>, Self::Error> {
        let rows = referral::Entity::find()
            .filter(referral::Column::RefereeCustomerId.is_in(referees.iter().copied()))
            .filter(referral::Column::Status.ne(ReferralStatus::Rejected))
            .order_by_asc(referral::Column::Id)
            .all(&self.db)
            .await
            .map_err(|e| Arc::new(AppError::from(e)))?;
        let mut out = HashMap::new();
        for row in rows {
            if let Some(referee) = row.referee_customer_id {
                // The first attribution wins; later ones would have been rejected.
                out.entry(referee).or_insert(row);
            }
        }
        Ok(out)
    }
}
