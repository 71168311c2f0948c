//! Store credit: money a customer holds with the store, per currency, in
//! integer minor units, beside the points ledger.
//!
//! The ledger (`store_credit_entries`) is the truth and append-only: ISSUE
//! (staff with a reason, partners with `loyalty:write`), REFUND_TO_CREDIT (a
//! refund taken as credit, `orderRefund(refundTo: STORE_CREDIT)`),
//! REFERRAL_REWARD (`--referral-*-reward credit|both`) add; REDEEM and
//! EXPIRE take away. `store_credit_balances` caches each customer's balance
//! per currency and the next expiry, rewritten in the same transaction as
//! every entry, and is what redemptions debit with a conditional update, so
//! the balance never goes below zero under concurrency.
//!
//! A credit may expire; spending takes the credit expiring soonest
//! (`lots`), and what is left of a credit once its expiry passes is written
//! off by an EXPIRE entry ([`settle`]): by the scheduler's pass, by a read
//! that shows the balance, and before every redemption.
//!
//! - `lots`: which credit is spent first (the one rule, pure);
//! - `ledger`: appending entries, the balance cache, expiry write-offs;
//! - `writes`: issue and redeem (idempotent by key), refund credit,
//!   referral rewards, merging customers.

mod ledger;
mod lots;
mod writes;

use chrono::{DateTime, TimeDelta, Utc};

pub use ledger::{due_customers, settle};
pub use writes::{
    Issue, MAX_AMOUNT, ReferralCredit, credit_refund, issue, may_credit_refund, merge, redeem,
    reward_referral,
};

use crate::config::{Config, ReferralReward};
use crate::error::{AppError, AppResult};

/// Per credit entry of the customers of `customer_ids` (at most a
/// thousand) that expires in `(after, until]`, the entry and what of it is
/// unspent, by this module's rule: what a write-off at its expiry takes
/// unless more is spent first. Entries already spent are left out.
pub async fn expiring_credits(
    db: &impl sea_orm::ConnectionTrait,
    customer_ids: &[i64],
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> AppResult<Vec<(c360_entity::store_credit_entry::Model, i64)>> {
    let mut out = Vec::new();
    for entries in ledger::entries_of(db, customer_ids).await?.into_values() {
        for lot in ledger::unspent(&entries) {
            let Some(at) = lot.expires_at else { continue };
            if at <= after || at > until {
                continue;
            }
            if let Some(entry) = entries.iter().find(|e| e.id == lot.entry_id) {
                out.push((entry.clone(), lot.left));
            }
        }
    }
    Ok(out)
}

/// What one side of a referral gets when it converts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SideReward {
    /// Whether it gets the referral points (`--referral-*-points`).
    pub points: bool,
    /// Store credit in minor units of the referred order's currency; 0: none.
    pub credit: i64,
}

impl Default for SideReward {
    fn default() -> SideReward {
        SideReward {
            points: true,
            credit: 0,
        }
    }
}

/// The store credit settings, from `Config` once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreditRules {
    pub referrer: SideReward,
    pub referee: SideReward,
    /// How long refund and referral credit stays spendable; `None`: forever.
    pub expire_after: Option<TimeDelta>,
}

impl CreditRules {
    /// When refund or referral credit written at `now` expires.
    pub fn expiry(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.expire_after
            .and_then(|after| now.checked_add_signed(after))
    }

    /// The settings `config` sets; refused with the setting's name when a
    /// credit reward has no amount, or an amount no credit reward.
    pub fn from_config(config: &Config) -> AppResult<CreditRules> {
        let side = |reward: ReferralReward, credit: i64, name: &str| -> AppResult<SideReward> {
            let gives_credit = matches!(reward, ReferralReward::Credit | ReferralReward::Both);
            if gives_credit && !(1..=MAX_AMOUNT).contains(&credit) {
                return Err(AppError::Internal(anyhow::anyhow!(
                    "C360_REFERRAL_{name}_CREDIT (--referral-{}-credit) must be a positive \
                     number of minor units with C360_REFERRAL_{name}_REWARD=credit or both",
                    name.to_lowercase()
                )));
            }
            if !gives_credit && credit != 0 {
                return Err(AppError::Internal(anyhow::anyhow!(
                    "C360_REFERRAL_{name}_CREDIT (--referral-{}-credit) needs \
                     C360_REFERRAL_{name}_REWARD=credit or both",
                    name.to_lowercase()
                )));
            }
            Ok(SideReward {
                points: matches!(reward, ReferralReward::Points | ReferralReward::Both),
                credit: if gives_credit { credit } else { 0 },
            })
        };
        let expire_after = match config.store_credit_expire_after {
            d if d.is_zero() => None,
            d => Some(TimeDelta::from_std(d).map_err(|_| {
                AppError::Internal(anyhow::anyhow!(
                    "C360_STORE_CREDIT_EXPIRE_AFTER is too long to add to a date"
                ))
            })?),
        };
        Ok(CreditRules {
            referrer: side(
                config.referral_referrer_reward,
                config.referral_referrer_credit,
                "REFERRER",
            )?,
            referee: side(
                config.referral_referee_reward,
                config.referral_referee_credit,
                "REFEREE",
            )?,
            expire_after,
        })
    }
}
