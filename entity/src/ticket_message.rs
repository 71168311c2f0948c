use sea_orm::entity::prelude::*;

use crate::enums::AuthorKind;

#[derive(Clone, Debug, Default, PartialEq, Eq, DeriveEntityModel, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "ticket_messages")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub ticket_id: i64,
    pub customer_id: i64,
    pub author_kind: AuthorKind,
    /// Agent name for agent messages; customers are known by `customer_id`.
    pub author_name: Option<String>,
    pub body: String,
    #[serde(deserialize_with = "crate::json_time::utc")]
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::ticket::Entity",
        from = "Column::TicketId",
        to = "super::ticket::Column::Id"
    )]
    Ticket,
}

impl Related<super::ticket::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Ticket.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
