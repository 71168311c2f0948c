//! The root queries that find customers: by id, by email, `me`, and the
//! `customers` list (read by `read::customers`).

use async_graphql::{Context, ID, Object};

use super::filter::{CustomerFilter, CustomerOrder};
use super::{Customer, connection, joins_of_connection, written};
use crate::auth::{Domain, Role};
use crate::error::AppError;
use crate::graphql::connection::Total;
use crate::graphql::context::{authorize, reader, scope_of, sees_pii};
use crate::graphql::ids::{Kind, decode};
use crate::graphql::leaves::{Leaves, Written};
use crate::graphql::limits::page_cost;
use crate::graphql::segment::segment_env;
use crate::read::customer_filter::Matching;
use crate::read::customers::{self, PageRequest};

#[derive(Default)]
pub struct CustomerQuery;

#[Object]
impl CustomerQuery {
    /// A customer by id; null when it does not exist or the caller may not see it.
    async fn customer(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<Written<Customer>>> {
        authorize(ctx, Domain::Customers)?;
        let id = decode("id", Kind::Customer, &id)?;
        Ok(Customer::load_root(ctx, id).await?.map(Written))
    }

    /// A customer by email address (case-insensitive). Needs `pii:read` for partners.
    async fn customer_by_email(
        &self,
        ctx: &Context<'_>,
        email: String,
    ) -> async_graphql::Result<Option<Customer>> {
        let principal = authorize(ctx, Domain::Customers)?;
        if !sees_pii(principal) {
            return Err(AppError::Forbidden(
                "looking customers up by email needs the `pii:read` scope".into(),
            )
            .into());
        }
        let email = crate::domain::email::normalise("email", &email)?;
        let db = reader(ctx)?;
        Ok(customers::by_email(db, &email, scope_of(principal))
            .await?
            .map(Customer::from))
    }

    /// The customer a CUSTOMER token speaks for.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Written<Customer>>> {
        let principal = authorize(ctx, Domain::Customers)?;
        if principal.role != Role::Customer {
            return Err(AppError::Forbidden(
                "`me` is for CUSTOMER tokens; use `customer(id)`".into(),
            )
            .into());
        }
        match principal.customer_id() {
            Some(id) => Ok(Customer::load_root(ctx, id).await?.map(Written)),
            None => Ok(None),
        }
    }

    /// Customers, paginated by keyset. A CUSTOMER token sees only itself.
    #[graphql(complexity = "page_cost(first.or(last), child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn customers(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size from the start, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the edge to start after.")] after: Option<String>,
        #[graphql(desc = "Page size from the end, at most 100.")] last: Option<i32>,
        #[graphql(desc = "Cursor of the edge to end before.")] before: Option<String>,
        filter: Option<CustomerFilter>,
        order_by: Option<CustomerOrder>,
        #[graphql(
            desc = "A segment query (see `segmentFilters`), ANDed with `filter`, e.g. `amount_spent >= 500 AND last_order_date < -90d`."
        )]
        query: Option<String>,
    ) -> async_graphql::Result<Leaves<Customer>> {
        let principal = authorize(ctx, Domain::Customers)?;
        let order = order_by.unwrap_or_default();
        let request = PageRequest::new(
            first,
            after.as_deref(),
            last,
            before.as_deref(),
            order.field.into(),
            order.direction.into(),
        )?;
        let pii = sees_pii(principal);
        let env = segment_env(ctx, None)?;
        let filter = filter.unwrap_or_default().into();
        let mut matching = Matching::filter(&filter, pii, &env)?;
        if let Some(text) = query {
            // The segment language is a segments feature: CUSTOMER tokens never use it.
            authorize(ctx, Domain::Segments)?;
            matching = matching.and(Matching::segment(&text, pii, &env)?);
        }
        let matching = matching.within(scope_of(principal));
        let db = reader(ctx)?;
        let joins = joins_of_connection(ctx, &ctx.look_ahead());
        let query = customers::PageQuery::new(&request, &matching, joins);
        let page = written::read_page(ctx, db, query).await?;
        Ok(connection(page, Total::Customers(matching)))
    }
}
