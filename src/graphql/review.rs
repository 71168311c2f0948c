//! Product reviews.

use async_graphql::{Context, ID, Object, SimpleObject};
use c360_entity::review;
use chrono::{DateTime, Utc};

use super::context::{authorize, begin_write, reader};
use super::enums::ReviewStatus;
use super::ids::{Kind, decode, encode};
use super::leaves::{Env, Leaf, Scalar};
use crate::auth::Domain;
use crate::domain::text;
use crate::error::AppError;
use crate::read::columns::Columns;
use crate::read::review_summaries::{self, MAX_LATEST, MAX_SKUS, Published, Summary};
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

#[derive(Clone, Copy)]
pub enum ReviewField {
    Id,
    CustomerId,
    ProductSku,
    OrderId,
    Rating,
    Title,
    Body,
    Status,
    VerifiedPurchase,
    CreatedAt,
}

impl Leaf for Review {
    type Field = ReviewField;
    fn field(name: &str) -> Option<ReviewField> {
        use ReviewField as F;
        Some(match name {
            "id" => F::Id,
            "customerId" => F::CustomerId,
            "productSku" => F::ProductSku,
            "orderId" => F::OrderId,
            "rating" => F::Rating,
            "title" => F::Title,
            "body" => F::Body,
            "status" => F::Status,
            "verifiedPurchase" => F::VerifiedPurchase,
            "createdAt" => F::CreatedAt,
            _ => return None,
        })
    }
    fn value<'a>(&'a self, _env: &'a Env<'_>, field: ReviewField) -> Scalar<'a> {
        use ReviewField as F;
        let r = &self.0;
        match field {
            F::Id => Scalar::Id(Kind::Review, r.id),
            F::CustomerId => Scalar::Id(Kind::Customer, r.customer_id),
            F::ProductSku => Scalar::Str(&r.product_sku),
            F::OrderId => r
                .order_id
                .map_or(Scalar::Null, |id| Scalar::Id(Kind::Order, id)),
            F::Rating => Scalar::Int(r.rating.into()),
            F::Title => r.title.as_deref().into(),
            F::Body => r.body.as_deref().into(),
            F::Status => Scalar::name_of(ReviewStatus::from(r.status)),
            F::VerifiedPurchase => Scalar::Bool(r.verified_purchase),
            F::CreatedAt => Scalar::Time(r.created_at),
        }
    }
    fn columns(fields: &[ReviewField]) -> Columns {
        use ReviewField as F;
        use review::Column as C;
        let each = |field: &ReviewField| match field {
            F::Id => C::Id,
            F::CustomerId => C::CustomerId,
            F::ProductSku => C::ProductSku,
            F::OrderId => C::OrderId,
            F::Rating => C::Rating,
            F::Title => C::Title,
            F::Body => C::Body,
            F::Status => C::Status,
            F::VerifiedPurchase => C::VerifiedPurchase,
            F::CreatedAt => C::CreatedAt,
        };
        Columns::of::<review::Entity>(fields.iter().map(each))
    }
}

/// Product review summaries for product pages: readable by CUSTOMER tokens,
/// partners with `reviews:read` and STAFF.
#[derive(Default)]
pub struct ReviewSummaryQuery;

/// Latest reviews a summary carries unless asked otherwise.
const DEFAULT_LATEST: i32 = 3;

#[Object]
impl ReviewSummaryQuery {
    /// A product's published reviews in figures, with the latest few. An
    /// unknown sku has an empty summary (count 0), not an error.
    async fn product_review_summary(
        &self,
        ctx: &Context<'_>,
        sku: String,
        #[graphql(desc = "Latest published reviews to include, 0 to 10 (default 3).")]
        latest: Option<i32>,
    ) -> async_graphql::Result<ProductReviewSummary> {
        let mut all = summaries(ctx, vec![sku], latest).await?;
        Ok(all.remove(0))
    }

    /// The summaries of up to 100 skus, in the order asked (a repeated sku
    /// once), in two statements whatever their number.
    async fn product_review_summaries(
        &self,
        ctx: &Context<'_>,
        skus: Vec<String>,
        #[graphql(desc = "Latest published reviews per sku, 0 to 10 (default 3).")] latest: Option<
            i32,
        >,
    ) -> async_graphql::Result<Vec<ProductReviewSummary>> {
        if skus.len() > MAX_SKUS {
            return Err(AppError::bad_input(
                "skus",
                format!("at most {MAX_SKUS} skus at once, not {}", skus.len()),
            )
            .into());
        }
        summaries(ctx, skus, latest).await
    }
}

async fn summaries(
    ctx: &Context<'_>,
    skus: Vec<String>,
    latest: Option<i32>,
) -> async_graphql::Result<Vec<ProductReviewSummary>> {
    authorize(ctx, Domain::Reviews)?;
    let latest = latest.unwrap_or(DEFAULT_LATEST);
    let latest = u64::try_from(latest)
        .ok()
        .filter(|n| *n <= MAX_LATEST)
        .ok_or_else(|| {
            AppError::bad_input(
                "latest",
                format!("latest is 0 to {MAX_LATEST}, not {latest}"),
            )
        })?;
    let skus = skus
        .iter()
        .map(|sku| text::required("sku", sku, 64))
        .collect::<Result<Vec<_>, _>>()?;
    // The latest reviews cost a statement of their own: skip it when no
    // selection asks for them.
    let wanted = if ctx.look_ahead().field("latest").exists() {
        latest
    } else {
        0
    };
    let rows = review_summaries::summaries(reader(ctx)?, &skus, wanted).await?;
    Ok(rows.into_iter().map(ProductReviewSummary::from).collect())
}

/// A product's published reviews: only PUBLISHED reviews count.
#[derive(SimpleObject)]
pub struct ProductReviewSummary {
    pub sku: String,
    /// Published reviews.
    pub count: i64,
    /// Mean rating, 1 to 5; null without reviews.
    pub average_rating: Option<f64>,
    /// Published reviews per rating, 1 to 5 stars, all five present.
    pub distribution: Vec<RatingCount>,
    /// Share of the published reviews from verified purchases, 0 to 1; null
    /// without reviews.
    pub verified_purchase_share: Option<f64>,
    /// The newest published reviews first, as many as `latest` asked.
    pub latest: Vec<PublishedReview>,
}

#[derive(SimpleObject)]
pub struct RatingCount {
    pub rating: i32,
    pub count: i64,
}

/// A published review as a product page shows it: no ids, the reviewer's
/// first name and initial only.
#[derive(SimpleObject)]
pub struct PublishedReview {
    pub rating: i32,
    pub title: Option<String>,
    pub body: Option<String>,
    pub verified_purchase: bool,
    pub created_at: DateTime<Utc>,
    /// `Jane D.`; null when the customer gave no first name.
    pub reviewer_name: Option<String>,
}

impl From<Summary> for ProductReviewSummary {
    fn from(s: Summary) -> Self {
        ProductReviewSummary {
            count: s.count(),
            average_rating: s.average(),
            verified_purchase_share: s.verified_share(),
            distribution: (1..=5)
                .zip(s.distribution)
                .map(|(rating, count)| RatingCount { rating, count })
                .collect(),
            latest: s.latest.into_iter().map(PublishedReview::from).collect(),
            sku: s.sku,
        }
    }
}

impl From<Published> for PublishedReview {
    fn from(p: Published) -> Self {
        PublishedReview {
            rating: p.rating,
            title: p.title,
            body: p.body,
            verified_purchase: p.verified_purchase,
            created_at: p.created_at,
            reviewer_name: p.reviewer,
        }
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
