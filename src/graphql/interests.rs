//! `Customer.interests` and `Customer.recommendedProducts`: what a customer
//! buys most, recent purchases weighing more, and what customers who bought
//! the same things also bought. Ranked in `domain::interests`, read by the
//! loaders of `read::interests`; this module checks `first` and shapes the
//! answer.

use std::sync::Arc;

use async_graphql::{Context, ErrorExtensions, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::context::{loaders, state};
use super::federation::Product;
use crate::domain::interests::{self, Interests, Recommendation};

/// The interests of customer `id`, `first` of each list (1 to 50, default 5).
pub async fn interests(
    ctx: &Context<'_>,
    id: i64,
    first: Option<i32>,
) -> async_graphql::Result<CustomerInterests> {
    let first = interests::first(first)?;
    let ranked = loaders(ctx)?
        .interests
        .interests
        .load_one(id)
        .await
        .map_err(|e| e.extend())?
        .unwrap_or_default();
    let half_life = state(ctx)?.rules.interest_decay.half_life();
    Ok(CustomerInterests {
        ranked,
        first,
        half_life_days: half_life.num_seconds() as f64 / 86_400.0,
    })
}

/// The `first` (1 to 50, default 5) recommendations for customer `id`.
pub async fn recommended(
    ctx: &Context<'_>,
    id: i64,
    first: Option<i32>,
) -> async_graphql::Result<Vec<ProductRecommendation>> {
    let first = interests::first(first)?;
    let ranked: Arc<Vec<Recommendation>> = loaders(ctx)?
        .interests
        .recommendations
        .load_one(id)
        .await
        .map_err(|e| e.extend())?
        .unwrap_or_default();
    Ok(ranked
        .iter()
        .take(first)
        .map(ProductRecommendation::from)
        .collect())
}

/// What a customer buys most: each category's and product's share of the
/// customer's purchases (lines of orders not cancelled nor fully refunded,
/// in the base currency), each weighted by `2^(−age / halfLifeDays)`, age
/// counted back from the customer's latest purchase. Shares are of all
/// purchases, uncategorised ones included.
pub struct CustomerInterests {
    ranked: Arc<Interests>,
    first: usize,
    half_life_days: f64,
}

#[Object]
impl CustomerInterests {
    /// Highest share first; ties by category.
    async fn categories(&self) -> Vec<CategoryInterest> {
        self.ranked
            .categories
            .iter()
            .take(self.first)
            .map(|c| CategoryInterest {
                category: c.category.clone(),
                share: c.share,
                order_count: c.orders,
                last_purchased_at: c.last_purchased_at,
            })
            .collect()
    }
    /// Highest share first; ties by sku.
    async fn products(&self) -> Vec<ProductInterest> {
        self.ranked
            .products
            .iter()
            .take(self.first)
            .map(|p| ProductInterest {
                sku: p.sku.clone(),
                product: Product { sku: p.sku.clone() },
                product_name: p.product_name.clone(),
                category: p.category.clone(),
                share: p.share,
                order_count: p.orders,
                last_purchased_at: p.last_purchased_at,
            })
            .collect()
    }
    /// The half-life of a purchase's weight (`--interest-half-life`).
    async fn half_life_days(&self) -> f64 {
        self.half_life_days
    }
}

/// A category the customer buys.
#[derive(SimpleObject)]
pub struct CategoryInterest {
    pub category: String,
    /// Share of the customer's recency-weighted purchases, 0 to 1.
    pub share: f64,
    /// Orders with a purchase in the category.
    pub order_count: i64,
    pub last_purchased_at: DateTime<Utc>,
}

/// A product the customer buys.
#[derive(SimpleObject)]
pub struct ProductInterest {
    pub sku: String,
    /// The product, resolved by the catalogue through the federation gateway.
    pub product: Product,
    /// The name on the latest purchase.
    pub product_name: String,
    /// The category on the latest purchase.
    pub category: Option<String>,
    /// Share of the customer's recency-weighted purchases, 0 to 1.
    pub share: f64,
    /// Orders with the product.
    pub order_count: i64,
    pub last_purchased_at: DateTime<Utc>,
}

/// A product the customer has not bought, bought by customers who bought
/// what the customer did.
#[derive(SimpleObject)]
pub struct ProductRecommendation {
    pub sku: String,
    pub product: Product,
    pub product_name: String,
    /// Σ over the customer's purchased skus of their similarity to this one
    /// (`customers who bought both / customers who bought either`).
    pub score: f64,
    /// Because you bought: the purchased products that contributed most,
    /// most first, at most three.
    pub because: Vec<RecommendationReason>,
}

/// A purchased product behind a recommendation.
#[derive(SimpleObject)]
pub struct RecommendationReason {
    pub sku: String,
    pub product_name: String,
    /// Its similarity to the recommended product: its part of the score.
    pub similarity: f64,
}

impl From<&Recommendation> for ProductRecommendation {
    fn from(r: &Recommendation) -> Self {
        ProductRecommendation {
            sku: r.sku.clone(),
            product: Product { sku: r.sku.clone() },
            product_name: r.product_name.clone(),
            score: r.score,
            because: r
                .because
                .iter()
                .map(|b| RecommendationReason {
                    sku: b.sku.clone(),
                    product_name: b.product_name.clone(),
                    similarity: b.similarity,
                })
                .collect(),
        }
    }
}
