use sea_orm::entity::prelude::*;

use crate::enums::LoyaltyTier;

/// Balances are a cache of the ledger (`loyalty_transactions`), written in the
/// same transaction as every ledger row; they always equal the ledger's sums.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
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
    pub settle_due_at: Option<DateTimeUtc>,
    /// Credits expiring up to this instant have been expired.
    pub expired_through: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
