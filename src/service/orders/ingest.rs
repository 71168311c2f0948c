//! Ingesting an order: a new one is written with its lines, the points it
//! earns when PAID, and everything an order write keeps in step; the same
//! order posted again (by `externalRef`) is the first one, and tells
//! nothing new.
//!
//! A new order emits, in one insert: `order.placed`; when ingested PAID
//! also `order.paid`, `referral.rewarded` (the referee's first qualifying
//! order), `loyalty.points_earned` (and `loyalty.points_available` without
//! a return window); and `loyalty.tier_changed` when the tier moved.

use c360_entity::enums::OrderStatus;
use c360_entity::{order, order_line};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde_json::json;

use super::input::{NewLine, NewOrder};
use super::{after_write, target};
use crate::auth::{Principal, Role};
use crate::error::{AppError, AppResult};
use crate::events::{self, payload};
use crate::service::loyalty::TierReason;
use crate::service::{Rules, audit, loyalty, owner, referrals};

/// The result of an ingest: the order, and whether this call created it.
#[derive(Debug, Clone)]
pub struct Ingested {
    pub order: order::Model,
    pub created: bool,
}

/// Ingests an order: validates it, returns the existing order when
/// `external_ref` was seen with the same content (CONFLICT when the content
/// differs), or writes the order, its lines, the points it earns when PAID,
/// the customer's metrics, tier and balances, and the audit row.
pub async fn ingest(
    db: &impl ConnectionTrait,
    rules: &Rules,
    principal: &Principal,
    input: NewOrder,
    now: DateTime<Utc>,
) -> AppResult<Ingested> {
    let (input, subtotal) = input.validate()?;
    if principal.role == Role::Customer && input.status != OrderStatus::Pending {
        return Err(AppError::Forbidden(
            "a customer token may only place PENDING orders; payment is reported by a partner"
                .into(),
        ));
    }
    // Locks the customer first, so a retry racing the original post waits
    // for it and then finds the order by its external ref.
    owner::writable_customer(db, principal, input.customer_id).await?;
    if let Some(existing) = find_by_external_ref(db, input.external_ref.as_deref()).await? {
        return same_order(db, existing, &input)
            .await
            .map(|order| Ingested {
                order,
                created: false,
            });
    }
    let now = now.trunc_subsecs(0);
    let placeholder = format!(
        "pending-{}-{}",
        input.customer_id,
        now.timestamp_nanos_opt().unwrap_or_default()
    );
    let mut order = order_row(&input, subtotal, placeholder, now)
        .insert(db)
        .await?;
    if input.order_number.is_none() {
        let mut active: order::ActiveModel = order.into();
        let id = *active.id.as_ref();
        active.order_number = Set(default_order_number(id));
        order = active.update(db).await?;
    }
    order_line::Entity::insert_many(input.lines.iter().map(|l| line_row(&order, l)))
        .exec(db)
        .await?;
    let mut events = vec![payload::order_placed(&order)];
    let (points, because) = if order.status == OrderStatus::Paid {
        events.push(payload::order_paid(&order));
        events.extend(referrals::reward_on_paid(db, rules, &order, now).await?);
        let earned = loyalty::earn_for_order(db, rules, &order, now).await?;
        events.extend(earned.events);
        (earned.points, TierReason::OrderPaid)
    } else {
        (0, TierReason::SpendWindow)
    };
    events.extend(after_write(db, rules, &order, now, because).await?);
    audit::record(
        db,
        principal,
        "order.ingest",
        &target(&order),
        Some(order.customer_id),
        ingest_audit(&order, points),
        now,
    )
    .await?;
    events::emit_all(db, now, events).await?;
    Ok(Ingested {
        order,
        created: true,
    })
}

/// The row of a new order: `placeholder` stands for its number until the
/// id gives it one ([`default_order_number`]) when the sender gave none.
pub fn order_row(
    input: &NewOrder,
    subtotal: i64,
    placeholder: String,
    now: DateTime<Utc>,
) -> order::ActiveModel {
    order::ActiveModel {
        customer_id: Set(input.customer_id),
        order_number: Set(input.order_number.clone().unwrap_or(placeholder)),
        external_ref: Set(input.external_ref.clone()),
        status: Set(input.status),
        channel: Set(input.channel),
        currency: Set(input.currency.clone()),
        subtotal: Set(subtotal),
        discount: Set(input.discount),
        tax: Set(input.tax),
        total: Set(input.total),
        refunded: Set(0),
        placed_at: Set(input.placed_at.unwrap_or(now)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
}

/// The number of an order whose sender gave none.
pub fn default_order_number(id: i64) -> String {
    format!("C360-{id:06}")
}

/// The row of one line of a stored order.
pub fn line_row(order: &order::Model, l: &NewLine) -> order_line::ActiveModel {
    order_line::ActiveModel {
        order_id: Set(order.id),
        customer_id: Set(order.customer_id),
        sku: Set(l.sku.clone()),
        product_name: Set(l.product_name.clone()),
        quantity: Set(l.quantity),
        unit_price: Set(l.unit_price),
        category: Set(l.category.clone()),
        ..Default::default()
    }
}

/// The details of an `order.ingest` audit row.
pub fn ingest_audit(order: &order::Model, points: i64) -> serde_json::Value {
    json!({ "externalRef": order.external_ref, "status": order.status, "total": order.total,
            "currency": order.currency, "pointsEarned": points })
}

async fn find_by_external_ref(
    db: &impl ConnectionTrait,
    external_ref: Option<&str>,
) -> AppResult<Option<order::Model>> {
    let Some(r) = external_ref else {
        return Ok(None);
    };
    Ok(order::Entity::find()
        .filter(order::Column::ExternalRef.eq(r))
        .one(db)
        .await?)
}

/// The stored order when `input` is the same order posted again; CONFLICT
/// naming the first difference otherwise. Status and placement time may
/// have moved on since the first post and are not compared.
async fn same_order(
    db: &impl ConnectionTrait,
    existing: order::Model,
    input: &NewOrder,
) -> AppResult<order::Model> {
    let lines = order_line::Entity::find()
        .filter(order_line::Column::OrderId.eq(existing.id))
        .order_by_asc(order_line::Column::Id)
        .all(db)
        .await?;
    same_content(existing, &lines, input)
}

/// [`same_order`] on the stored order and its `lines` (in id order),
/// already read.
pub fn same_content(
    existing: order::Model,
    lines: &[order_line::Model],
    input: &NewOrder,
) -> AppResult<order::Model> {
    let stored: Vec<(&str, i32, i64, Option<&str>)> = lines
        .iter()
        .map(|l| {
            (
                l.sku.as_str(),
                l.quantity,
                l.unit_price,
                l.category.as_deref(),
            )
        })
        .collect();
    let posted: Vec<(&str, i32, i64, Option<&str>)> = input
        .lines
        .iter()
        .map(|l| {
            (
                l.sku.as_str(),
                l.quantity,
                l.unit_price,
                l.category.as_deref(),
            )
        })
        .collect();
    let difference = if existing.customer_id != input.customer_id {
        Some("customerId")
    } else if existing.currency != input.currency {
        Some("currency")
    } else if existing.total != input.total {
        Some("total")
    } else if existing.discount != input.discount {
        Some("discount")
    } else if existing.tax != input.tax {
        Some("tax")
    } else if existing.channel != input.channel {
        Some("channel")
    } else if stored != posted {
        Some("lines")
    } else if input
        .order_number
        .as_ref()
        .is_some_and(|n| *n != existing.order_number)
    {
        Some("orderNumber")
    } else {
        None
    };
    match difference {
        None => Ok(existing),
        Some(field) => Err(AppError::Conflict(format!(
            "externalRef `{}` already belongs to order {} with a different {field}; send the same payload to retry, or a new externalRef for a new order",
            existing.external_ref.as_deref().unwrap_or_default(),
            existing.order_number
        ))),
    }
}
