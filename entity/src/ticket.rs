use sea_orm::entity::prelude::*;

use crate::enums::{TicketChannel, TicketPriority, TicketStatus};

#[derive(Clone, Debug, Default, PartialEq, Eq, DeriveEntityModel, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "tickets")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub customer_id: i64,
    /// The helpdesk's id of the ticket, for imports; unique where set.
    pub external_ref: Option<String>,
    pub subject: String,
    pub status: TicketStatus,
    pub priority: TicketPriority,
    pub channel: TicketChannel,
    #[serde(deserialize_with = "crate::json_time::utc")]
    pub created_at: DateTimeUtc,
    #[serde(deserialize_with = "crate::json_time::utc")]
    pub updated_at: DateTimeUtc,
    /// First agent reply.
    #[serde(default, deserialize_with = "crate::json_time::utc_opt")]
    pub first_reply_at: Option<DateTimeUtc>,
    #[serde(default, deserialize_with = "crate::json_time::utc_opt")]
    pub solved_at: Option<DateTimeUtc>,
    /// CSAT 1-5, given once the ticket is solved.
    pub satisfaction_score: Option<i32>,
    pub satisfaction_comment: Option<String>,
    #[serde(default, deserialize_with = "crate::json_time::utc_opt")]
    pub satisfaction_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::ticket_message::Entity")]
    TicketMessage,
}

impl Related<super::ticket_message::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TicketMessage.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
