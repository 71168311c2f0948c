//! Rows of the loyalty programme: accounts, the points ledger, referrals.
//!
//! Balances are inserted as zero: `service::loyalty::refresh_balances`
//! derives them from the ledger once the load is done.

use c360_entity::enums::{
    LoyaltyTier, LoyaltyTransactionKind, LoyaltyTransactionState, ReferralStatus,
};
use c360_entity::{loyalty_account, loyalty_transaction, referral};
use sea_orm::sea_query::Value;

use super::{BulkRow, opt_ts, ts};

#[derive(Debug, Clone)]
pub struct LoyaltyAccountRow {
    pub id: i64,
    pub customer_id: i64,
    pub referral_code: String,
    pub tier: LoyaltyTier,
    pub created_at: i64,
}

impl BulkRow for LoyaltyAccountRow {
    type Entity = loyalty_account::Entity;
    fn columns() -> Vec<loyalty_account::Column> {
        use loyalty_account::Column as C;
        vec![
            C::Id,
            C::CustomerId,
            C::ReferralCode,
            C::Tier,
            C::PointsAvailable,
            C::PointsPending,
            C::PointsLifetimeEarned,
            C::CreatedAt,
            C::UpdatedAt,
        ]
    }
    fn into_values(self) -> Vec<Value> {
        vec![
            self.id.into(),
            self.customer_id.into(),
            self.referral_code.into(),
            self.tier.into(),
            0i64.into(),
            0i64.into(),
            0i64.into(),
            ts(self.created_at),
            ts(self.created_at),
        ]
    }
}

#[derive(Debug, Clone)]
pub struct ReferralRow {
    pub id: i64,
    /// The referrer.
    pub customer_id: i64,
    pub referee_email: String,
    pub referee_customer_id: Option<i64>,
    pub code: String,
    pub status: ReferralStatus,
    pub referrer_reward_points: i64,
    pub referee_reward_points: i64,
    pub invited_at: i64,
    pub signed_up_at: Option<i64>,
    pub converted_at: Option<i64>,
    pub rewarded_at: Option<i64>,
    pub updated_at: i64,
}

impl BulkRow for ReferralRow {
    type Entity = referral::Entity;
    fn columns() -> Vec<referral::Column> {
        use referral::Column as C;
        vec![
            C::Id,
            C::CustomerId,
            C::RefereeEmail,
            C::RefereeCustomerId,
            C::Code,
            C::Status,
            C::ReferrerRewardPoints,
            C::RefereeRewardPoints,
            C::InvitedAt,
            C::SignedUpAt,
            C::ConvertedAt,
            C::RewardedAt,
            C::UpdatedAt,
        ]
    }
    fn into_values(self) -> Vec<Value> {
        vec![
            self.id.into(),
            self.customer_id.into(),
            self.referee_email.into(),
            self.referee_customer_id.into(),
            self.code.into(),
            self.status.into(),
            self.referrer_reward_points.into(),
            self.referee_reward_points.into(),
            ts(self.invited_at),
            opt_ts(self.signed_up_at),
            opt_ts(self.converted_at),
            opt_ts(self.rewarded_at),
            ts(self.updated_at),
        ]
    }
}

#[derive(Debug, Clone)]
pub struct LedgerRow {
    pub id: i64,
    pub customer_id: i64,
    pub kind: LoyaltyTransactionKind,
    pub points: i64,
    pub state: LoyaltyTransactionState,
    pub order_id: Option<i64>,
    pub idempotency_key: String,
    pub description: String,
    pub available_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub created_at: i64,
}

impl BulkRow for LedgerRow {
    type Entity = loyalty_transaction::Entity;
    fn columns() -> Vec<loyalty_transaction::Column> {
        use loyalty_transaction::Column as C;
        vec![
            C::Id,
            C::CustomerId,
            C::Kind,
            C::Points,
            C::State,
            C::OrderId,
            C::IdempotencyKey,
            C::Description,
            C::AvailableAt,
            C::ExpiresAt,
            C::CreatedAt,
        ]
    }
    fn into_values(self) -> Vec<Value> {
        vec![
            self.id.into(),
            self.customer_id.into(),
            self.kind.into(),
            self.points.into(),
            self.state.into(),
            self.order_id.into(),
            self.idempotency_key.into(),
            self.description.into(),
            opt_ts(self.available_at),
            opt_ts(self.expires_at),
            ts(self.created_at),
        ]
    }
}
