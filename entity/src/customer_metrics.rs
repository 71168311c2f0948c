use sea_orm::entity::prelude::*;

/// One row per customer, derived from the raw tables and kept in step with
/// every write in the same transaction. Segments and list sorting read it.
/// Money is in minor units of the store's base currency; orders in other
/// currencies are not summed.
#[derive(Clone, Debug, Default, PartialEq, Eq, DeriveEntityModel, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "customer_metrics")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub customer_id: i64,
    /// Orders that are not CANCELLED.
    pub orders_count: i64,
    /// Sum of `total` over counted orders.
    pub gross_spend: i64,
    /// Sum of `refunded` over counted orders.
    pub refunded_total: i64,
    /// `gross_spend - refunded_total`: the lifetime value.
    pub net_spend: i64,
    /// Counted orders with a refund.
    pub refunds_count: i64,
    pub cancelled_count: i64,
    #[serde(default, deserialize_with = "crate::json_time::utc_opt")]
    pub first_order_at: Option<DateTimeUtc>,
    #[serde(default, deserialize_with = "crate::json_time::utc_opt")]
    pub last_order_at: Option<DateTimeUtc>,
    pub tickets_count: i64,
    /// Tickets not SOLVED or CLOSED.
    pub open_tickets: i64,
    /// Sum and count of minutes to first agent reply, over replied tickets.
    pub first_reply_minutes_sum: i64,
    pub first_reply_count: i64,
    pub csat_sum: i64,
    pub csat_count: i64,
    pub reviews_count: i64,
    pub last_nps_score: Option<i32>,
    #[serde(default, deserialize_with = "crate::json_time::utc_opt")]
    pub last_nps_at: Option<DateTimeUtc>,
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
}

impl Related<super::customer::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Customer.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
