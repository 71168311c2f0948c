//! Product reviews.

use async_graphql::{ID, Object};
use c360_entity::review;
use chrono::{DateTime, Utc};

use super::context::begin_write;
use super::enums::ReviewStatus;
use super::ids::{Kind, decode, encode};
use crate::auth::Domain;
use crate::service::reviews;

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

/// Review writes: a CUSTOMER submits its own, a PARTNER needs
/// `reviews:write`; only STAFF moderate.
#[derive(Default)]
pub struct ReviewMutation;

#[Object]
impl ReviewMutation {
    /// Submits a review (PENDING until moderated); one per customer and sku.
    /// `verifiedPurchase` is true when one of the customer's paid orders
    /// holds the sku.
    #[allow(clippy::too_many_arguments)]
    async fn review_submit(
        &self,
        ctx: &async_graphql::Context<'_>,
        customer_id: ID,
        sku: String,
        #[graphql(desc = "1 to 5.")] rating: i32,
        title: Option<String>,
        body: Option<String>,
        order_id: Option<ID>,
    ) -> async_graphql::Result<Review> {
        let write = begin_write(ctx, Domain::Reviews).await?;
        let new = reviews::NewReview {
            customer_id: decode("customerId", Kind::Customer, &customer_id)?,
            sku,
            rating,
            title,
            body,
            order_id: order_id
                .map(|id| decode("orderId", Kind::Order, &id))
                .transpose()?,
        };
        let review =
            reviews::submit(&write.txn, write.rules, write.principal, new, write.now).await?;
        write.commit(Review(review)).await
    }

    /// Publishes or rejects a review (staff).
    async fn review_moderate(
        &self,
        ctx: &async_graphql::Context<'_>,
        id: ID,
        status: ReviewStatus,
    ) -> async_graphql::Result<Review> {
        let write = begin_write(ctx, Domain::Reviews).await?;
        let review_id = decode("id", Kind::Review, &id)?;
        let review = reviews::moderate(
            &write.txn,
            write.principal,
            review_id,
            status.into(),
            write.now,
        )
        .await?;
        write.commit(Review(review)).await
    }
}
