use sea_orm::entity::prelude::*;

use crate::enums::{LoyaltyTransactionKind, LoyaltyTransactionState};

/// One row of the loyalty ledger; points are signed (redemptions, expiries and
/// clawbacks are negative).
#[derive(Clone, Debug, Default, PartialEq, Eq, DeriveEntityModel, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "loyalty_transactions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub customer_id: i64,
    pub kind: LoyaltyTransactionKind,
    pub points: i64,
    pub state: LoyaltyTransactionState,
    pub order_id: Option<i64>,
    /// Unique per customer: a retried write is one row.
    pub idempotency_key: Option<String>,
    pub description: Option<String>,
    /// When a PENDING row becomes AVAILABLE.
    #[serde(default, deserialize_with = "crate::json_time::utc_opt")]
    pub available_at: Option<DateTimeUtc>,
    #[serde(default, deserialize_with = "crate::json_time::utc_opt")]
    pub expires_at: Option<DateTimeUtc>,
    #[serde(deserialize_with = "crate::json_time::utc")]
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
