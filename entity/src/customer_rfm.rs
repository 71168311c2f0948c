use sea_orm::entity::prelude::*;

/// RFM scores of a customer who has ordered, recomputed in bulk (see
/// `c360::service::rfm`): each score is the customer's quintile, 1-5 (5 best),
/// among all customers with at least one counted order.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "customer_rfm")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub customer_id: i64,
    /// 5 for the most recent latest orders.
    pub recency_score: i16,
    /// 5 for the most orders.
    pub frequency_score: i16,
    /// 5 for the highest net spend.
    pub monetary_score: i16,
    /// The group the three scores fall in, e.g. `CHAMPIONS`.
    pub rfm_group: String,
    pub refreshed_at: DateTimeUtc,
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
