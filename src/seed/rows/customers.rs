//! Rows of the customer itself: the profile and its tags.

use c360_entity::enums::EmailMarketingState;
use c360_entity::{customer, customer_tag};
use chrono::NaiveDate;
use sea_orm::sea_query::Value;

use super::{BulkRow, opt_str, opt_ts, ts};

#[derive(Debug, Clone)]
pub struct CustomerRow {
    pub id: i64,
    pub external_source: Option<&'static str>,
    pub external_ref: Option<String>,
    pub email: String,
    pub first_name: &'static str,
    pub last_name: &'static str,
    pub phone: Option<String>,
    pub birthday: Option<NaiveDate>,
    pub locale: &'static str,
    pub country: &'static str,
    pub city: &'static str,
    pub email_marketing_state: EmailMarketingState,
    pub consent_updated_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl BulkRow for CustomerRow {
    type Entity = customer::Entity;
    fn columns() -> Vec<customer::Column> {
        use customer::Column as C;
        vec![
            C::Id,
            C::ExternalSource,
            C::ExternalRef,
            C::Email,
            C::FirstName,
            C::LastName,
            C::Phone,
            C::Birthday,
            C::Locale,
            C::Country,
            C::City,
            C::EmailMarketingState,
            C::ConsentUpdatedAt,
            C::CreatedAt,
            C::UpdatedAt,
        ]
    }
    fn into_values(self) -> Vec<Value> {
        vec![
            self.id.into(),
            opt_str(self.external_source),
            self.external_ref.into(),
            self.email.into(),
            self.first_name.into(),
            self.last_name.into(),
            self.phone.into(),
            self.birthday.into(),
            self.locale.into(),
            self.country.into(),
            self.city.into(),
            self.email_marketing_state.into(),
            opt_ts(self.consent_updated_at),
            ts(self.created_at),
            ts(self.updated_at),
        ]
    }
}

#[derive(Debug, Clone)]
pub struct TagRow {
    pub customer_id: i64,
    pub tag: &'static str,
}

impl BulkRow for TagRow {
    type Entity = customer_tag::Entity;
    fn columns() -> Vec<customer_tag::Column> {
        vec![customer_tag::Column::CustomerId, customer_tag::Column::Tag]
    }
    fn into_values(self) -> Vec<Value> {
        vec![self.customer_id.into(), self.tag.into()]
    }
}
