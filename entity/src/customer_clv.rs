use sea_orm::entity::prelude::*;

/// What the lifetime-value models predict for a customer with a counted
/// order, as of the last refresh (see `c360::service::clv`). Absent figures
/// are explained by `status`; money is in minor units of the base currency.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "customer_clv")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub customer_id: i64,
    /// The `clv_fits` row these come from.
    pub fit_id: i64,
    /// E.g. `PREDICTED`, `NO_REPEAT_ORDER`, `BASE_TOO_SMALL`.
    pub status: String,
    /// 1 − P(still active).
    pub churn_probability: Option<f64>,
    /// `LOW`, `MEDIUM`, `HIGH` or `VERY_HIGH`.
    pub churn_risk: Option<String>,
    #[sea_orm(column_name = "expected_orders_90d")]
    pub expected_orders_90d: Option<f64>,
    #[sea_orm(column_name = "expected_orders_365d")]
    pub expected_orders_365d: Option<f64>,
    /// Expected total of an order, before refunds.
    pub expected_order_value: Option<i64>,
    /// Expected net spend over the next 365 days.
    pub predicted_value: Option<i64>,
    pub next_order_at: Option<DateTimeUtc>,
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
