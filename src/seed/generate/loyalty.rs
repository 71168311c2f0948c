//! A customer's loyalty account (its tier from trailing spend) and ledger:
//! points earned on orders, redemptions, and every entry's ids in time order.

use c360_entity::enums::{LoyaltyTier, LoyaltyTransactionKind, LoyaltyTransactionState};
use rand::Rng;

use super::{CustomerGen, LedgerEntry, PlacedOrder, take};
use crate::domain::orders::counts;
use crate::domain::referral::code as referral_code;
use crate::domain::tiers::{tier_for_spend, window_start};
use crate::seed::catalog::REWARD_VOUCHERS;
use crate::seed::rows::{LedgerRow, LoyaltyAccountRow};

impl CustomerGen<'_> {
    /// The account, in the tier the API would compute at the seeding
    /// instant: paid orders' net spend over the tier window.
    pub(super) fn account(&mut self, orders: &[PlacedOrder]) -> LoyaltyTier {
        let since = window_start(self.world.now).timestamp();
        let trailing: i64 = orders
            .iter()
            .filter(|o| o.is_paid() && o.placed_at >= since)
            .map(|o| o.total - o.refunded)
            .sum();
        let tier = tier_for_spend(trailing, &self.world.rules.tiers);
        self.out.accounts.push(LoyaltyAccountRow {
            id: take(&mut self.ids.account),
            customer_id: self.id,
            referral_code: referral_code(self.id),
            tier,
            created_at: self.created_at,
        });
        tier
    }

    /// EARN rows for purchases, then redemptions, then ids in time order.
    ///
    /// A kept order earns on what was kept, PENDING until its return window
    /// ends; a refunded one keeps its EARN row CANCELLED, so the ledger shows
    /// what the refund took back. Rows PENDING at the start of today but
    /// due by the seeding instant are settled after the load, as the API's
    /// settlement would have.
    pub(super) fn ledger(&mut self, orders: &[PlacedOrder], mut entries: Vec<LedgerEntry>) {
        let world = self.world;
        for order in orders {
            let kept = order.is_kept_purchase();
            if !kept && !order.is_paid() {
                continue;
            }
            let points = world.points(if kept {
                order.total - order.refunded
            } else {
                order.total
            });
            if points <= 0 {
                continue;
            }
            let available_at = world.end_of_return_window(order.placed_at);
            let state = if !kept {
                LoyaltyTransactionState::Cancelled
            } else if available_at > world.today {
                LoyaltyTransactionState::Pending
            } else {
                LoyaltyTransactionState::Available
            };
            entries.push(LedgerEntry {
                at: order.placed_at,
                kind: LoyaltyTransactionKind::Earn,
                points,
                state,
                order_id: Some(order.id),
                key: format!("earn:order:{}", order.id),
                description: format!("Points for order {}", order.number),
                available_at: kept.then_some(available_at),
                expires_at: if kept {
                    world.expiry(available_at)
                } else {
                    None
                },
            });
        }
        self.redemptions(orders, &mut entries);

        entries.sort_by_key(|e| e.at);
        for entry in entries {
            self.out.ledger.push(LedgerRow {
                id: take(&mut self.ids.ledger),
                customer_id: self.id,
                kind: entry.kind,
                points: entry.points,
                state: entry.state,
                order_id: entry.order_id,
                idempotency_key: entry.key,
                description: entry.description,
                available_at: entry.available_at,
                expires_at: entry.expires_at,
                created_at: entry.at,
            });
        }
    }

    /// Vouchers bought at checkout, spending only points spendable then.
    ///
    /// The balance a redemption sees counts credits available and not yet
    /// expired at its instant, less everything spent before: never more
    /// than what the expiry replay in `service::loyalty` leaves, so no
    /// account is overdrawn once the expired points are written off.
    fn redemptions(&mut self, orders: &[PlacedOrder], entries: &mut Vec<LedgerEntry>) {
        // (spendable from, expires at, points)
        let credits: Vec<(i64, Option<i64>, i64)> = entries
            .iter()
            .filter(|e| e.state == LoyaltyTransactionState::Available && e.points > 0)
            .map(|e| (e.available_at.unwrap_or(e.at), e.expires_at, e.points))
            .collect();
        let cheapest = REWARD_VOUCHERS[0].0;
        let mut spent = 0;
        let mut redemption = 0;
        for order in orders.iter().filter(|o| counts(o.status)) {
            let at = order.placed_at;
            let balance: i64 = credits
                .iter()
                .filter(|(from, until, _)| *from <= at && until.is_none_or(|t| t > at))
                .map(|(_, _, p)| p)
                .sum::<i64>()
                - spent;
            if balance < cheapest || !self.rng.random_bool(0.4) {
                continue;
            }
            let affordable = REWARD_VOUCHERS
                .iter()
                .filter(|(p, _)| *p <= balance)
                .count();
            let (points, value) = REWARD_VOUCHERS[self.rng.random_range(0..affordable)];
            spent += points;
            redemption += 1;
            entries.push(LedgerEntry {
                at,
                kind: LoyaltyTransactionKind::Redeem,
                points: -points,
                state: LoyaltyTransactionState::Available,
                order_id: None,
                key: format!("redeem:{redemption}"),
                description: format!("Redeemed {points} points for a {value} reward voucher"),
                available_at: Some(at),
                expires_at: None,
            });
        }
    }
}
