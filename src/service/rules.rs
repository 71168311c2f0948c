//! The configurable numbers behind the business rules, taken from `Config`
//! once per write so service functions need no GraphQL or CLI context.

use chrono::{DateTime, TimeDelta, Utc};

use crate::config::Config;
use crate::domain::tiers::TierThresholds;
use crate::error::{AppError, AppResult};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// ISO 4217 code metrics, points and tiers are computed in.
    pub base_currency: String,
    /// Points per major unit of the base currency paid.
    pub points_per_unit: i64,
    /// How long earned points stay PENDING.
    pub return_window: TimeDelta,
    /// How long points stay spendable once AVAILABLE; `None`: forever.
    pub points_expire_after: Option<TimeDelta>,
    pub tiers: TierThresholds,
    /// Smallest first paid order (minor units) that converts a referral.
    pub referral_min_order: i64,
    /// Points for the referrer and the referee when a referral converts.
    pub referral_points: (i64, i64),
}

impl Rules {
    /// When points that become AVAILABLE at `available_at` expire.
    pub fn expiry(&self, available_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.points_expire_after
            .and_then(|after| available_at.checked_add_signed(after))
    }

    pub fn from_config(config: &Config) -> AppResult<Rules> {
        let return_window = TimeDelta::from_std(config.loyalty_return_window).map_err(|_| {
            AppError::Internal(anyhow::anyhow!(
                "C360_LOYALTY_RETURN_WINDOW is too long to add to a date"
            ))
        })?;
        let points_expire_after = match config.loyalty_points_expire_after {
            d if d.is_zero() => None,
            d => Some(TimeDelta::from_std(d).map_err(|_| {
                AppError::Internal(anyhow::anyhow!(
                    "C360_LOYALTY_POINTS_EXPIRE_AFTER is too long to add to a date"
                ))
            })?),
        };
        Ok(Rules {
            base_currency: config.base_currency.clone(),
            points_per_unit: config.loyalty_points_per_unit,
            return_window,
            points_expire_after,
            tiers: TierThresholds {
                silver: config.tier_silver,
                gold: config.tier_gold,
                platinum: config.tier_platinum,
            },
            referral_min_order: config.referral_min_order,
            referral_points: (
                config.referral_referrer_points,
                config.referral_referee_points,
            ),
        })
    }
}
