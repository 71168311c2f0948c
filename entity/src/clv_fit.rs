use sea_orm::entity::prelude::*;

/// One refresh of the lifetime-value models (see `c360::service::clv`): the
/// BG/NBD purchase model (time in days) and the Gamma-Gamma spend model
/// (major units of the base currency) fitted over every customer with a
/// counted order. A model's parameters are null when it was not fitted (too
/// few customers); `status` is the base's outcome, as `customer_clv.status`
/// names it.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "clv_fits")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub fitted_at: DateTimeUtc,
    pub status: String,
    /// Customers with a counted order: the purchase model's base.
    pub customers: i64,
    pub purchase_r: Option<f64>,
    pub purchase_alpha: Option<f64>,
    pub purchase_a: Option<f64>,
    pub purchase_b: Option<f64>,
    pub purchase_log_likelihood: Option<f64>,
    pub purchase_converged: Option<bool>,
    /// Customers with a repeat order of positive value: the spend model's base.
    pub repeat_customers: i64,
    pub spend_p: Option<f64>,
    pub spend_q: Option<f64>,
    pub spend_gamma: Option<f64>,
    pub spend_log_likelihood: Option<f64>,
    pub spend_converged: Option<bool>,
    /// Refunded over spent, across the base's counted orders.
    pub refund_share: f64,
    /// Expected orders of the whole base in the next 90 and 365 days.
    #[sea_orm(column_name = "expected_orders_90d")]
    pub expected_orders_90d: Option<f64>,
    #[sea_orm(column_name = "expected_orders_365d")]
    pub expected_orders_365d: Option<f64>,
    /// The customers' predicted values summed, minor units.
    pub predicted_value: Option<i64>,
    /// Time spent fitting and predicting, reading and writing excluded.
    pub fit_millis: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
