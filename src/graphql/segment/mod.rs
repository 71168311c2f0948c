//! Segments: the catalogue of the segment language for editors
//! ([`catalogue`]), the members of an unsaved query ([`query`]), saved
//! segments and their writes ([`saved`]) and the figures over a segment's
//! members ([`stats`]). The SQL is `read::segments`'.

mod catalogue;
mod query;
mod saved;
mod stats;

use async_graphql::Context;

use super::connection::{Conn, Total};
use super::context::{reader, state};
use super::customer::{self, Customer, joins_of_connection};
use super::leaves::Leaves;
use crate::config::parse_timezone;
use crate::error::AppError;
use crate::read::customer_filter::Matching;
use crate::read::pagination::ById;
use crate::segment::Env;

pub use query::SegmentQuery;
pub use saved::{SavedSegmentQuery, SegmentMutation};

/// Today, by the app's clock, in the request's time zone or the store's.
pub fn segment_env(ctx: &Context<'_>, timezone: Option<&str>) -> async_graphql::Result<Env> {
    let st = state(ctx)?;
    let tz = match timezone {
        Some(name) => parse_timezone(name).map_err(|m| AppError::bad_input("timezone", m))?,
        None => st.config.timezone,
    };
    Ok(Env::at(st.clock.now(), tz, &st.config.base_currency))
}

/// Whose members a page reads: the customers a query selects now, or a
/// tracked segment's kept membership.
pub enum Members {
    Matching(Matching),
    Kept(i64),
}

/// The members, by ascending id after `after`.
pub async fn members_page(
    ctx: &Context<'_>,
    members: Members,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<Leaves<Customer>> {
    let page = ById::new(first, after.as_deref())?;
    let total = match &members {
        Members::Matching(matching) => Total::Customers(matching.clone()),
        Members::Kept(segment) => Total::SegmentMembers(*segment),
    };
    // `first: 0` with no `pageInfo` asks for the count alone: no members
    // and nothing to probe for, so no statement beyond the count.
    if page.size == 0 && !ctx.look_ahead().field("pageInfo").exists() {
        return Ok(Leaves(Conn::with_additional_fields(
            page.after.is_some(),
            false,
            total,
        )));
    }
    let db = reader(ctx)?;
    let joins = joins_of_connection(ctx, &ctx.look_ahead());
    let rows = match &members {
        Members::Matching(matching) => {
            crate::read::segments::members(db, matching, &page, joins).await?
        }
        Members::Kept(segment) => {
            crate::read::segments::kept_members(db, *segment, &page, joins).await?
        }
    };
    Ok(customer::connection(rows, total))
}
