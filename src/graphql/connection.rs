//! Relay connections over the batched page loaders and the read layer's
//! keyset pages, and `totalCount`, which is counted only when a client
//! selects it.

use async_graphql::connection::{Connection, Edge};
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, ErrorExtensions, Object, ObjectType, OutputType};

use super::context::{loaders, reader};
use crate::read::columns::Columns;
use crate::read::customer_filter::Matching;
use crate::read::loaders::{ChildList, Page, PageKey, PageLoader};
use crate::read::pagination::{Cursor, KeysetPage, decode_cursor, page_size};

/// What `totalCount` counts.
#[derive(Debug, Clone)]
pub enum Total {
    Orders(i64),
    OrderLines(i64),
    Tickets(i64),
    TicketMessages(i64),
    Reviews(i64),
    Referrals(i64),
    LoyaltyTransactions(i64),
    NpsResponses(i64),
    StoreCreditEntries(i64),
    /// Customers a selection matches (already within the caller's scope).
    Customers(Matching),
    /// The kept members of a tracked segment.
    SegmentMembers(i64),
}

#[Object]
impl Total {
    /// Number of items in the whole list, across all pages. Costs one more
    /// statement per list level, so select it only when it is shown.
    async fn total_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        self.count(ctx).await
    }
}

impl Total {
    pub async fn count(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        let l = loaders(ctx)?;
        let count = match self {
            Total::Orders(p) => l.order_count.load_one(*p).await,
            Total::OrderLines(p) => l.order_line_count.load_one(*p).await,
            Total::Tickets(p) => l.ticket_count.load_one(*p).await,
            Total::TicketMessages(p) => l.ticket_message_count.load_one(*p).await,
            Total::Reviews(p) => l.review_count.load_one(*p).await,
            Total::Referrals(p) => l.referral_count.load_one(*p).await,
            Total::LoyaltyTransactions(p) => l.loyalty_transaction_count.load_one(*p).await,
            Total::NpsResponses(p) => l.nps_response_count.load_one(*p).await,
            Total::StoreCreditEntries(p) => l.store_credit_entry_count.load_one(*p).await,
            Total::Customers(matching) => {
                let db = reader(ctx)?;
                return Ok(crate::read::customers::count(db, matching).await?);
            }
            Total::SegmentMembers(segment) => {
                let db = reader(ctx)?;
                return Ok(crate::read::segments::kept_count(db, *segment).await?);
            }
        };
        Ok(count.map_err(|e| e.extend())?.unwrap_or(0))
    }
}

pub type Conn<N> = Connection<Cursor, N, Total>;

/// A page the read layer read, as a connection of `node`s.
pub fn keyset<T, N, F>(
    page: KeysetPage<T>,
    fields: F,
    node: impl Fn(T) -> N,
) -> Connection<Cursor, N, F>
where
    N: OutputType,
    F: ObjectType,
{
    let mut conn = Connection::with_additional_fields(page.has_previous, page.has_next, fields);
    conn.edges.extend(
        page.edges
            .into_iter()
            .map(|(cursor, row)| Edge::new(cursor, node(row))),
    );
    conn
}

/// A page of a parent's children, loaded with every sibling parent's page,
/// with `columns` of its rows (see `leaves::page_columns`).
pub async fn child_page<R, N>(
    loader: &DataLoader<PageLoader<R>>,
    parent: i64,
    (first, after): (Option<i32>, Option<String>),
    columns: Columns,
    total: Total,
    node: impl Fn(R::Model) -> N,
) -> async_graphql::Result<Conn<N>>
where
    R: ChildList,
    N: async_graphql::OutputType,
{
    let first = page_size("first", first)?;
    let after = decode_cursor("after", after.as_deref(), R::KEY)?;
    let key = PageKey {
        parent,
        first,
        after: after.clone(),
        columns,
    };
    let page = loader.load_one(key).await.map_err(|e| e.extend())?;
    Ok(conn_of::<R, N>(
        Page::take(page),
        after.is_some(),
        total,
        node,
    ))
}

/// A parent's page as a connection of `node`s.
pub fn conn_of<R, N>(
    page: Page<R::Model>,
    after: bool,
    total: Total,
    node: impl Fn(R::Model) -> N,
) -> Conn<N>
where
    R: ChildList,
    N: async_graphql::OutputType,
{
    let mut conn = Connection::with_additional_fields(after, page.has_next, total);
    conn.edges.extend(
        page.rows
            .into_iter()
            .map(|row| Edge::new(R::cursor_of(&row), node(row))),
    );
    conn
}
