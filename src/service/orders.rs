//! Orders: idempotent ingest, status transitions, refunds, and the points,
//! tier, metrics and audit row every one of them changes, written by the
//! caller's transaction so a failure leaves nothing behind.
//!
//! Transitions: PENDING → PAID → FULFILLED; PENDING or PAID → CANCELLED;
//! PAID, FULFILLED or PARTIALLY_REFUNDED → PARTIALLY_REFUNDED or REFUNDED by
//! a refund. Anything else is CONFLICT naming the current status.

use c360_entity::enums::{OrderChannel, OrderStatus};
use c360_entity::{order, order_line};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde_json::json;

use super::{Rules, audit, loyalty, metrics, owner};
use crate::auth::{Principal, Role};
use crate::domain::ids::{Kind, gid};
use crate::error::{AppError, AppResult};

/// An order as a sender posts it; amounts in minor units of `currency`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub customer_id: i64,
    /// The sender's id: posting the same order again returns the first one.
    pub external_ref: Option<String>,
    /// Defaults to `C360-<id>`.
    pub order_number: Option<String>,
    /// PENDING or PAID.
    pub status: OrderStatus,
    pub channel: OrderChannel,
    pub currency: String,
    pub discount: i64,
    pub tax: i64,
    /// Must equal the lines' sum - discount + tax.
    pub total: i64,
    /// Defaults to now.
    pub placed_at: Option<DateTime<Utc>>,
    pub lines: Vec<NewLine>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLine {
    pub sku: String,
    pub product_name: String,
    pub quantity: i32,
    pub unit_price: i64,
}

/// The result of an ingest: the order, and whether this call created it.
#[derive(Debug, Clone)]
pub struct Ingested {
    pub order: order::Model,
    pub created: bool,
}

const MAX_LINES: usize = 500;
const MAX_TEXT: usize = 200;

fn text(field: &str, value: &str, max: usize) -> AppResult<String> {
    let value = value.trim();
    if value.is_empty() || value.len() > max {
        return Err(AppError::bad_input(
            field,
            format!("{field} must be 1 to {max} characters"),
        ));
    }
    Ok(value.to_owned())
}

fn non_negative(field: &str, value: i64) -> AppResult<()> {
    if value < 0 {
        return Err(AppError::bad_input(
            field,
            format!("{field} must be zero or more (minor units), not {value}"),
        ));
    }
    Ok(())
}

/// An ISO 4217 alphabetic code: three upper-case ASCII letters.
pub fn validate_currency(field: &str, code: &str) -> AppResult<()> {
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(AppError::bad_input(
            field,
            format!("`{code}` is not an ISO 4217 currency code such as USD or EUR"),
        ))
    }
}

impl NewOrder {
    /// Trims and checks every field; returns the order with normalised text
    /// and its subtotal. Nothing is read or written.
    pub fn validate(mut self) -> AppResult<(NewOrder, i64)> {
        if let Some(r) = &self.external_ref {
            self.external_ref = Some(text("externalRef", r, MAX_TEXT)?);
        }
        if let Some(n) = &self.order_number {
            self.order_number = Some(text("orderNumber", n, 64)?);
        }
        if !matches!(self.status, OrderStatus::Pending | OrderStatus::Paid) {
            return Err(AppError::bad_input(
                "status",
                format!(
                    "an order is ingested as PENDING or PAID, not {:?}; later changes go through orderUpdateStatus and orderRefund",
                    self.status
                ),
            ));
        }
        validate_currency("currency", &self.currency)?;
        non_negative("discount", self.discount)?;
        non_negative("tax", self.tax)?;
        non_negative("total", self.total)?;
        if self.lines.is_empty() || self.lines.len() > MAX_LINES {
            return Err(AppError::bad_input(
                "lines",
                format!("an order needs 1 to {MAX_LINES} lines"),
            ));
        }
        let mut subtotal: i64 = 0;
        for (i, line) in self.lines.iter_mut().enumerate() {
            line.sku = text(&format!("lines[{i}].sku"), &line.sku, 64)?;
            line.product_name = text(
                &format!("lines[{i}].productName"),
                &line.product_name,
                MAX_TEXT,
            )?;
            if line.quantity < 1 {
                return Err(AppError::bad_input(
                    format!("lines[{i}].quantity"),
                    format!("quantity must be at least 1, not {}", line.quantity),
                ));
            }
            non_negative(&format!("lines[{i}].unitPrice"), line.unit_price)?;
            subtotal = line
                .unit_price
                .checked_mul(i64::from(line.quantity))
                .and_then(|l| subtotal.checked_add(l))
                .ok_or_else(|| {
                    AppError::bad_input(format!("lines[{i}].unitPrice"), "amount too large")
                })?;
        }
        if self.discount > subtotal {
            return Err(AppError::bad_input(
                "discount",
                format!(
                    "discount {} exceeds the lines' subtotal {subtotal}",
                    self.discount
                ),
            ));
        }
        let expected = subtotal - self.discount + self.tax;
        if self.total != expected {
            return Err(AppError::bad_input(
                "total",
                format!(
                    "total {} does not match the lines: subtotal {subtotal} - discount {} + tax {} = {expected}",
                    self.total, self.discount, self.tax
                ),
            ));
        }
        Ok((self, subtotal))
    }
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
    let mut order = order::ActiveModel {
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
    .insert(db)
    .await?;
    if input.order_number.is_none() {
        let mut active: order::ActiveModel = order.into();
        let id = *active.id.as_ref();
        active.order_number = Set(format!("C360-{id:06}"));
        order = active.update(db).await?;
    }
    order_line::Entity::insert_many(input.lines.iter().map(|l| order_line::ActiveModel {
        order_id: Set(order.id),
        customer_id: Set(order.customer_id),
        sku: Set(l.sku.clone()),
        product_name: Set(l.product_name.clone()),
        quantity: Set(l.quantity),
        unit_price: Set(l.unit_price),
        ..Default::default()
    }))
    .exec(db)
    .await?;
    let points = if order.status == OrderStatus::Paid {
        super::referrals::reward_on_paid(db, rules, &order, now).await?;
        loyalty::earn_for_order(db, rules, &order, now).await?
    } else {
        0
    };
    after_write(db, rules, &order, now).await?;
    audit::record(
        db,
        principal,
        "order.ingest",
        &target(&order),
        Some(order.customer_id),
        json!({ "externalRef": order.external_ref, "status": order.status, "total": order.total,
                "currency": order.currency, "pointsEarned": points }),
        now,
    )
    .await?;
    Ok(Ingested {
        order,
        created: true,
    })
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
    let stored: Vec<(&str, i32, i64)> = lines
        .iter()
        .map(|l| (l.sku.as_str(), l.quantity, l.unit_price))
        .collect();
    let posted: Vec<(&str, i32, i64)> = input
        .lines
        .iter()
        .map(|l| (l.sku.as_str(), l.quantity, l.unit_price))
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

/// Loads an order the caller may change: NOT_FOUND when missing or another
/// customer's; FORBIDDEN for CUSTOMER tokens, since payment, fulfilment and
/// refunds are reported by partners and staff.
async fn changeable(
    db: &impl ConnectionTrait,
    principal: &Principal,
    order_id: i64,
) -> AppResult<order::Model> {
    let order = order::Entity::find_by_id(order_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no order with id {order_id}")))?;
    owner::writable_customer(db, principal, order.customer_id)
        .await
        .map_err(|_| AppError::NotFound(format!("no order with id {order_id}")))?;
    if principal.role == Role::Customer {
        return Err(AppError::Forbidden(
            "order status and refunds are changed by partners and staff".into(),
        ));
    }
    Ok(order)
}

/// Whether `to` may follow `from` through a status change (refunds have
/// their own function).
pub fn may_move(from: OrderStatus, to: OrderStatus) -> bool {
    use OrderStatus::*;
    matches!(
        (from, to),
        (Pending, Paid) | (Pending, Cancelled) | (Paid, Fulfilled) | (Paid, Cancelled)
    )
}

/// Moves an order to `status`. PAID earns the order's points; cancelling a
/// PAID order takes them back.
pub async fn set_status(
    db: &impl ConnectionTrait,
    rules: &Rules,
    principal: &Principal,
    order_id: i64,
    status: OrderStatus,
    now: DateTime<Utc>,
) -> AppResult<order::Model> {
    if matches!(
        status,
        OrderStatus::Refunded | OrderStatus::PartiallyRefunded
    ) {
        return Err(AppError::bad_input(
            "status",
            "refund statuses follow from orderRefund, which records the amount",
        ));
    }
    let order = changeable(db, principal, order_id).await?;
    let from = order.status;
    if !may_move(from, status) {
        return Err(AppError::Conflict(format!(
            "order {} is {}; it cannot become {}",
            order.order_number,
            status_name(from),
            status_name(status)
        )));
    }
    let now = now.trunc_subsecs(0);
    let mut active: order::ActiveModel = order.into();
    active.status = Set(status);
    active.updated_at = Set(now);
    let order = active.update(db).await?;
    let points = match (from, status) {
        (_, OrderStatus::Paid) => {
            super::referrals::reward_on_paid(db, rules, &order, now).await?;
            loyalty::earn_for_order(db, rules, &order, now).await?
        }
        (OrderStatus::Paid, OrderStatus::Cancelled) => {
            let owed = loyalty::points_for(rules, order.total - order.refunded, &order.currency);
            -loyalty::claw_back(db, &order, owed, now).await?
        }
        _ => 0,
    };
    after_write(db, rules, &order, now).await?;
    audit::record(
        db,
        principal,
        "order.status",
        &target(&order),
        Some(order.customer_id),
        json!({ "from": from, "to": status, "points": points }),
        now,
    )
    .await?;
    Ok(order)
}

/// Refunds `amount` (minor units) of a paid order: REFUNDED once everything
/// is refunded, PARTIALLY_REFUNDED before; the points of the refunded amount
/// are taken back.
pub async fn refund(
    db: &impl ConnectionTrait,
    rules: &Rules,
    principal: &Principal,
    order_id: i64,
    amount: i64,
    now: DateTime<Utc>,
) -> AppResult<order::Model> {
    if amount <= 0 {
        return Err(AppError::bad_input(
            "amount",
            format!("amount must be positive (minor units), not {amount}"),
        ));
    }
    let order = changeable(db, principal, order_id).await?;
    if !matches!(
        order.status,
        OrderStatus::Paid | OrderStatus::Fulfilled | OrderStatus::PartiallyRefunded
    ) {
        return Err(AppError::Conflict(format!(
            "order {} is {}; only PAID, FULFILLED or PARTIALLY_REFUNDED orders can be refunded",
            order.order_number,
            status_name(order.status)
        )));
    }
    let total = order.total;
    let refundable = total - order.refunded;
    if amount > refundable {
        return Err(AppError::bad_input(
            "amount",
            format!(
                "amount {amount} exceeds what order {} can still refund ({refundable})",
                order.order_number
            ),
        ));
    }
    let now = now.trunc_subsecs(0);
    let before = order.refunded;
    let after = before + amount;
    let owed = loyalty::points_for(rules, after, &order.currency)
        - loyalty::points_for(rules, before, &order.currency);
    let mut active: order::ActiveModel = order.into();
    active.refunded = Set(after);
    active.status = Set(if after == total {
        OrderStatus::Refunded
    } else {
        OrderStatus::PartiallyRefunded
    });
    active.updated_at = Set(now);
    let order = active.update(db).await?;
    let clawed = loyalty::claw_back(db, &order, owed, now).await?;
    after_write(db, rules, &order, now).await?;
    audit::record(
        db,
        principal,
        "order.refund",
        &target(&order),
        Some(order.customer_id),
        json!({ "amount": amount, "refunded": order.refunded, "status": order.status,
                "pointsClawedBack": clawed }),
        now,
    )
    .await?;
    Ok(order)
}

/// What every order write keeps in step: metrics, tier and balances.
async fn after_write(
    db: &impl ConnectionTrait,
    rules: &Rules,
    order: &order::Model,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let ids = [order.customer_id];
    metrics::refresh_for(db, &rules.base_currency, &ids).await?;
    loyalty::refresh_tier(db, rules, order.customer_id, now).await?;
    loyalty::refresh_balances(db, Some(&ids)).await
}

fn target(order: &order::Model) -> String {
    gid(Kind::Order, order.id)
}

/// The status as the API spells it.
pub fn status_name(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::Pending => "PENDING",
        OrderStatus::Paid => "PAID",
        OrderStatus::Fulfilled => "FULFILLED",
        OrderStatus::Cancelled => "CANCELLED",
        OrderStatus::Refunded => "REFUNDED",
        OrderStatus::PartiallyRefunded => "PARTIALLY_REFUNDED",
    }
}
