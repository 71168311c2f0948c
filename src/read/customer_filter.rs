//! Which customers a read selects ([`Matching`]): the typed filter of
//! `customers` ([`CustomerFilter`]), a query in the segment language and the
//! caller's scope, as one condition over `segment::customers_joined`. The
//! typed filter builds the same AST as the segment language, so both compile
//! the same way.

use c360_entity::customer;
use c360_entity::enums::EmailMarketingState;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, SelectStatement};
use sea_orm::{ActiveEnum, ColumnTrait, QueryFilter, QuerySelect, QueryTrait};

use crate::auth::CustomerScope;
use crate::domain::money::minor_digits;
use crate::error::AppError;
use crate::segment::ast::{Attr, CmpOp, Expr, Pred, Test, Value};
use crate::segment::{Env, compile, customers_joined, parse};

/// Filters on a customer's own fields; all given conditions must hold.
/// Errors name the field as `filter.<field>`.
#[derive(Debug, Clone, Default)]
pub struct CustomerFilter {
    /// Exact address (case-insensitive); needs PII access.
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

impl CustomerFilter {
    /// The filter as a segment: every given field is one ANDed predicate.
    pub fn to_segment(&self, pii: bool) -> Result<Expr, AppError> {
        let pred = |attr: Attr, test: Test| Expr::Pred(Pred::Attr { attr, test });
        let text = |s: String| Value::Text(s);
        let mut terms = Vec::new();
        if let Some(email) = &self.email {
            if !pii {
                return Err(AppError::Forbidden(
                    "filtering by email needs the `pii:read` scope".into(),
                ));
            }
            let email = crate::domain::email::normalise("filter.email", email)?;
            terms.push(pred(Attr::Email, Test::Cmp(CmpOp::Eq, text(email))));
        }
        if let Some(domain) = &self.email_domain {
            let domain = domain.trim().trim_start_matches('@').to_lowercase();
            if domain.is_empty() || domain.contains(['@', '*', '%', '_']) {
                return Err(AppError::bad_input(
                    "filter.emailDomain",
                    "`emailDomain` must be a domain such as `example.com`",
                ));
            }
            terms.push(pred(Attr::EmailDomain, Test::Cmp(CmpOp::Eq, text(domain))));
        }
        if let Some(countries) = &self.country {
            let codes: Vec<String> = countries.iter().map(|c| c.trim().to_uppercase()).collect();
            if let Some(bad) = codes
                .iter()
                .find(|c| c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_alphabetic()))
            {
                return Err(AppError::bad_input(
                    "filter.country",
                    format!("`{bad}` is not an ISO 3166-1 alpha-2 country code such as `US`"),
                ));
            }
            terms.push(pred(
                Attr::Country,
                Test::In(codes.into_iter().map(text).collect()),
            ));
        }
        if let Some(city) = &self.city {
            terms.push(pred(
                Attr::City,
                Test::Cmp(CmpOp::Eq, text(city.trim().to_owned())),
            ));
        }
        if let Some(states) = &self.email_marketing_state {
            let states = states.iter().map(|s| text(s.to_value())).collect();
            terms.push(pred(Attr::EmailSubscriptionStatus, Test::In(states)));
        }
        if let Some(tag) = &self.tag {
            terms.push(pred(
                Attr::CustomerTags,
                Test::Contains(text(tag.trim().to_lowercase())),
            ));
        }
        if let Some(after) = self.created_after {
            terms.push(pred(
                Attr::CustomerAddedDate,
                Test::Cmp(CmpOp::Ge, Value::Instant(after)),
            ));
        }
        if let Some(before) = self.created_before {
            terms.push(pred(
                Attr::CustomerAddedDate,
                Test::Cmp(CmpOp::Lt, Value::Instant(before)),
            ));
        }
        Ok(Expr::And(terms))
    }
}

/// The customers a list, a count or an aggregate reads: one condition over
/// `customers` joined with their metrics and loyalty account.
#[derive(Debug, Clone)]
pub struct Matching(Condition);

impl Matching {
    /// Customers the typed filter selects; filtering by email needs PII access.
    pub fn filter(filter: &CustomerFilter, pii: bool, env: &Env) -> Result<Matching, AppError> {
        Ok(Matching(compile(&filter.to_segment(pii)?, env)?))
    }

    /// Parses, checks and compiles a segment query; filtering by email needs
    /// PII access.
    pub fn segment(text: &str, pii: bool, env: &Env) -> Result<Matching, AppError> {
        let expr = parse(text, minor_digits(&env.base_currency))?;
        if !pii && expr.mentions(Attr::Email) {
            return Err(AppError::Forbidden(
                "segments on `email` need the `pii:read` scope".into(),
            ));
        }
        Ok(Matching(compile(&expr, env)?))
    }

    /// Customers both select.
    pub fn and(self, other: Matching) -> Matching {
        Matching(self.0.add(other.0))
    }

    /// Only the customers `scope` lets the caller see.
    pub fn within(self, scope: CustomerScope) -> Matching {
        match scope {
            CustomerScope::Only(own) => Matching(self.0.add(customer::Column::Id.eq(own))),
            CustomerScope::All => self,
        }
    }

    /// The ids of the matching customers, as a subquery (the population of
    /// `service::insights::period`).
    pub fn ids(&self) -> SelectStatement {
        customers_joined()
            .select_only()
            .column(customer::Column::Id)
            .filter(self.condition())
            .into_query()
    }

    /// The condition, over `segment::customers_joined`.
    pub(super) fn condition(&self) -> Condition {
        self.0.clone()
    }
}
