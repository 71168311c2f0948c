use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Where a follow-up stands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(
    rs_type = "String",
    db_type = "String(StringLen::N(24))",
    rename_all = "SCREAMING_SNAKE_CASE"
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FollowUpState {
    /// Waiting for staff to make contact and record the outcome.
    Due,
    /// The outcome is recorded.
    Done,
    /// The customer consents to none of the follow-up channels.
    Skipped,
}

/// What came of a follow-up.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(
    rs_type = "String",
    db_type = "String(StringLen::N(24))",
    rename_all = "SCREAMING_SNAKE_CASE"
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FollowUpOutcome {
    Satisfied,
    NotSatisfied,
    NoAnswer,
    Declined,
}

/// The post-purchase follow-up of one order, made when its delay after
/// fulfilment passed.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "follow_ups")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub order_id: i64,
    pub customer_id: i64,
    pub fulfilled_at: DateTimeUtc,
    pub due_at: DateTimeUtc,
    /// The channels the customer consents to, in the business's order of
    /// preference, comma-separated (`EMAIL,SMS`); empty when SKIPPED.
    pub channels: String,
    pub state: FollowUpState,
    pub outcome: Option<FollowUpOutcome>,
    /// 1 to 5, for an outcome where the customer answered.
    pub score: Option<i32>,
    pub comment: Option<String>,
    /// The token subject that recorded the outcome.
    pub recorded_by: Option<String>,
    pub recorded_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::order::Entity",
        from = "Column::OrderId",
        to = "super::order::Column::Id"
    )]
    Order,
}

impl Related<super::order::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Order.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
