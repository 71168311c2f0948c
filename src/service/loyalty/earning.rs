//! Points earned on orders: the EARN row of a paid order (PENDING through
//! the return window) with its events, and the CLAWBACK rows of refunds and
//! cancellations (which the order's own event reports).

use c360_entity::enums::{LoyaltyTransactionKind, LoyaltyTransactionState};
use c360_entity::{loyalty_transaction, order};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use super::balances::available_in_ledger;
use crate::domain::money::minor_digits;
use crate::error::AppResult;
use crate::events::{NewEvent, payload};
use crate::service::Rules;

/// Points an amount of `currency` (minor units) earns: `points_per_unit` per
/// whole major unit, rounded down. Only base-currency orders earn, as only
/// they count towards metrics and tiers.
pub fn points_for(rules: &Rules, amount_minor: i64, currency: &str) -> i64 {
    if currency != rules.base_currency || amount_minor <= 0 || rules.points_per_unit <= 0 {
        return 0;
    }
    let scale = 10i128.pow(minor_digits(currency));
    let points = i128::from(amount_minor) * i128::from(rules.points_per_unit) / scale;
    i64::try_from(points).unwrap_or(i64::MAX)
}

/// What paying an order earned: the points, and the events to emit with
/// the write (`loyalty.points_earned`, and `loyalty.points_available` when
/// there is no return window to wait for).
#[derive(Debug, Clone, Default)]
pub struct Earned {
    pub points: i64,
    pub events: Vec<NewEvent>,
}

/// Writes the EARN row of a freshly PAID order: PENDING until the return
/// window ends (AVAILABLE at once for a zero window). The idempotency key
/// `order:<id>:earn` makes a second earn for the same order a unique
/// violation instead of doubled points.
pub async fn earn_for_order(
    db: &impl ConnectionTrait,
    rules: &Rules,
    order: &order::Model,
    now: DateTime<Utc>,
) -> AppResult<Earned> {
    let points = points_for(rules, order.total - order.refunded, &order.currency);
    if points <= 0 {
        return Ok(Earned::default());
    }
    let state = if rules.return_window.is_zero() {
        LoyaltyTransactionState::Available
    } else {
        LoyaltyTransactionState::Pending
    };
    let earn = loyalty_transaction::ActiveModel {
        customer_id: Set(order.customer_id),
        kind: Set(LoyaltyTransactionKind::Earn),
        points: Set(points),
        state: Set(state),
        order_id: Set(Some(order.id)),
        idempotency_key: Set(Some(format!("order:{}:earn", order.id))),
        description: Set(Some(format!("order {}", order.order_number))),
        available_at: Set(Some(now + rules.return_window)),
        expires_at: Set(rules.expiry(now + rules.return_window)),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    let mut events = vec![payload::points_earned(&earn)];
    // Settlement tells of PENDING points when their window ends; points
    // that never wait are spendable now.
    if state == LoyaltyTransactionState::Available {
        events.push(payload::points_available(order.customer_id, points));
    }
    Ok(Earned { points, events })
}

/// Takes back up to `points` earned on `order` (a refund or a cancellation):
/// first from the order's points still PENDING (a PENDING CLAWBACK row that
/// settles together with the EARN row, so the pair nets out), then from the
/// AVAILABLE balance, never more than the balance holds and never more than
/// the order earned minus what was already taken back. Returns the points
/// taken.
pub async fn claw_back(
    db: &impl ConnectionTrait,
    order: &order::Model,
    points: i64,
    now: DateTime<Utc>,
) -> AppResult<i64> {
    if points <= 0 {
        return Ok(0);
    }
    use loyalty_transaction::Column as L;
    let rows = loyalty_transaction::Entity::find()
        .filter(L::CustomerId.eq(order.customer_id))
        .filter(L::OrderId.eq(order.id))
        .all(db)
        .await?;
    let earned: i64 = rows
        .iter()
        .filter(|r| {
            r.kind == LoyaltyTransactionKind::Earn && r.state != LoyaltyTransactionState::Cancelled
        })
        .map(|r| r.points)
        .sum();
    let clawed: i64 = rows
        .iter()
        .filter(|r| r.kind == LoyaltyTransactionKind::Clawback)
        .map(|r| -r.points)
        .sum();
    let mut left = Ord::max(Ord::min(points, earned - clawed), 0);
    let mut taken = 0;
    let pending: i64 = rows
        .iter()
        .filter(|r| r.state == LoyaltyTransactionState::Pending)
        .map(|r| r.points)
        .sum();
    let settles_at = rows
        .iter()
        .filter(|r| r.state == LoyaltyTransactionState::Pending)
        .filter_map(|r| r.available_at)
        .max();
    let from_pending = Ord::min(left, Ord::max(pending, 0));
    if from_pending > 0 {
        clawback_row(
            db,
            order,
            from_pending,
            LoyaltyTransactionState::Pending,
            settles_at,
            now,
        )
        .await?;
        left -= from_pending;
        taken += from_pending;
    }
    if left > 0 {
        let balance = available_in_ledger(db, order.customer_id).await?;
        let from_available = Ord::min(left, Ord::max(balance, 0));
        if from_available > 0 {
            clawback_row(
                db,
                order,
                from_available,
                LoyaltyTransactionState::Available,
                Some(now),
                now,
            )
            .await?;
            taken += from_available;
        }
    }
    Ok(taken)
}

async fn clawback_row(
    db: &impl ConnectionTrait,
    order: &order::Model,
    points: i64,
    state: LoyaltyTransactionState,
    available_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    loyalty_transaction::ActiveModel {
        customer_id: Set(order.customer_id),
        kind: Set(LoyaltyTransactionKind::Clawback),
        points: Set(-points),
        state: Set(state),
        order_id: Set(Some(order.id)),
        idempotency_key: Set(None),
        description: Set(Some(format!("refund of order {}", order.order_number))),
        available_at: Set(available_at),
        expires_at: Set(None),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}
