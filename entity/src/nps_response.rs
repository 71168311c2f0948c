use sea_orm::entity::prelude::*;

use crate::enums::NpsChannel;

#[derive(Clone, Debug, Default, PartialEq, Eq, DeriveEntityModel, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "nps_responses")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub customer_id: i64,
    /// The survey tool's id of the answer, for imports; unique where set.
    pub external_ref: Option<String>,
    /// 0-10.
    pub score: i32,
    pub comment: Option<String>,
    pub channel: NpsChannel,
    #[serde(deserialize_with = "crate::json_time::utc")]
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
