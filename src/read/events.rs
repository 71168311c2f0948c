//! The outbox as staff read it (`Query.events`): pages of events in `seq`
//! order, cut in SQL by keyset, optionally of some types or one customer.
//! Each filter walks an index ending in `seq` (the primary key, or
//! `(event_type, seq)` / `(customer_id, seq)`), so a page costs its size
//! however long the log grows.

use c360_entity::event;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::pagination::{ById, KeysetPage};
use crate::error::AppResult;
use crate::events::EventType;

/// Which events a page holds.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only these types; all when empty.
    pub types: Vec<EventType>,
    /// Only events about this customer.
    pub customer_id: Option<i64>,
}

/// One page of the outbox after `page.after` (a cursor holding `seq`), in
/// `seq` order: one statement.
pub async fn page(
    db: &impl ConnectionTrait,
    filter: &EventFilter,
    page: &ById,
) -> AppResult<KeysetPage<event::Model>> {
    use event::Column as E;
    let mut query = event::Entity::find();
    if let Some(c) = &page.after {
        query = query.filter(E::Seq.gt(c.id));
    }
    if !filter.types.is_empty() {
        query = query.filter(E::EventType.is_in(filter.types.iter().map(|t| t.name())));
    }
    if let Some(customer) = filter.customer_id {
        query = query.filter(E::CustomerId.eq(customer));
    }
    let rows = query
        .order_by_asc(E::Seq)
        .limit(page.size + 1)
        .all(db)
        .await?;
    Ok(page.cut(rows, |e| e.seq))
}
