use sea_orm::entity::prelude::*;

use crate::enums::ReferralStatus;

/// An invitation from a customer (the referrer, `customer_id`) to a prospective customer.
#[derive(Clone, Debug, Default, PartialEq, Eq, DeriveEntityModel, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "referrals")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The referrer.
    pub customer_id: i64,
    /// Normalised like `customers.email`.
    pub referee_email: String,
    /// Set once the referee signs up.
    pub referee_customer_id: Option<i64>,
    /// The referrer's referral code used for this invitation.
    pub code: String,
    pub status: ReferralStatus,
    pub rejection_reason: Option<String>,
    pub referrer_reward_points: i64,
    pub referee_reward_points: i64,
    #[serde(deserialize_with = "crate::json_time::utc")]
    pub invited_at: DateTimeUtc,
    #[serde(default, deserialize_with = "crate::json_time::utc_opt")]
    pub signed_up_at: Option<DateTimeUtc>,
    #[serde(default, deserialize_with = "crate::json_time::utc_opt")]
    pub converted_at: Option<DateTimeUtc>,
    #[serde(default, deserialize_with = "crate::json_time::utc_opt")]
    pub rewarded_at: Option<DateTimeUtc>,
    #[serde(deserialize_with = "crate::json_time::utc")]
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
