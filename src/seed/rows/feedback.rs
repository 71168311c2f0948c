//! Rows of what customers say: product reviews and NPS answers.

use c360_entity::enums::{NpsChannel, ReviewStatus};
use c360_entity::{nps_response, review};
use sea_orm::sea_query::Value;

use super::{BulkRow, opt_str, ts};

#[derive(Debug, Clone)]
pub struct ReviewRow {
    pub id: i64,
    pub customer_id: i64,
    pub product_sku: &'static str,
    pub order_id: Option<i64>,
    pub rating: i32,
    pub title: &'static str,
    pub body: &'static str,
    pub status: ReviewStatus,
    pub verified_purchase: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl BulkRow for ReviewRow {
    type Entity = review::Entity;
    fn columns() -> Vec<review::Column> {
        use review::Column as C;
        vec![
            C::Id,
            C::CustomerId,
            C::ProductSku,
            C::OrderId,
            C::Rating,
            C::Title,
            C::Body,
            C::Status,
            C::VerifiedPurchase,
            C::CreatedAt,
            C::UpdatedAt,
        ]
    }
    fn into_values(self) -> Vec<Value> {
        vec![
            self.id.into(),
            self.customer_id.into(),
            self.product_sku.into(),
            self.order_id.into(),
            self.rating.into(),
            self.title.into(),
            self.body.into(),
            self.status.into(),
            self.verified_purchase.into(),
            ts(self.created_at),
            ts(self.updated_at),
        ]
    }
}

#[derive(Debug, Clone)]
pub struct NpsRow {
    pub id: i64,
    pub customer_id: i64,
    pub score: i32,
    pub comment: Option<&'static str>,
    pub channel: NpsChannel,
    pub created_at: i64,
}

impl BulkRow for NpsRow {
    type Entity = nps_response::Entity;
    fn columns() -> Vec<nps_response::Column> {
        use nps_response::Column as C;
        vec![
            C::Id,
            C::CustomerId,
            C::Score,
            C::Comment,
            C::Channel,
            C::CreatedAt,
        ]
    }
    fn into_values(self) -> Vec<Value> {
        vec![
            self.id.into(),
            self.customer_id.into(),
            self.score.into(),
            opt_str(self.comment),
            self.channel.into(),
            ts(self.created_at),
        ]
    }
}
