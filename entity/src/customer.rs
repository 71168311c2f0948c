use sea_orm::entity::prelude::*;

use crate::enums::EmailMarketingState;

#[derive(Clone, Debug, Default, PartialEq, Eq, DeriveEntityModel, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "customers")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// System the customer came from (e.g. `shopify`); unique together with `external_ref`.
    pub external_source: Option<String>,
    pub external_ref: Option<String>,
    /// Trimmed and lower-cased; unique.
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub birthday: Option<Date>,
    pub locale: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
    pub city: Option<String>,
    pub email_marketing_state: EmailMarketingState,
    #[serde(default, deserialize_with = "crate::json_time::utc_opt")]
    pub consent_updated_at: Option<DateTimeUtc>,
    /// SMS consent, in the states of email marketing consent.
    pub sms_consent_state: EmailMarketingState,
    #[serde(default, deserialize_with = "crate::json_time::utc_opt")]
    pub sms_consent_updated_at: Option<DateTimeUtc>,
    /// Consent to be called, in the states of email marketing consent.
    pub phone_consent_state: EmailMarketingState,
    #[serde(default, deserialize_with = "crate::json_time::utc_opt")]
    pub phone_consent_updated_at: Option<DateTimeUtc>,
    #[serde(deserialize_with = "crate::json_time::utc")]
    pub created_at: DateTimeUtc,
    #[serde(deserialize_with = "crate::json_time::utc")]
    pub updated_at: DateTimeUtc,
    /// Set when the customer's PII was erased on request; the row stays so aggregates hold.
    #[serde(default, deserialize_with = "crate::json_time::utc_opt")]
    pub erased_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::order::Entity")]
    Order,
    #[sea_orm(has_one = "super::customer_metrics::Entity")]
    CustomerMetrics,
}

impl Related<super::order::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Order.def()
    }
}

impl Related<super::customer_metrics::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CustomerMetrics.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
