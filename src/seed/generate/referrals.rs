//! Referrals: the customer's own sign-up through an earlier customer's code
//! (with both sides' rewards) and invitations to friends who never came.

use c360_entity::enums::{LoyaltyTransactionKind, LoyaltyTransactionState, ReferralStatus};
use rand::Rng;

use super::{CustomerGen, DAY, HOUR, LedgerEntry, PlacedOrder, between, take};
use crate::domain::referral::code as referral_code;
use crate::seed::rows::{LedgerRow, ReferralRow};

impl CustomerGen<'_> {
    /// A fifth of customers signed up through an earlier customer's code.
    ///
    /// As in the API, only the referee's first paid order can convert the
    /// referral, and only if it reaches the configured minimum: a smaller
    /// first order leaves it SIGNED_UP for good. A converted referral is
    /// REWARDED (both sides get the configured points) once that order is
    /// past the return window, so no reward rests on an order still
    /// returnable; CONVERTED while it is inside.
    pub(super) fn referred_by(
        &mut self,
        email: &str,
        orders: &[PlacedOrder],
        ledger: &mut Vec<LedgerEntry>,
    ) {
        if self.index == 0 || !self.rng.random_bool(0.2) {
            return;
        }
        let world = self.world;
        let back = self.rng.random_range(1..=self.index.min(3_000));
        let referrer_index = self.index - back;
        let referrer_id = world.customer_id(referrer_index);
        let referrer_joined = world.customer_created_at(referrer_index);
        let invited_at = (self.created_at - self.rng.random_range(HOUR..14 * DAY))
            .max(referrer_joined)
            .min(self.created_at);
        let id = take(&mut self.ids.referral);
        let converted_at = orders
            .iter()
            .find(|o| o.is_paid())
            .filter(|o| o.total >= world.rules.referral_min_order)
            .map(|o| o.placed_at);
        let rewarded_at = converted_at
            .map(|t| world.end_of_return_window(t))
            .filter(|t| *t < world.today);
        let status = match (converted_at, rewarded_at) {
            (_, Some(_)) => ReferralStatus::Rewarded,
            (Some(_), None) => ReferralStatus::Converted,
            (None, _) => ReferralStatus::SignedUp,
        };
        let (referrer_points, referee_points) = if rewarded_at.is_some() {
            world.rules.referral_points
        } else {
            (0, 0)
        };
        self.out.referrals.push(ReferralRow {
            id,
            customer_id: referrer_id,
            referee_email: email.to_owned(),
            referee_customer_id: Some(self.id),
            code: referral_code(referrer_id),
            status,
            referrer_reward_points: referrer_points,
            referee_reward_points: referee_points,
            invited_at,
            signed_up_at: Some(self.created_at),
            converted_at,
            rewarded_at,
            updated_at: rewarded_at.or(converted_at).unwrap_or(self.created_at),
        });
        let Some(at) = rewarded_at else {
            return;
        };
        // The referrer's bonus is written here, with the referral; an extra
        // credit can never overdraw the referrer's account. A side with no
        // points gets no row, as in the API.
        if referrer_points > 0 {
            self.out.ledger.push(LedgerRow {
                id: take(&mut self.ids.ledger),
                customer_id: referrer_id,
                kind: LoyaltyTransactionKind::ReferralBonus,
                points: referrer_points,
                state: LoyaltyTransactionState::Available,
                order_id: None,
                idempotency_key: format!("referral:{id}:referrer"),
                description: format!("Referral bonus: {email} made a first purchase"),
                available_at: Some(at),
                expires_at: world.expiry(at),
                created_at: at,
            });
        }
        if referee_points > 0 {
            ledger.push(LedgerEntry {
                at,
                kind: LoyaltyTransactionKind::ReferralBonus,
                points: referee_points,
                state: LoyaltyTransactionState::Available,
                order_id: None,
                key: format!("referral:{id}:referee"),
                description: "Welcome bonus for joining through a referral".to_owned(),
                available_at: Some(at),
                expires_at: world.expiry(at),
            });
        }
    }

    /// Invitations to friends who never signed up.
    pub(super) fn invitations(&mut self) {
        if !self.rng.random_bool(0.08) {
            return;
        }
        for k in 0..self.rng.random_range(1..=3) {
            let at = between(&mut self.rng, self.created_at, self.world.today - 1);
            self.out.referrals.push(ReferralRow {
                id: take(&mut self.ids.referral),
                customer_id: self.id,
                referee_email: format!("friend{k}.of.{}@example.org", self.id),
                referee_customer_id: None,
                code: referral_code(self.id),
                status: ReferralStatus::Invited,
                referrer_reward_points: 0,
                referee_reward_points: 0,
                invited_at: at,
                signed_up_at: None,
                converted_at: None,
                rewarded_at: None,
                updated_at: at,
            });
        }
    }
}
