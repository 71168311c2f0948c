//! Product reviews: one per customer and sku, `verified_purchase` from the
//! customer's paid orders, moderation by staff. A new review (submitted or
//! imported) is `review.submitted`; becoming PUBLISHED (moderation or a
//! re-import) is `review.published`.

use c360_entity::enums::{OrderStatus, ReviewStatus};
use c360_entity::{order, order_line, review};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set,
};
use serde_json::json;

use super::{Outcome, Rules, audit, metrics, owner};
use crate::auth::{Principal, Role};
use crate::domain::ids::{Kind, gid};
use crate::domain::text;
use crate::error::{AppError, AppResult};
use crate::events::{self, payload};

/// A review as submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReview {
    pub customer_id: i64,
    pub sku: String,
    pub rating: i32,
    pub title: Option<String>,
    pub body: Option<String>,
    pub order_id: Option<i64>,
}

fn optional(field: &str, value: Option<String>, max: usize) -> AppResult<Option<String>> {
    match value.map(|v| v.trim().to_owned()) {
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => {
            text::at_most(field, &v, max)?;
            Ok(Some(v))
        }
        None => Ok(None),
    }
}

/// Statuses of an order that was paid and not fully refunded.
const PURCHASED: [OrderStatus; 3] = [
    OrderStatus::Paid,
    OrderStatus::Fulfilled,
    OrderStatus::PartiallyRefunded,
];

/// Submits a review (status PENDING until moderated). CONFLICT when the
/// customer already reviewed the sku.
pub async fn submit(
    db: &impl ConnectionTrait,
    rules: &Rules,
    principal: &Principal,
    new: NewReview,
    now: DateTime<Utc>,
) -> AppResult<review::Model> {
    let sku = checked(new.rating, &new.sku)?;
    let title = optional("title", new.title, 200)?;
    let body = optional("body", new.body, 10_000)?;
    owner::writable_customer(db, principal, new.customer_id).await?;
    if let Some(order_id) = new.order_id {
        let order = order::Entity::find_by_id(order_id).one(db).await?;
        if order.is_none_or(|o| o.customer_id != new.customer_id) {
            return Err(AppError::NotFound(format!(
                "no order with id {order_id} for this customer"
            )));
        }
    }
    let existing = review::Entity::find()
        .filter(review::Column::CustomerId.eq(new.customer_id))
        .filter(review::Column::ProductSku.eq(sku.as_str()))
        .one(db)
        .await?;
    if existing.is_some() {
        return Err(AppError::Conflict(format!(
            "this customer already reviewed {sku}; one review per customer and product"
        )));
    }
    let verified = verified_purchase(db, new.customer_id, &sku).await?;
    let now = now.trunc_subsecs(0);
    let review = review::ActiveModel {
        customer_id: Set(new.customer_id),
        product_sku: Set(sku),
        order_id: Set(new.order_id),
        rating: Set(new.rating),
        title: Set(title),
        body: Set(body),
        status: Set(ReviewStatus::Pending),
        verified_purchase: Set(verified),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    metrics::refresh_for(db, &rules.base_currency, &[review.customer_id], now).await?;
    audit::record(
        db,
        principal,
        "review.submit",
        &gid(Kind::Review, review.id),
        Some(review.customer_id),
        json!({ "sku": review.product_sku, "rating": review.rating, "verifiedPurchase": verified }),
        now,
    )
    .await?;
    events::emit(db, now, payload::review_submitted(&review)).await?;
    Ok(review)
}

/// Publishes or rejects a review (staff only).
pub async fn moderate(
    db: &impl ConnectionTrait,
    principal: &Principal,
    review_id: i64,
    status: ReviewStatus,
    now: DateTime<Utc>,
) -> AppResult<review::Model> {
    if principal.role != Role::Staff {
        return Err(AppError::Forbidden("only staff moderate reviews".into()));
    }
    if status == ReviewStatus::Pending {
        return Err(AppError::bad_input(
            "status",
            "moderation sets PUBLISHED or REJECTED",
        ));
    }
    let review = review::Entity::find_by_id(review_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no review with id {review_id}")))?;
    let from = Some(review.status);
    let mut active: review::ActiveModel = review.into();
    active.status = Set(status);
    active.updated_at = Set(now.trunc_subsecs(0));
    let review = active.update(db).await?;
    audit::record(
        db,
        principal,
        "review.moderate",
        &gid(Kind::Review, review.id),
        Some(review.customer_id),
        json!({ "from": from, "to": status }),
        now,
    )
    .await?;
    if published(from, status) {
        events::emit(db, now, payload::review_published(&review)).await?;
    }
    Ok(review)
}

/// Whether a review that was `from` and is now `to` has just been published.
fn published(from: Option<ReviewStatus>, to: ReviewStatus) -> bool {
    to == ReviewStatus::Published && from != Some(ReviewStatus::Published)
}

/// Checks the rating; returns the trimmed sku.
fn checked(rating: i32, sku: &str) -> AppResult<String> {
    if !(1..=5).contains(&rating) {
        return Err(AppError::bad_input(
            "rating",
            format!("rating is 1 to 5, not {rating}"),
        ));
    }
    text::required("sku", sku, 64)
}

/// Whether one of the customer's paid, not fully refunded orders holds `sku`.
async fn verified_purchase(
    db: &impl ConnectionTrait,
    customer_id: i64,
    sku: &str,
) -> AppResult<bool> {
    Ok(order_line::Entity::find()
        .select_only()
        .column(order_line::Column::Id)
        .inner_join(order::Entity)
        .filter(order_line::Column::CustomerId.eq(customer_id))
        .filter(order_line::Column::Sku.eq(sku))
        .filter(order::Column::Status.is_in(PURCHASED))
        .into_tuple::<i64>()
        .one(db)
        .await?
        .is_some())
}

/// A review as a reviews platform exported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedReview {
    pub customer_id: i64,
    pub sku: String,
    pub rating: i32,
    pub title: Option<String>,
    pub body: Option<String>,
    /// As moderated at the source.
    pub status: ReviewStatus,
    /// Defaults to now.
    pub created_at: Option<DateTime<Utc>>,
    /// The order reviewed, by its `externalRef`.
    pub order_external_ref: Option<String>,
}

/// Writes an exported review: one per customer and sku, so a review of a
/// sku the customer already reviewed updates it when anything differs.
/// `verified_purchase` is derived from the customer's orders, never taken
/// from the file.
pub async fn import(
    db: &impl ConnectionTrait,
    rules: &Rules,
    principal: &Principal,
    new: ImportedReview,
    now: DateTime<Utc>,
) -> AppResult<Outcome> {
    let sku = checked(new.rating, &new.sku)?;
    let title = optional("title", new.title, 200)?;
    let body = optional("body", new.body, 10_000)?;
    owner::writable_customer(db, principal, new.customer_id).await?;
    let order_id = match new.order_external_ref.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(reference) => Some(
            order::Entity::find()
                .select_only()
                .column(order::Column::Id)
                .filter(order::Column::ExternalRef.eq(reference))
                .filter(order::Column::CustomerId.eq(new.customer_id))
                .into_tuple::<i64>()
                .one(db)
                .await?
                .ok_or_else(|| {
                    AppError::NotFound(format!(
                        "no order with externalRef `{reference}` for this customer"
                    ))
                })?,
        ),
    };
    let verified = verified_purchase(db, new.customer_id, &sku).await?;
    let now = now.trunc_subsecs(0);
    let created_at = new.created_at.map_or(now, |c| c.trunc_subsecs(0));
    let existing = review::Entity::find()
        .filter(review::Column::CustomerId.eq(new.customer_id))
        .filter(review::Column::ProductSku.eq(sku.as_str()))
        .one(db)
        .await?;
    let (review, outcome, was) = match existing {
        Some(current) => {
            let same = current.rating == new.rating
                && current.title == title
                && current.body == body
                && current.status == new.status
                && current.order_id == order_id
                && current.verified_purchase == verified
                && (new.created_at.is_none() || current.created_at == created_at);
            if same {
                return Ok(Outcome::Unchanged);
            }
            let was = Some(current.status);
            let mut active: review::ActiveModel = current.into();
            active.rating = Set(new.rating);
            active.title = Set(title);
            active.body = Set(body);
            active.status = Set(new.status);
            active.order_id = Set(order_id);
            active.verified_purchase = Set(verified);
            if new.created_at.is_some() {
                active.created_at = Set(created_at);
            }
            active.updated_at = Set(now);
            (active.update(db).await?, Outcome::Updated, was)
        }
        None => (
            review::ActiveModel {
                customer_id: Set(new.customer_id),
                product_sku: Set(sku),
                order_id: Set(order_id),
                rating: Set(new.rating),
                title: Set(title),
                body: Set(body),
                status: Set(new.status),
                verified_purchase: Set(verified),
                created_at: Set(created_at),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(db)
            .await?,
            Outcome::Created,
            None,
        ),
    };
    metrics::refresh_for(db, &rules.base_currency, &[review.customer_id], now).await?;
    audit::record(
        db,
        principal,
        "review.import",
        &gid(Kind::Review, review.id),
        Some(review.customer_id),
        json!({ "sku": review.product_sku, "rating": review.rating, "status": review.status,
                "created": outcome == Outcome::Created }),
        now,
    )
    .await?;
    let submitted = was.is_none().then(|| payload::review_submitted(&review));
    let published = published(was, review.status).then(|| payload::review_published(&review));
    events::emit_all(db, now, submitted.into_iter().chain(published).collect()).await?;
    Ok(outcome)
}
