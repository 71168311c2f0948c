//! The order state machine, defined once for the API's mutations and the
//! import.
//!
//! Transitions: PENDING → PAID → FULFILLED; PENDING or PAID → CANCELLED;
//! PAID, FULFILLED or PARTIALLY_REFUNDED → PARTIALLY_REFUNDED or REFUNDED by
//! a refund. Anything else is CONFLICT naming the current status. An order
//! never goes back: [`replay`] takes a stored order forward to the status
//! and refund a file gives it through the same [`set_status`] and
//! [`refund`] the API calls.
//!
//! Events, each move in one insert: PAID is `order.paid` (with the
//! payment's `referral.rewarded`, `loyalty.points_earned` and
//! `loyalty.points_available` as on ingest), FULFILLED `order.fulfilled`,
//! CANCELLED `order.cancelled`, a refund `order.refunded`; any of them
//! `loyalty.tier_changed` when the tier moved.

use c360_entity::enums::OrderStatus;
use c360_entity::order;
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};
use serde_json::json;

use super::{after_write, target};
use crate::auth::{Principal, Role};
use crate::error::{AppError, AppResult};
use crate::events::{self, payload};
use crate::service::loyalty::TierReason;
use crate::service::{Rules, audit, loyalty, owner, referrals, store_credit};

/// Whether `to` may follow `from` through a status change (refunds have
/// their own function).
pub fn may_move(from: OrderStatus, to: OrderStatus) -> bool {
    use OrderStatus::*;
    matches!(
        (from, to),
        (Pending, Paid) | (Pending, Cancelled) | (Paid, Fulfilled) | (Paid, Cancelled)
    )
}

/// Whether an order of `status` can be refunded: it was paid and is not
/// refunded in full.
pub fn may_refund(status: OrderStatus) -> bool {
    matches!(
        status,
        OrderStatus::Paid | OrderStatus::Fulfilled | OrderStatus::PartiallyRefunded
    )
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
    let mut events = Vec::new();
    let (points, because) = match status {
        OrderStatus::Paid => {
            events.push(payload::order_paid(&order));
            events.extend(referrals::reward_on_paid(db, rules, &order, now).await?);
            let earned = loyalty::earn_for_order(db, rules, &order, now).await?;
            events.extend(earned.events);
            (earned.points, TierReason::OrderPaid)
        }
        OrderStatus::Cancelled => {
            // Only a paid order earned points, and only its spend counted.
            let (taken, because) = if from == OrderStatus::Paid {
                let owed =
                    loyalty::points_for(rules, order.total - order.refunded, &order.currency);
                let taken = loyalty::claw_back(db, &order, owed, now).await?;
                (taken, TierReason::OrderCancelled)
            } else {
                (0, TierReason::SpendWindow)
            };
            events.push(payload::order_cancelled(&order, taken));
            (-taken, because)
        }
        // FULFILLED: the one move `may_move` leaves.
        _ => {
            events.push(payload::order_fulfilled(&order));
            (0, TierReason::SpendWindow)
        }
    };
    events.extend(after_write(db, rules, &order, now, because).await?);
    audit::record(
        db,
        principal,
        "order.status",
        &target(&order),
        Some(order.customer_id),
        status_audit(from, status, points),
        now,
    )
    .await?;
    events::emit_all(db, now, events).await?;
    Ok(order)
}

/// Where a refund's money goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RefundTo {
    /// Back to how the order was paid (outside c360).
    #[default]
    PaymentMethod,
    /// To the customer's store credit, in the order's currency.
    StoreCredit,
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
    refund_to(
        db,
        rules,
        principal,
        order_id,
        amount,
        RefundTo::PaymentMethod,
        now,
    )
    .await
}

/// As [`refund`], the money going `to` the payment method or to store
/// credit: the same rules, status and points, and for store credit a
/// REFUND_TO_CREDIT entry of `amount` in the order's currency with its
/// `store_credit.issued` event, in the same transaction (staff, or a
/// partner that also holds `loyalty:write`).
pub async fn refund_to(
    db: &impl ConnectionTrait,
    rules: &Rules,
    principal: &Principal,
    order_id: i64,
    amount: i64,
    to: RefundTo,
    now: DateTime<Utc>,
) -> AppResult<order::Model> {
    if to == RefundTo::StoreCredit {
        store_credit::may_credit_refund(principal)?;
    }
    if amount <= 0 {
        return Err(AppError::bad_input(
            "amount",
            format!("amount must be positive (minor units), not {amount}"),
        ));
    }
    let order = changeable(db, principal, order_id).await?;
    if !may_refund(order.status) {
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
    let owed = refund_points(rules, &order.currency, before, after);
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
    let mut events = vec![payload::order_refunded(&order, amount, clawed)];
    if to == RefundTo::StoreCredit {
        events.push(store_credit::credit_refund(db, rules, &order, amount, now).await?);
    }
    events.extend(after_write(db, rules, &order, now, TierReason::Refund).await?);
    audit::record(
        db,
        principal,
        "order.refund",
        &target(&order),
        Some(order.customer_id),
        credited(refund_audit(&order, amount, clawed), to),
        now,
    )
    .await?;
    events::emit_all(db, now, events).await?;
    Ok(order)
}

/// The points a refund taking an order's refunded amount from `before` to
/// `after` takes back: those the refunded money earned.
pub fn refund_points(rules: &Rules, currency: &str, before: i64, after: i64) -> i64 {
    loyalty::points_for(rules, after, currency) - loyalty::points_for(rules, before, currency)
}

/// The details of an `order.status` audit row.
pub fn status_audit(from: OrderStatus, to: OrderStatus, points: i64) -> serde_json::Value {
    json!({ "from": from, "to": to, "points": points })
}

/// The details of an `order.refund` audit row: `order` as refunded.
pub fn refund_audit(order: &order::Model, amount: i64, clawed: i64) -> serde_json::Value {
    json!({ "amount": amount, "refunded": order.refunded, "status": order.status,
            "pointsClawedBack": clawed })
}

/// A refund's audit details, saying when the money went to store credit.
fn credited(mut details: serde_json::Value, to: RefundTo) -> serde_json::Value {
    if to == RefundTo::StoreCredit
        && let Some(fields) = details.as_object_mut()
    {
        fields.insert("refundTo".into(), json!("STORE_CREDIT"));
    }
    details
}

// ------------------------------------------------- replaying a given state

/// The amount an order of `status` and `total` has refunded, given
/// `refunded` as a file states it: the total for REFUNDED (which may say
/// so), 1 to total - 1 for PARTIALLY_REFUNDED, nothing for any other
/// status. BAD_USER_INPUT on `refunded` otherwise.
pub fn refunded_for(status: OrderStatus, refunded: Option<i64>, total: i64) -> AppResult<i64> {
    Ok(match (status, refunded) {
        (OrderStatus::Refunded, Some(r)) if r != total => {
            return Err(AppError::bad_input(
                "refunded",
                format!("a REFUNDED order refunded its total ({total}), not {r}"),
            ));
        }
        (OrderStatus::Refunded, _) => total,
        (OrderStatus::PartiallyRefunded, Some(r)) if r > 0 && r < total => r,
        (OrderStatus::PartiallyRefunded, _) => {
            return Err(AppError::bad_input(
                "refunded",
                format!(
                    "a PARTIALLY_REFUNDED order needs refunded between 1 and {}",
                    total - 1
                ),
            ));
        }
        (_, None | Some(0)) => 0,
        (_, Some(r)) => {
            return Err(AppError::bad_input(
                "refunded",
                format!(
                    "refunded is {r} but the status is {}; only refunded orders refund",
                    status_name(status)
                ),
            ));
        }
    })
}

/// The status an order is ingested with on its way to `status`: PENDING
/// for what is still pending or was cancelled before payment, PAID for
/// everything that was paid.
pub fn entry_status(status: OrderStatus) -> OrderStatus {
    match status {
        OrderStatus::Pending | OrderStatus::Cancelled => OrderStatus::Pending,
        _ => OrderStatus::Paid,
    }
}

/// One move of the state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Status(OrderStatus),
    Refund(i64),
}

/// The moves from the stored `(status, refunded)` to the given one, each
/// allowed by [`may_move`] or [`may_refund`]; CONFLICT when the given
/// state cannot follow the stored one (an order never goes back).
pub fn steps(from: (OrderStatus, i64), to: (OrderStatus, i64)) -> AppResult<Vec<Step>> {
    use OrderStatus::*;
    let (status, refunded) = from;
    let (target, target_refunded) = to;
    if status == target && refunded == target_refunded {
        return Ok(vec![]);
    }
    let steps = if matches!(target, PartiallyRefunded | Refunded) {
        // Refund statuses follow from refunds of a paid order; a pending
        // one is paid first.
        let refund =
            (target_refunded > refunded).then_some(Step::Refund(target_refunded - refunded));
        if may_refund(status) {
            refund.map(|r| vec![r])
        } else if may_move(status, Paid) {
            Some(std::iter::once(Step::Status(Paid)).chain(refund).collect())
        } else {
            None
        }
    } else if may_move(status, target) {
        Some(vec![Step::Status(target)])
    } else if may_move(status, Paid) && may_move(Paid, target) {
        Some(vec![Step::Status(Paid), Step::Status(target)])
    } else {
        None
    };
    steps.ok_or_else(|| {
        AppError::Conflict(format!(
            "the stored order is {} (refunded {refunded}); it cannot become {} (refunded {target_refunded})",
            status_name(status),
            status_name(target)
        ))
    })
}

/// Takes the stored `order` to `to` (a status and the amount refunded, as
/// [`refunded_for`] gives it) through [`set_status`] and [`refund`], so
/// points, tiers and metrics follow the same rules as the API. Whether
/// anything changed.
pub async fn replay(
    db: &impl ConnectionTrait,
    rules: &Rules,
    principal: &Principal,
    order: &order::Model,
    to: (OrderStatus, i64),
    now: DateTime<Utc>,
) -> AppResult<bool> {
    let steps = steps((order.status, order.refunded), to)?;
    let changed = !steps.is_empty();
    for step in steps {
        match step {
            Step::Status(s) => {
                set_status(db, rules, principal, order.id, s, now).await?;
            }
            Step::Refund(amount) => {
                refund(db, rules, principal, order.id, amount, now).await?;
            }
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus::*;

    #[test]
    fn orders_move_forward_only() {
        assert_eq!(steps((Pending, 0), (Pending, 0)).ok(), Some(vec![]));
        assert_eq!(
            steps((Pending, 0), (Fulfilled, 0)).ok(),
            Some(vec![Step::Status(Paid), Step::Status(Fulfilled)])
        );
        assert_eq!(
            steps((Paid, 0), (PartiallyRefunded, 300)).ok(),
            Some(vec![Step::Refund(300)])
        );
        assert_eq!(
            steps((PartiallyRefunded, 300), (Refunded, 1000)).ok(),
            Some(vec![Step::Refund(700)])
        );
        assert_eq!(
            steps((Pending, 0), (Refunded, 1000)).ok(),
            Some(vec![Step::Status(Paid), Step::Refund(1000)])
        );
        for (from, to) in [
            ((Fulfilled, 0), (Paid, 0)),
            ((Cancelled, 0), (Paid, 0)),
            ((Refunded, 1000), (PartiallyRefunded, 300)),
            ((PartiallyRefunded, 500), (PartiallyRefunded, 300)),
            ((Fulfilled, 0), (Cancelled, 0)),
        ] {
            assert!(steps(from, to).is_err(), "{from:?} -> {to:?}");
        }
    }

    #[test]
    fn every_step_is_a_move_the_api_allows() {
        let all = [
            Pending,
            Paid,
            Fulfilled,
            Cancelled,
            PartiallyRefunded,
            Refunded,
        ];
        for from in all {
            for to in all {
                for (r, tr) in [(0, 0), (0, 300), (300, 1000), (0, 1000)] {
                    let Ok(path) = steps((from, r), (to, tr)) else {
                        continue;
                    };
                    let mut at = from;
                    for step in path {
                        match step {
                            Step::Status(s) => assert!(may_move(at, s), "{from:?} -> {to:?}"),
                            Step::Refund(_) => assert!(may_refund(at), "{from:?} -> {to:?}"),
                        }
                        at = match step {
                            Step::Status(s) => s,
                            Step::Refund(_) => to,
                        };
                    }
                }
            }
        }
    }

    #[test]
    fn a_file_states_what_its_status_refunded() {
        assert_eq!(refunded_for(Refunded, None, 1000).ok(), Some(1000));
        assert!(refunded_for(Refunded, Some(50), 1000).is_err());
        assert_eq!(
            refunded_for(PartiallyRefunded, Some(300), 1000).ok(),
            Some(300)
        );
        assert!(refunded_for(PartiallyRefunded, Some(1000), 1000).is_err());
        assert!(refunded_for(PartiallyRefunded, None, 1000).is_err());
        assert_eq!(refunded_for(Paid, Some(0), 1000).ok(), Some(0));
        assert!(refunded_for(Paid, Some(5), 1000).is_err());
        assert_eq!(entry_status(Cancelled), Pending);
        assert_eq!(entry_status(Refunded), Paid);
    }
}
