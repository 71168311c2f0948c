//! Customer records: found by `externalRef` (with its source) or else by
//! email, created when absent, otherwise changed only where they differ;
//! tags given as a list (JSON) or one `;`-separated string (CSV).

use std::fmt;

use c360_entity::enums::EmailMarketingState;
use c360_entity::{customer, customer_tag};
use chrono::NaiveDate;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

use super::{Context, Record};
use crate::error::{AppError, AppResult};
use crate::service::Outcome;
use crate::service::customers::{self, NewCustomer, Profile};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomerRecord {
    external_ref: Option<String>,
    external_source: Option<String>,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    phone: Option<String>,
    birthday: Option<NaiveDate>,
    locale: Option<String>,
    country: Option<String>,
    city: Option<String>,
    email_marketing_state: Option<EmailMarketingState>,
    /// A list in JSON; `;`-separated in CSV.
    #[serde(default, deserialize_with = "tag_list")]
    tags: Vec<String>,
}

impl Record for CustomerRecord {
    /// Finds the customer by `externalRef` (with its source) or else by
    /// email; creates it when absent, otherwise changes only what differs
    /// (tags are added, never removed).
    async fn write(self, db: &impl ConnectionTrait, ctx: &Context) -> AppResult<Outcome> {
        let profile = Profile {
            email: self.email,
            first_name: self.first_name,
            last_name: self.last_name,
            phone: self.phone,
            birthday: self.birthday,
            locale: self.locale,
            country: self.country,
            city: self.city,
        }
        .validate(ctx.now)?;
        let tags = customers::normalise_tags(&self.tags)?;
        if let Some(state) = self.email_marketing_state {
            customers::validate_consent(state)?;
        }
        let source = self.external_source.unwrap_or_else(|| ctx.source.clone());
        let existing = match (&self.external_ref, &profile.email) {
            (Some(reference), _) => customers::find_external(db, &source, reference).await?,
            (None, Some(email)) => {
                customer::Entity::find()
                    .filter(customer::Column::Email.eq(email.as_str()))
                    .one(db)
                    .await?
            }
            (None, None) => {
                return Err(AppError::bad_input(
                    "email",
                    "a customer record needs an email or an externalRef",
                ));
            }
        };
        let Some(current) = existing else {
            customers::create(
                db,
                &ctx.rules,
                &ctx.principal,
                NewCustomer {
                    profile,
                    external: self.external_ref.map(|r| (source, r)),
                    consent: self.email_marketing_state,
                    tags,
                    referral_code: None,
                },
                ctx.now,
            )
            .await?;
            return Ok(Outcome::Created);
        };
        let id = current.id;
        let profile_changes = differs(&current, &profile);
        let held: Vec<String> = customer_tag::Entity::find()
            .select_only()
            .column(customer_tag::Column::Tag)
            .filter(customer_tag::Column::CustomerId.eq(id))
            .into_tuple()
            .all(db)
            .await?;
        let new_tags: Vec<String> = tags.into_iter().filter(|t| !held.contains(t)).collect();
        let consent = self
            .email_marketing_state
            .filter(|s| *s != current.email_marketing_state);
        if !profile_changes && new_tags.is_empty() && consent.is_none() {
            return Ok(Outcome::Unchanged);
        }
        if profile_changes {
            customers::update(db, &ctx.principal, id, profile, ctx.now).await?;
        }
        if !new_tags.is_empty() {
            customers::change_tags(db, &ctx.principal, id, &new_tags, true, ctx.now).await?;
        }
        if let Some(state) = consent {
            customers::set_consent(db, &ctx.principal, id, state, ctx.now).await?;
        }
        Ok(Outcome::Updated)
    }
}

/// Whether a given profile field differs from the stored one.
fn differs(current: &customer::Model, p: &Profile) -> bool {
    fn changes<T: PartialEq>(given: &Option<T>, stored: &Option<T>) -> bool {
        given.as_ref().is_some_and(|g| Some(g) != stored.as_ref())
    }
    p.email.as_ref().is_some_and(|e| *e != current.email)
        || changes(&p.first_name, &current.first_name)
        || changes(&p.last_name, &current.last_name)
        || changes(&p.phone, &current.phone)
        || changes(&p.birthday, &current.birthday)
        || changes(&p.locale, &current.locale)
        || changes(&p.country, &current.country)
        || changes(&p.city, &current.city)
}

/// Tags as a list (JSON) or one `;`-separated string (CSV).
fn tag_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct Tags;
    impl<'de> Visitor<'de> for Tags {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of tags or a `;`-separated string")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(v.split(';')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(Tags)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(tag) = seq.next_element::<String>()? {
                out.push(tag);
            }
            Ok(out)
        }
    }
    d.deserialize_option(Tags)
}
