//! Product reviews.

use async_graphql::{ID, Object};
use c360_entity::review;
use chrono::{DateTime, Utc};

use super::enums::ReviewStatus;
use super::ids::{Kind, encode};

pub struct Review(pub review::Model);

#[Object]
impl Review {
    pub async fn id(&self) -> ID {
        encode(Kind::Review, self.0.id)
    }
    async fn customer_id(&self) -> ID {
        encode(Kind::Customer, self.0.customer_id)
    }
    async fn product_sku(&self) -> &str {
        &self.0.product_sku
    }
    async fn order_id(&self) -> Option<ID> {
        self.0.order_id.map(|id| encode(Kind::Order, id))
    }
    /// 1 to 5 stars.
    async fn rating(&self) -> i32 {
        self.0.rating
    }
    async fn title(&self) -> Option<&str> {
        self.0.title.as_deref()
    }
    async fn body(&self) -> Option<&str> {
        self.0.body.as_deref()
    }
    async fn status(&self) -> ReviewStatus {
        self.0.status.into()
    }
    /// True when one of the customer's paid orders holds this sku.
    async fn verified_purchase(&self) -> bool {
        self.0.verified_purchase
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}
