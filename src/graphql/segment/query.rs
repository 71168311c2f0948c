//! The segment roots that need nothing saved: the language's catalogue and
//! the members of an unsaved query.

use async_graphql::{Context, Object};

use super::catalogue::{SegmentFilter, catalogue};
use super::{Members, members_page, segment_env};
use crate::auth::Domain;
use crate::graphql::context::{authorize, sees_pii};
use crate::graphql::customer::Customer;
use crate::graphql::leaves::Leaves;
use crate::read::customer_filter::Matching;

#[derive(Default)]
pub struct SegmentQuery;

#[Object]
impl SegmentQuery {
    /// The segment language's attributes and functions with their types,
    /// operators and allowed values, for editors to offer completion.
    async fn segment_filters(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<SegmentFilter>> {
        authorize(ctx, Domain::Segments)?;
        Ok(catalogue())
    }

    /// Members of an unsaved segment query, by ascending id. An invalid query
    /// is `BAD_USER_INPUT` with `line`, `column` and `suggestion` in the extensions.
    async fn segment_members(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "A segment query, e.g. `loyalty_tier = 'GOLD' AND last_order_date < -90d`."
        )]
        query: String,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the edge to start after.")] after: Option<String>,
        #[graphql(desc = "IANA time zone that dates are calendar days in; default the store's.")]
        timezone: Option<String>,
    ) -> async_graphql::Result<Leaves<Customer>> {
        let principal = authorize(ctx, Domain::Segments)?;
        authorize(ctx, Domain::Customers)?;
        let env = segment_env(ctx, timezone.as_deref())?;
        let matching = Matching::segment(&query, sees_pii(principal), &env)?;
        members_page(ctx, Members::Matching(matching), first, after).await
    }
}
