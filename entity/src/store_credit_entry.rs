use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// What a store credit entry records. ISSUE, REFUND_TO_CREDIT and
/// REFERRAL_REWARD add credit (and may expire); REDEEM and EXPIRE take it
/// away.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
)]
#[sea_orm(
    rs_type = "String",
    db_type = "String(StringLen::N(24))",
    rename_all = "SCREAMING_SNAKE_CASE"
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StoreCreditKind {
    #[default]
    Issue,
    RefundToCredit,
    ReferralReward,
    Redeem,
    Expire,
}

impl StoreCreditKind {
    /// Whether entries of this kind add credit.
    pub fn adds(self) -> bool {
        matches!(
            self,
            StoreCreditKind::Issue
                | StoreCreditKind::RefundToCredit
                | StoreCreditKind::ReferralReward
        )
    }
}

/// One row of the store credit ledger: signed minor units of `currency`.
#[derive(Clone, Debug, Default, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "store_credit_entries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub customer_id: i64,
    /// ISO 4217.
    pub currency: String,
    pub kind: StoreCreditKind,
    /// Positive for credit added, negative for credit spent or expired.
    pub amount: i64,
    /// The customer's balance in `currency` once this entry was written.
    pub balance_after: i64,
    /// When what is unspent of a credit is written off; `None`: never.
    #[serde(default, deserialize_with = "crate::json_time::utc_opt")]
    pub expires_at: Option<DateTimeUtc>,
    /// The order a refund credit or a referral reward came from.
    pub order_id: Option<i64>,
    /// Unique per customer: a retried write is one row.
    pub idempotency_key: Option<String>,
    pub reason: Option<String>,
    #[serde(deserialize_with = "crate::json_time::utc")]
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
