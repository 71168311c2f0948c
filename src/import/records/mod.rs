//! The records of each kind as a file spells them, with the same field names
//! in JSON Lines and CSV (camelCase, as in the GraphQL inputs; money in
//! minor units, times in RFC 3339), and how each is written through the
//! service rules: one file per kind ([`customers`], [`orders`], [`tickets`],
//! [`reviews`], [`nps`]); here what they share: the [`Context`] a run writes
//! with, the [`Record`] trait, and the customer a record names.
//!
//! A record names its customer by exactly one of `customerId` (a number or
//! `gid://c360/Customer/N`), `customerEmail`, or `customerExternalRef` (with
//! `customerExternalSource`, defaulting to `--source`).

use std::fmt;

use c360_entity::customer;
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};

use crate::auth::Principal;
use crate::domain::ids::{Kind as IdKind, decode_lenient};
use crate::error::{AppError, AppResult};
use crate::service::customers::{find_external, normalise_email};
use crate::service::{Outcome, Rules};

/// The reference of a record with `customer_id`, `customer_email`,
/// `customer_external_ref` and `customer_external_source` fields.
macro_rules! customer_ref {
    ($record:expr) => {
        $crate::import::records::CustomerRef {
            id: $record.customer_id.as_deref(),
            email: $record.customer_email.as_deref(),
            external_ref: $record.customer_external_ref.as_deref(),
            external_source: $record.customer_external_source.as_deref(),
        }
    };
}

mod customers;
mod nps;
mod orders;
mod reviews;
mod tickets;

pub use customers::CustomerRecord;
pub use nps::NpsRecord;
pub use orders::{LineRecord, OrderCsvRow, OrderRecord, group_order_rows};
pub use reviews::ReviewRecord;
pub use tickets::{MessageRecord, TicketRecord};

/// What every record is written with.
pub struct Context {
    pub rules: Rules,
    pub principal: Principal,
    /// The system customers' external references belong to.
    pub source: String,
    /// When the import runs: what every record is stamped with and checked against.
    pub now: DateTime<Utc>,
}

impl Context {
    /// Refuses times ahead of the run (beyond a few minutes of skew):
    /// history is imported, not the future.
    fn past(&self, field: &str, at: Option<DateTime<Utc>>) -> AppResult<Option<DateTime<Utc>>> {
        match at {
            Some(t) if t > self.now + chrono::TimeDelta::minutes(5) => Err(AppError::bad_input(
                field,
                format!("{field} {} is in the future", t.to_rfc3339()),
            )),
            other => Ok(other),
        }
    }
}

/// A record of one kind, written as one unit: all of it or nothing.
pub trait Record: DeserializeOwned + Send {
    fn write(
        self,
        db: &impl ConnectionTrait,
        ctx: &Context,
    ) -> impl Future<Output = AppResult<Outcome>> + Send;
}

/// `customerId`, `customerEmail`, `customerExternalRef`: one of them names
/// the record's customer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CustomerRef<'a> {
    id: Option<&'a str>,
    email: Option<&'a str>,
    external_ref: Option<&'a str>,
    external_source: Option<&'a str>,
}

/// What a [`CustomerRef`] looks its customer up by, once checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum CustomerKey {
    Id(i64),
    /// Normalised.
    Email(String),
    External {
        source: String,
        reference: String,
    },
}

impl CustomerRef<'_> {
    async fn resolve(self, db: &impl ConnectionTrait, ctx: &Context) -> AppResult<i64> {
        let found = match self.key(ctx)? {
            CustomerKey::Id(id) => customer::Entity::find_by_id(id).one(db).await?,
            CustomerKey::Email(email) => {
                customer::Entity::find()
                    .filter(customer::Column::Email.eq(email))
                    .one(db)
                    .await?
            }
            CustomerKey::External { source, reference } => {
                find_external(db, &source, &reference).await?
            }
        };
        self.found(found.as_ref(), ctx)
    }

    /// The key to look the customer up by; BAD_USER_INPUT when the
    /// reference is malformed or names none or several ways.
    pub(crate) fn key(self, ctx: &Context) -> AppResult<CustomerKey> {
        Ok(match (self.id, self.email, self.external_ref) {
            (Some(id), None, None) => {
                CustomerKey::Id(decode_lenient("customerId", IdKind::Customer, id)?)
            }
            (None, Some(email), None) => {
                CustomerKey::Email(normalise_email(email).map_err(|_| {
                    AppError::bad_input(
                        "customerEmail",
                        format!("`{email}` is not an email address"),
                    )
                })?)
            }
            (None, None, Some(reference)) => CustomerKey::External {
                source: self.external_source.unwrap_or(&ctx.source).to_owned(),
                reference: reference.to_owned(),
            },
            _ => {
                return Err(AppError::bad_input(
                    "customerId",
                    "name the customer with exactly one of customerId, customerEmail or customerExternalRef",
                ));
            }
        })
    }

    /// The id of the customer looked up by [`CustomerRef::key`]: NOT_FOUND
    /// without one, CONFLICT when it was erased.
    pub(crate) fn found(self, found: Option<&customer::Model>, ctx: &Context) -> AppResult<i64> {
        let customer = found.ok_or_else(|| {
            AppError::NotFound(match (self.id, self.email, self.external_ref) {
                (Some(id), _, _) => format!("no customer with id {id}"),
                (_, Some(email), _) => format!("no customer with email {email}"),
                (_, _, Some(r)) => format!(
                    "no customer with externalRef `{r}` from `{}`",
                    self.external_source.unwrap_or(&ctx.source)
                ),
                _ => unreachable!("one reference is given"),
            })
        })?;
        if customer.erased_at.is_some() {
            return Err(AppError::Conflict(format!(
                "customer {} was erased; nothing more is recorded for it",
                customer.id
            )));
        }
        Ok(customer.id)
    }
}

pub(crate) fn required<T>(field: &str, value: Option<T>) -> AppResult<T> {
    value.ok_or_else(|| AppError::bad_input(field, format!("{field} is required")))
}

/// An id given as a JSON number or a string.
fn id_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    struct Id;
    impl<'de> Visitor<'de> for Id {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a customer id (a number or gid://c360/Customer/N)")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok((!v.trim().is_empty()).then(|| v.trim().to_owned()))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(Id)
        }
    }
    d.deserialize_option(Id)
}
