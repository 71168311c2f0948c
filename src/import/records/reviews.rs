//! Review records: one review per customer and sku, so a record for a
//! reviewed sku updates that review.

use c360_entity::enums::ReviewStatus;
use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::Deserialize;

use super::{Context, Record, id_text, required};
use crate::error::AppResult;
use crate::service::{Outcome, reviews};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReviewRecord {
    #[serde(default, deserialize_with = "id_text")]
    customer_id: Option<String>,
    customer_email: Option<String>,
    customer_external_ref: Option<String>,
    customer_external_source: Option<String>,
    sku: Option<String>,
    rating: Option<i32>,
    title: Option<String>,
    body: Option<String>,
    status: Option<ReviewStatus>,
    created_at: Option<DateTime<Utc>>,
    /// The order the review is about, by the order's `externalRef`.
    order_external_ref: Option<String>,
}

impl Record for ReviewRecord {
    /// One review per customer and sku: a record for a reviewed sku updates
    /// that review.
    async fn write(self, db: &impl ConnectionTrait, ctx: &Context) -> AppResult<Outcome> {
        let customer_id = customer_ref!(self).resolve(db, ctx).await?;
        reviews::import(
            db,
            &ctx.rules,
            &ctx.principal,
            reviews::ImportedReview {
                customer_id,
                sku: required("sku", self.sku)?,
                rating: required("rating", self.rating)?,
                title: self.title,
                body: self.body,
                status: self.status.unwrap_or(ReviewStatus::Pending),
                created_at: ctx.past("createdAt", self.created_at)?,
                order_external_ref: self.order_external_ref,
            },
            ctx.now,
        )
        .await
    }
}
