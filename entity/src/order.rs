use sea_orm::entity::prelude::*;

use crate::enums::{OrderChannel, OrderStatus};

#[derive(Clone, Debug, Default, PartialEq, Eq, DeriveEntityModel, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "orders")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub customer_id: i64,
    /// Human-facing number, unique (e.g. `C360-1001`).
    pub order_number: String,
    /// The sender's id for the order; unique, so a retried ingest is one order.
    pub external_ref: Option<String>,
    pub status: OrderStatus,
    pub channel: OrderChannel,
    /// ISO 4217.
    pub currency: String,
    /// Amounts in minor units of `currency`.
    pub subtotal: i64,
    pub discount: i64,
    pub tax: i64,
    pub total: i64,
    pub refunded: i64,
    #[serde(deserialize_with = "crate::json_time::utc")]
    pub placed_at: DateTimeUtc,
    #[serde(deserialize_with = "crate::json_time::utc")]
    pub created_at: DateTimeUtc,
    #[serde(deserialize_with = "crate::json_time::utc")]
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::customer::Entity",
        from = "Column::CustomerId",
        to = "super::customer::Column::Id"
    )]
    Customer,
    #[sea_orm(has_many = "super::order_line::Entity")]
    OrderLine,
}

impl Related<super::customer::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Customer.def()
    }
}

impl Related<super::order_line::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::OrderLine.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
