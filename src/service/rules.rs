//! The configurable numbers behind the business rules, taken from `Config`
//! once per write so service functions need no GraphQL or CLI context.

use chrono::{DateTime, TimeDelta, Utc};

use crate::config::{Config, TierPolicyKind, TierRetention};
use crate::domain::tiers::TierThresholds;
use crate::domain::tiers::policy::{Keep, TierPolicy};
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
    /// How a tier reached is kept as its spend ages, and the notice before
    /// it is lost.
    pub tier_policy: TierPolicy,
    /// Smallest first paid order (minor units) that converts a referral.
    pub referral_min_order: i64,
    /// Points for the referrer and the referee when a referral converts.
    pub referral_points: (i64, i64),
    /// Store credit: referral rewards in credit, and how long refund and
    /// referral credit lasts.
    pub store_credit: crate::service::store_credit::CreditRules,
    /// How fast a purchase's weight in interests halves.
    pub interest_decay: crate::domain::interests::Decay,
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
        let tier_policy = tier_policy(config)?;
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
            tier_policy,
            referral_min_order: config.referral_min_order,
            referral_points: (
                config.referral_referrer_points,
                config.referral_referee_points,
            ),
            store_credit: crate::service::store_credit::CreditRules::from_config(config)?,
            interest_decay: TimeDelta::from_std(config.interest_half_life)
                .ok()
                .and_then(crate::domain::interests::Decay::new)
                .ok_or_else(|| {
                    AppError::Internal(anyhow::anyhow!(
                        "C360_INTEREST_HALF_LIFE must be more than zero and at most a few thousand years"
                    ))
                })?,
        })
    }
}

/// The tier policy the configuration sets, refused with the setting's name
/// when it makes no sense.
fn tier_policy(config: &Config) -> AppResult<TierPolicy> {
    let refuse = |message: &str| AppError::Internal(anyhow::anyhow!("{message}"));
    let keep = match (config.tier_policy, config.tier_retention) {
        (TierPolicyKind::Rolling, Some(_)) => {
            return Err(refuse(
                "C360_TIER_RETENTION (--tier-retention) applies to C360_TIER_POLICY=retain; \
                 the rolling policy keeps no tier",
            ));
        }
        (TierPolicyKind::Rolling, None) => Keep::Rolling,
        (TierPolicyKind::Retain, None | Some(TierRetention::NextYear)) => Keep::NextYear,
        (TierPolicyKind::Retain, Some(TierRetention::Days(days))) => Keep::Days(days),
    };
    let notice = config.tier_downgrade_notice;
    let days = notice.as_secs() / 86_400;
    if notice.subsec_nanos() != 0 || !notice.as_secs().is_multiple_of(86_400) || days >= 365 {
        return Err(refuse(&format!(
            "C360_TIER_DOWNGRADE_NOTICE (--tier-downgrade-notice) must be whole days shorter \
             than a year, such as 30d, not {}",
            humantime::format_duration(notice)
        )));
    }
    Ok(TierPolicy {
        keep,
        notice_days: days as u32,
        tz: config.timezone,
    })
}
