use sea_orm::entity::prelude::*;

use crate::enums::ReviewStatus;

/// One review per customer and product sku.
#[derive(Clone, Debug, Default, PartialEq, Eq, DeriveEntityModel, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "reviews")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub customer_id: i64,
    pub product_sku: String,
    pub order_id: Option<i64>,
    /// 1-5.
    pub rating: i32,
    pub title: Option<String>,
    pub body: Option<String>,
    pub status: ReviewStatus,
    /// True only when one of the customer's paid orders holds the sku.
    pub verified_purchase: bool,
    #[serde(deserialize_with = "crate::json_time::utc")]
    pub created_at: DateTimeUtc,
    #[serde(deserialize_with = "crate::json_time::utc")]
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
