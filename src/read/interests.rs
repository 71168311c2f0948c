//! The reads of `Customer.interests` and `Customer.recommendedProducts`:
//! one loader each, keyed by customer, so a page of customers asking for
//! either is one statement whatever its size (`service::recommendations`
//! holds the statements, `domain::interests` the ranking).

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use sea_orm::DatabaseConnection;

use super::driver::RequestTasks;
use super::loaders::LoadError;
use crate::domain::interests::{self, Decay, Interests, Purchase, Recommendation};
use crate::service::recommendations;

/// Customers per batch: a page of parents is at most 100, and nested
/// customers at most a page of pages; the ids are bound once.
const MAX_BATCH: usize = 1_000;

/// A customer's categories and products, fully ranked.
pub struct InterestsLoader {
    db: DatabaseConnection,
    base_currency: String,
    decay: Decay,
}

impl Loader<i64> for InterestsLoader {
    type Value = Arc<Interests>;
    type Error = LoadError;

    async fn load(&self, ids: &[i64]) -> Result<HashMap<i64, Arc<Interests>>, LoadError> {
        let rows = recommendations::purchases(&self.db, &self.base_currency, ids)
            .await
            .map_err(Arc::new)?;
        let mut bought: HashMap<i64, Vec<Purchase>> = HashMap::new();
        for (customer, purchase) in rows {
            bought.entry(customer).or_default().push(purchase);
        }
        Ok(ids
            .iter()
            .map(|id| {
                let ranked = bought
                    .get(id)
                    .map(|p| interests::rank(self.decay, p))
                    .unwrap_or_default();
                (*id, Arc::new(ranked))
            })
            .collect())
    }
}

/// A customer's recommendations, fully ranked; empty before the first
/// refresh of the co-purchase table and for a customer who bought nothing.
pub struct RecommendationsLoader {
    db: DatabaseConnection,
    base_currency: String,
}

impl Loader<i64> for RecommendationsLoader {
    type Value = Arc<Vec<Recommendation>>;
    type Error = LoadError;

    async fn load(&self, ids: &[i64]) -> Result<HashMap<i64, Arc<Vec<Recommendation>>>, LoadError> {
        let rows = recommendations::neighbours(&self.db, &self.base_currency, ids)
            .await
            .map_err(Arc::new)?;
        let mut by_customer: HashMap<i64, Vec<interests::Neighbour>> = HashMap::new();
        for (customer, neighbour) in rows {
            by_customer.entry(customer).or_default().push(neighbour);
        }
        Ok(ids
            .iter()
            .map(|id| {
                let ranked = by_customer
                    .get(id)
                    .map(|n| interests::recommend(n))
                    .unwrap_or_default();
                (*id, Arc::new(ranked))
            })
            .collect())
    }
}

/// The loaders of one request's interests and recommendations.
pub struct InterestLoaders {
    pub interests: DataLoader<InterestsLoader>,
    pub recommendations: DataLoader<RecommendationsLoader>,
}

impl InterestLoaders {
    pub fn new(
        db: &DatabaseConnection,
        rules: &crate::service::Rules,
        tasks: &RequestTasks,
        delay: std::time::Duration,
    ) -> InterestLoaders {
        InterestLoaders {
            interests: DataLoader::new(
                InterestsLoader {
                    db: db.clone(),
                    base_currency: rules.base_currency.clone(),
                    decay: rules.interest_decay,
                },
                tasks.spawner(),
            )
            .delay(delay)
            .max_batch_size(MAX_BATCH),
            recommendations: DataLoader::new(
                RecommendationsLoader {
                    db: db.clone(),
                    base_currency: rules.base_currency.clone(),
                },
                tasks.spawner(),
            )
            .delay(delay)
            .max_batch_size(MAX_BATCH),
        }
    }
}
