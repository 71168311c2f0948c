//! The inputs of `customers`: its typed filter and its sort order, and
//! their mapping onto the read layer's plain values.

use async_graphql::{Enum, InputObject};
use chrono::{DateTime, Utc};

use crate::graphql::enums::EmailMarketingState;
use crate::read::customer_filter as read;

/// What `customers` can be sorted by.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[graphql(remote = "crate::read::customers::SortField")]
pub enum CustomerSortField {
    /// When the customer was added.
    #[default]
    CreatedAt,
    /// Net spend; customers without orders last.
    LifetimeValue,
    /// Most recent order; customers without orders last.
    LastOrderDate,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[graphql(remote = "crate::read::pagination::Direction")]
pub enum SortDirection {
    Asc,
    #[default]
    Desc,
}

/// Sort order of `customers`; ties are broken by id.
#[derive(InputObject, Debug, Clone, Copy, Default)]
pub struct CustomerOrder {
    #[graphql(default)]
    pub field: CustomerSortField,
    #[graphql(default)]
    pub direction: SortDirection,
}

/// Filters on a customer's own fields; all given conditions must hold.
#[derive(InputObject, Debug, Clone, Default)]
pub struct CustomerFilter {
    /// Exact address (case-insensitive). Needs `pii:read` for partners.
    pub email: Option<String>,
    /// Domain part of the address, e.g. `example.com`.
    pub email_domain: Option<String>,
    /// Any of these ISO 3166-1 alpha-2 codes.
    pub country: Option<Vec<String>>,
    /// Exact city name.
    pub city: Option<String>,
    /// Any of these consent states.
    pub email_marketing_state: Option<Vec<EmailMarketingState>>,
    /// Customers carrying this tag.
    pub tag: Option<String>,
    /// Added at or after this instant.
    pub created_after: Option<DateTime<Utc>>,
    /// Added before this instant.
    pub created_before: Option<DateTime<Utc>>,
}

impl From<CustomerFilter> for read::CustomerFilter {
    fn from(f: CustomerFilter) -> read::CustomerFilter {
        read::CustomerFilter {
            email: f.email,
            email_domain: f.email_domain,
            country: f.country,
            city: f.city,
            email_marketing_state: f
                .email_marketing_state
                .map(|states| states.into_iter().map(Into::into).collect()),
            tag: f.tag,
            created_after: f.created_after,
            created_before: f.created_before,
        }
    }
}
