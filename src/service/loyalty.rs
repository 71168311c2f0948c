//! Loyalty rules: balances derived from the ledger, and tiers from spend.
//!
//! The ledger (`loyalty_transactions`) is the truth; the balances on
//! `loyalty_accounts` are a cache of it, recomputed by [`refresh_balances`]
//! in the same transaction as every ledger write.

use c360_entity::enums::{LoyaltyTier, LoyaltyTransactionKind, LoyaltyTransactionState};
use c360_entity::{loyalty_account, loyalty_transaction};
use chrono::{SubsecRound, Utc};
use sea_orm::sea_query::{Alias, Cond, Expr, ExprTrait, Func, Query, SubQueryStatement};
use sea_orm::{ActiveEnum, ConnectionTrait};

use crate::error::AppResult;

/// Accounts per statement when refreshing a list of customers.
const IDS_PER_STATEMENT: usize = 1_000;

/// Sets `points_available`, `points_pending` and `points_lifetime_earned` of
/// the accounts of `customer_ids` (all accounts for `None`) from the ledger,
/// and `updated_at` to now:
/// - available = `SUM(points)` of AVAILABLE rows;
/// - pending = `SUM(points)` of PENDING rows;
/// - lifetime earned = `SUM(points)` of rows with `points > 0`, state not
///   CANCELLED, kind EARN, ADJUST or REFERRAL_BONUS.
///
/// One `UPDATE` with correlated subqueries (per 1,000 ids), whatever the
/// number of accounts.
pub async fn refresh_balances(
    db: &impl ConnectionTrait,
    customer_ids: Option<&[i64]>,
) -> AppResult<()> {
    match customer_ids {
        None => {
            db.execute(&balances_update(None)).await?;
        }
        Some(ids) => {
            let mut ids = ids.to_vec();
            ids.sort_unstable();
            ids.dedup();
            for chunk in ids.chunks(IDS_PER_STATEMENT) {
                db.execute(&balances_update(Some(chunk))).await?;
            }
        }
    }
    Ok(())
}

fn balances_update(ids: Option<&[i64]>) -> sea_orm::sea_query::UpdateStatement {
    use loyalty_account::Column as A;
    use loyalty_transaction::Column as L;
    let state_is = |state: LoyaltyTransactionState| {
        Cond::all().add(Expr::col((Alias::new("lt"), L::State)).eq(state.to_value()))
    };
    let earned_kinds = [
        LoyaltyTransactionKind::Earn,
        LoyaltyTransactionKind::Adjust,
        LoyaltyTransactionKind::ReferralBonus,
    ]
    .map(|k| k.to_value());
    let earned = Cond::all()
        .add(Expr::col((Alias::new("lt"), L::Points)).gt(0))
        .add(
            Expr::col((Alias::new("lt"), L::State))
                .ne(LoyaltyTransactionState::Cancelled.to_value()),
        )
        .add(Expr::col((Alias::new("lt"), L::Kind)).is_in(earned_kinds));

    let mut update = Query::update();
    update
        .table(loyalty_account::Entity)
        .value(
            A::PointsAvailable,
            ledger_sum(state_is(LoyaltyTransactionState::Available)),
        )
        .value(
            A::PointsPending,
            ledger_sum(state_is(LoyaltyTransactionState::Pending)),
        )
        .value(A::PointsLifetimeEarned, ledger_sum(earned))
        .value(A::UpdatedAt, Utc::now().trunc_subsecs(0));
    if let Some(ids) = ids {
        update.and_where(Expr::col(A::CustomerId).is_in(ids.iter().copied()));
    }
    update
}

/// `(SELECT COALESCE(SUM(lt.points), 0) FROM loyalty_transactions lt
///   WHERE lt.customer_id = loyalty_accounts.customer_id AND <filter>)`.
fn ledger_sum(filter: Cond) -> Expr {
    use loyalty_transaction::Column as L;
    let sub = Query::select()
        .expr(Func::coalesce([
            Func::sum(Expr::col((Alias::new("lt"), L::Points))).into(),
            Expr::val(0i64),
        ]))
        .from_as(loyalty_transaction::Entity, Alias::new("lt"))
        .cond_where(
            Cond::all()
                .add(
                    Expr::col((Alias::new("lt"), L::CustomerId))
                        .equals((loyalty_account::Entity, loyalty_account::Column::CustomerId)),
                )
                .add(filter),
        )
        .to_owned();
    Expr::SubQuery(None, Box::new(SubQueryStatement::from(sub)))
}

/// Spend thresholds of the tiers, in minor units of the base currency; a
/// customer is in the highest tier whose threshold their spend reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierThresholds {
    pub silver: i64,
    pub gold: i64,
    pub platinum: i64,
}

impl Default for TierThresholds {
    /// 500 / 1,500 / 5,000 major units.
    fn default() -> Self {
        TierThresholds {
            silver: 50_000,
            gold: 150_000,
            platinum: 500_000,
        }
    }
}

/// The tier for a trailing-12-month net spend (minor units); BRONZE below SILVER.
pub fn tier_for_spend(net_spend_minor: i64, thresholds: &TierThresholds) -> LoyaltyTier {
    if net_spend_minor >= thresholds.platinum {
        LoyaltyTier::Platinum
    } else if net_spend_minor >= thresholds.gold {
        LoyaltyTier::Gold
    } else if net_spend_minor >= thresholds.silver {
        LoyaltyTier::Silver
    } else {
        LoyaltyTier::Bronze
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_start_at_their_threshold() {
        let t = TierThresholds::default();
        assert_eq!(tier_for_spend(-100, &t), LoyaltyTier::Bronze);
        assert_eq!(tier_for_spend(49_999, &t), LoyaltyTier::Bronze);
        assert_eq!(tier_for_spend(50_000, &t), LoyaltyTier::Silver);
        assert_eq!(tier_for_spend(150_000, &t), LoyaltyTier::Gold);
        assert_eq!(tier_for_spend(499_999, &t), LoyaltyTier::Gold);
        assert_eq!(tier_for_spend(500_000, &t), LoyaltyTier::Platinum);
    }
}
