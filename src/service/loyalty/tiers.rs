//! Tiers from spend: the trailing-window net spend in the base currency,
//! and the tier a write leads to under the tier policy, written on the
//! account; a change of tier is a `loyalty.tier_changed` event with its
//! direction and reason.

use c360_entity::{loyalty_account, order};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{ActiveEnum, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::balances::scalar_i64;
use super::review;
use crate::domain::orders::SPENDING;
use crate::domain::tiers;
use crate::error::AppResult;
use crate::events::{self, NewEvent};
use crate::service::Rules;

/// Net spend of the trailing twelve months in the base currency: paid,
/// fulfilled and (partially) refunded orders placed within the tier window
/// (`domain::tiers::WINDOW`), `total - refunded`.
pub async fn trailing_spend(
    db: &impl ConnectionTrait,
    rules: &Rules,
    customer_id: i64,
    now: DateTime<Utc>,
) -> AppResult<i64> {
    scalar_i64(db, &spend_select(rules, customer_id, now)).await
}

/// `SELECT <net spend in the tier window>` of one customer.
fn spend_select(rules: &Rules, customer_id: i64, now: DateTime<Utc>) -> SelectStatement {
    window_spend(rules, now)
        .and_where(Expr::col(order::Column::CustomerId).eq(customer_id))
        .to_owned()
}

/// `SELECT <net spend in the tier window ending at now> FROM orders`, for
/// the caller to narrow to one customer: the orders tiers count (as
/// `review` reads them), summed over the window.
fn window_spend(rules: &Rules, now: DateTime<Utc>) -> SelectStatement {
    use order::Column as O;
    Query::select()
        .expr(Expr::cust(
            r#"CAST(COALESCE(SUM("orders"."total" - "orders"."refunded"), 0) AS BIGINT)"#,
        ))
        .from(order::Entity)
        .and_where(Expr::col((order::Entity, O::Currency)).eq(rules.base_currency.as_str()))
        .and_where(Expr::col((order::Entity, O::Status)).is_in(SPENDING.map(|s| s.to_value())))
        .and_where(Expr::col((order::Entity, O::PlacedAt)).gte(tiers::window_start(now)))
        .to_owned()
}

/// What moved a tier: the write that recomputed it, or time. The reason a
/// tier change gives is the write's when the tier moved the way that write
/// moves spend; a tier that moved the other way (or after a write that
/// moves no spend) moved with time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TierReason {
    /// An order was paid: spend went up.
    OrderPaid,
    /// A paid order was cancelled: spend went down.
    OrderCancelled,
    /// Part of an order was refunded: spend went down.
    Refund,
    /// A merged customer's orders joined the kept one's: spend went up.
    Merge,
    /// Spend older than the tier window (`domain::tiers::WINDOW`) left it
    /// (the rolling tier policy).
    SpendWindow,
    /// A tier review: the retention period of the tier ended and trailing
    /// spend then did not keep it.
    Review,
}

impl TierReason {
    /// The name a `loyalty.tier_changed` event gives.
    pub const fn as_str(self) -> &'static str {
        match self {
            TierReason::OrderPaid => "ORDER_PAID",
            TierReason::OrderCancelled => "ORDER_CANCELLED",
            TierReason::Refund => "REFUND",
            TierReason::Merge => "MERGE",
            TierReason::SpendWindow => "SPEND_WINDOW",
            TierReason::Review => "REVIEW",
        }
    }

    /// Whether the write raises spend (`Some(true)`), lowers it
    /// (`Some(false)`), or moves none.
    const fn raises(self) -> Option<bool> {
        match self {
            TierReason::OrderPaid | TierReason::Merge => Some(true),
            TierReason::OrderCancelled | TierReason::Refund => Some(false),
            TierReason::SpendWindow | TierReason::Review => None,
        }
    }

    /// Why the tier went up (`up`) or down after a write done `self`;
    /// `timed` is what time gives under the tier policy.
    pub(super) fn for_move(self, up: bool, timed: TierReason) -> TierReason {
        if self.raises() == Some(up) {
            self
        } else {
            timed
        }
    }
}

/// Reviews the customer's tier under the tier policy at `now`, after a
/// write done for `because` (`super::review`): spend reaching a higher tier
/// raises it at once, a review that has come lowers it. After a merge the
/// tier is the policy's over the combined history, so a tier the merged
/// customer held is kept as long as the policy keeps it. Returns the
/// `loyalty.tier_changed` event when the stored tier changed, for the
/// caller to emit with the write's other events; the account's review
/// columns are kept current, and an account the write leaves inside the
/// notice of a review it would lose its tier at is told
/// `loyalty.tier_at_risk` (once per review) in the same transaction.
pub async fn refresh_tier(
    db: &impl ConnectionTrait,
    rules: &Rules,
    customer_id: i64,
    now: DateTime<Utc>,
    because: TierReason,
) -> AppResult<Option<NewEvent>> {
    // No account (nothing to hold a tier), nothing to change.
    let Some(account) = loyalty_account::Entity::find()
        .filter(loyalty_account::Column::CustomerId.eq(customer_id))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let held = match because {
        TierReason::Merge => review::Held::Policy,
        _ => review::Held::Stored,
    };
    let outcomes = review::apply(db, rules, now, std::slice::from_ref(&account), held).await?;
    let Some(outcome) = outcomes.first() else {
        return Ok(None);
    };
    if let Some(notice) = review::at_risk(rules, outcome, now) {
        events::emit_all_once(db, now, vec![notice]).await?;
    }
    Ok(review::tier_changed(rules, outcome, Some(because)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tier_moved_against_the_write_moved_with_time() {
        let timed = TierReason::Review;
        assert_eq!(
            TierReason::OrderPaid.for_move(true, timed),
            TierReason::OrderPaid
        );
        assert_eq!(
            TierReason::Refund.for_move(false, timed),
            TierReason::Refund
        );
        assert_eq!(TierReason::Merge.for_move(true, timed), TierReason::Merge);
        assert_eq!(TierReason::OrderPaid.for_move(false, timed), timed);
        assert_eq!(
            TierReason::OrderCancelled.for_move(true, TierReason::SpendWindow),
            TierReason::SpendWindow
        );
        assert_eq!(TierReason::SpendWindow.for_move(true, timed), timed);
    }
}
