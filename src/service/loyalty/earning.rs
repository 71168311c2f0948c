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
    let Some(row) = earn_row(rules, order, now) else {
        return Ok(Earned::default());
    };
    let earn = row.insert(db).await?;
    Ok(earned(&earn))
}

/// The EARN row paying `order` writes ([`earn_for_order`]); `None` when
/// it earns nothing.
pub fn earn_row(
    rules: &Rules,
    order: &order::Model,
    now: DateTime<Utc>,
) -> Option<loyalty_transaction::ActiveModel> {
    let points = points_for(rules, order.total - order.refunded, &order.currency);
    if points <= 0 {
        return None;
    }
    let state = if rules.return_window.is_zero() {
        LoyaltyTransactionState::Available
    } else {
        LoyaltyTransactionState::Pending
    };
    Some(loyalty_transaction::ActiveModel {
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
    })
}

/// What a stored EARN row earned, with its events.
pub fn earned(earn: &loyalty_transaction::Model) -> Earned {
    let mut events = vec![payload::points_earned(earn)];
    // Settlement tells of PENDING points when their window ends; points
    // that never wait are spendable now.
    if earn.state == LoyaltyTransactionState::Available {
        events.push(payload::points_available(earn.customer_id, earn.points));
    }
    Earned {
        points: earn.points,
        events,
    }
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
    let plan = plan_claw_back(&rows, points);
    let mut taken = 0;
    if plan.from_pending > 0 {
        clawback_row(
            order,
            plan.from_pending,
            LoyaltyTransactionState::Pending,
            plan.settles_at,
            now,
        )
        .insert(db)
        .await?;
        taken += plan.from_pending;
    }
    if plan.rest > 0 {
        let balance = available_in_ledger(db, order.customer_id).await?;
        let from_available = from_available(plan.rest, balance);
        if from_available > 0 {
            clawback_row(
                order,
                from_available,
                LoyaltyTransactionState::Available,
                Some(now),
                now,
            )
            .insert(db)
            .await?;
            taken += from_available;
        }
    }
    Ok(taken)
}

/// How a take-back of `points` splits over the order's ledger `rows`
/// ([`claw_back`]): what comes from its PENDING points, settling when
/// they do, and what is left to take from the AVAILABLE balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClawBackPlan {
    pub from_pending: i64,
    pub settles_at: Option<DateTime<Utc>>,
    pub rest: i64,
}

/// The plan of taking back up to `points` from an order whose ledger rows
/// are `rows`: never more than it earned minus what was taken back.
pub fn plan_claw_back(rows: &[loyalty_transaction::Model], points: i64) -> ClawBackPlan {
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
    let left = Ord::max(Ord::min(points, earned - clawed), 0);
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
    ClawBackPlan {
        from_pending,
        settles_at,
        rest: left - from_pending,
    }
}

/// What the rest of a take-back takes from an AVAILABLE `balance`: never
/// more than the balance holds.
pub fn from_available(rest: i64, balance: i64) -> i64 {
    Ord::min(rest, Ord::max(balance, 0))
}

/// A CLAWBACK row taking `points` back from `order`.
pub fn clawback_row(
    order: &order::Model,
    points: i64,
    state: LoyaltyTransactionState,
    available_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> loyalty_transaction::ActiveModel {
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
}
