use sea_orm::entity::prelude::*;

use crate::enums::LoyaltyTier;

/// Balances are a cache of the ledger (`loyalty_transactions`), written in the
/// same transaction as every ledger row; they always equal the ledger's sums.
#[derive(Clone, Debug, Default, PartialEq, Eq, DeriveEntityModel, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "loyalty_accounts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub customer_id: i64,
    #[sea_orm(unique)]
    pub referral_code: String,
    pub tier: LoyaltyTier,
    /// Sum of AVAILABLE rows.
    pub points_available: i64,
    /// Sum of PENDING rows.
    pub points_pending: i64,
    /// Sum of positive AVAILABLE and PENDING rows of kinds EARN, ADJUST and REFERRAL_BONUS.
    pub points_lifetime_earned: i64,
    /// The earliest instant a PENDING row becomes AVAILABLE or a credit
    /// expires; `None` when nothing is waiting.
    #[serde(default, deserialize_with = "crate::json_time::utc_opt")]
    pub settle_due_at: Option<DateTimeUtc>,
    /// Credits expiring up to this instant have been expired.
    #[serde(default, deserialize_with = "crate::json_time::utc_opt")]
    pub expired_through: Option<DateTimeUtc>,
    /// When the tier is next checked against trailing spend (the tier
    /// policy's review); `None` at BRONZE.
    #[serde(default, deserialize_with = "crate::json_time::utc_opt")]
    pub tier_review_at: Option<DateTimeUtc>,
    /// When the tier ends if nothing more is spent.
    #[serde(default, deserialize_with = "crate::json_time::utc_opt")]
    pub tier_expires_at: Option<DateTimeUtc>,
    /// The start of the downgrade notice before a review the account would
    /// lose its tier at; `None` when the review keeps it.
    #[serde(default, deserialize_with = "crate::json_time::utc_opt")]
    pub tier_notice_at: Option<DateTimeUtc>,
    /// The next instant the review columns change without a write: the
    /// notice starting, or the review.
    #[serde(default, deserialize_with = "crate::json_time::utc_opt")]
    pub tier_due_at: Option<DateTimeUtc>,
    /// Base-currency spend (minor units) the review still needs to keep the
    /// tier; 0 when it keeps it, and at BRONZE.
    pub tier_spend_to_keep: i64,
    #[serde(deserialize_with = "crate::json_time::utc")]
    pub created_at: DateTimeUtc,
    #[serde(deserialize_with = "crate::json_time::utc")]
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
