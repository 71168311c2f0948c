//! Tiers from spend: the trailing-window net spend in the base currency,
//! and the tier it leads to, written on the account; a change of tier is a
//! `loyalty.tier_changed` event with its direction and reason.

use c360_entity::enums::LoyaltyTier;
use c360_entity::{loyalty_account, order};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query, SelectStatement, SubQueryStatement};
use sea_orm::{ActiveEnum, ConnectionTrait};

use super::balances::scalar_i64;
use crate::domain::orders::SPENDING;
use crate::domain::tiers::{self, tier_for_spend};
use crate::error::AppResult;
use crate::events::{NewEvent, payload};
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
/// the caller to narrow to one customer (or correlate with each row of a
/// set-based statement); the one definition of the spend tiers count.
pub fn window_spend(rules: &Rules, now: DateTime<Utc>) -> SelectStatement {
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

/// What the write that recomputes a tier did to the trailing spend: the
/// reason a tier change gives when the tier moved the way that write moves
/// spend. A tier that moved the other way (or after a write that moves no
/// spend) moved because older spend left the tier window.
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
    /// Spend older than the tier window (`domain::tiers::WINDOW`) left it.
    SpendWindow,
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
        }
    }

    /// Whether the write raises spend (`Some(true)`), lowers it
    /// (`Some(false)`), or moves none.
    const fn raises(self) -> Option<bool> {
        match self {
            TierReason::OrderPaid | TierReason::Merge => Some(true),
            TierReason::OrderCancelled | TierReason::Refund => Some(false),
            TierReason::SpendWindow => None,
        }
    }

    /// Why the tier went up (`up`) or down after a write done `self`.
    fn for_move(self, up: bool) -> TierReason {
        if self.raises() == Some(up) {
            self
        } else {
            TierReason::SpendWindow
        }
    }
}

/// Sets the customer's tier from their trailing-12-month net spend, after a
/// write done for `because`. Returns the `loyalty.tier_changed` event when
/// the stored tier changed, for the caller to emit with the write's other
/// events; an unchanged tier is neither written nor told.
///
/// The stored tier and the spend are read in one statement.
pub async fn refresh_tier(
    db: &impl ConnectionTrait,
    rules: &Rules,
    customer_id: i64,
    now: DateTime<Utc>,
    because: TierReason,
) -> AppResult<Option<NewEvent>> {
    use loyalty_account::Column as A;
    let stored = Query::select()
        .column(A::Tier)
        .from(loyalty_account::Entity)
        .and_where(Expr::col(A::CustomerId).eq(customer_id))
        .to_owned();
    let mut select = spend_select(rules, customer_id, now);
    select.expr(Expr::SubQuery(
        None,
        Box::new(SubQueryStatement::from(stored)),
    ));
    let Some(row) = db.query_one(&select).await? else {
        return Ok(None);
    };
    let spend = row.try_get_by_index::<Option<i64>>(0)?.unwrap_or(0);
    // No account (nothing to hold a tier), nothing to change.
    let Some(stored) = row.try_get_by_index::<Option<String>>(1)? else {
        return Ok(None);
    };
    let from = LoyaltyTier::try_from_value(&stored)?;
    let to = tier_for_spend(spend, &rules.tiers);
    if to == from {
        return Ok(None);
    }
    let update = Query::update()
        .table(loyalty_account::Entity)
        .value(A::Tier, to.to_value())
        .and_where(Expr::col(A::CustomerId).eq(customer_id))
        .to_owned();
    db.execute(&update).await?;
    let rank = |t: LoyaltyTier| tiers::ORDER.iter().position(|o| *o == t);
    let up = rank(to) > rank(from);
    Ok(Some(payload::tier_changed(
        customer_id,
        from,
        to,
        if up { "UP" } else { "DOWN" },
        because.for_move(up).as_str(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tier_moved_against_the_write_moved_with_the_window() {
        assert_eq!(TierReason::OrderPaid.for_move(true), TierReason::OrderPaid);
        assert_eq!(TierReason::Refund.for_move(false), TierReason::Refund);
        assert_eq!(TierReason::Merge.for_move(true), TierReason::Merge);
        assert_eq!(
            TierReason::OrderPaid.for_move(false),
            TierReason::SpendWindow
        );
        assert_eq!(
            TierReason::OrderCancelled.for_move(true),
            TierReason::SpendWindow
        );
        assert_eq!(
            TierReason::SpendWindow.for_move(true),
            TierReason::SpendWindow
        );
    }
}
