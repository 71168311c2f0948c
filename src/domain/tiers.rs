//! Loyalty tiers: thresholds on net spend over a trailing window, and
//! ([`policy`]) how a tier reached is kept or lost as that spend ages.

pub mod policy;

use c360_entity::enums::LoyaltyTier;
use chrono::{DateTime, TimeDelta, Utc};

/// The window of spend a tier is computed over: the last 365 days.
pub const WINDOW: TimeDelta = TimeDelta::days(365);

/// The start of the tier window ending at `now`.
pub fn window_start(now: DateTime<Utc>) -> DateTime<Utc> {
    now - WINDOW
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

/// The tiers from lowest to highest.
pub const ORDER: [LoyaltyTier; 4] = [
    LoyaltyTier::Bronze,
    LoyaltyTier::Silver,
    LoyaltyTier::Gold,
    LoyaltyTier::Platinum,
];

/// The tier above `tier` and the spend (minor units) it starts at; `None`
/// at PLATINUM.
pub fn next_tier(tier: LoyaltyTier, thresholds: &TierThresholds) -> Option<(LoyaltyTier, i64)> {
    match tier {
        LoyaltyTier::Bronze => Some((LoyaltyTier::Silver, thresholds.silver)),
        LoyaltyTier::Silver => Some((LoyaltyTier::Gold, thresholds.gold)),
        LoyaltyTier::Gold => Some((LoyaltyTier::Platinum, thresholds.platinum)),
        LoyaltyTier::Platinum => None,
    }
}

/// The tier for a trailing-window net spend (minor units); BRONZE below SILVER.
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

    #[test]
    fn the_tier_above_starts_at_its_threshold() {
        let t = TierThresholds::default();
        assert_eq!(
            next_tier(LoyaltyTier::Silver, &t),
            Some((LoyaltyTier::Gold, 150_000))
        );
        assert_eq!(next_tier(LoyaltyTier::Platinum, &t), None);
    }
}
