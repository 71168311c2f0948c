//! Due follow-ups as CX staff work through them (`Query.followUpsDue`):
//! DUE rows, oldest due first, cut by keyset on `(due_at, order_id)`, each
//! with its order read in the same statement. The
//! `follow_ups(state, due_at, order_id)` index walks the order, so a page
//! costs its size however many follow-ups were ever made.

use c360_entity::follow_up::{self, FollowUpState};
use c360_entity::order;
use sea_orm::{ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::pagination::{
    Cursor, Direction, Key, KeyKind, KeysetPage, SortValue, decode_cursor, page_size, seek_after,
};
use crate::error::{AppError, AppResult};

/// A page of the due list: `first` and `after`, checked.
#[derive(Debug, Clone)]
pub struct ByDue {
    pub size: u64,
    pub after: Option<Cursor>,
}

impl ByDue {
    pub fn new(first: Option<i32>, after: Option<&str>) -> AppResult<ByDue> {
        Ok(ByDue {
            size: page_size("first", first)?,
            after: decode_cursor("after", after, KeyKind::Time)?,
        })
    }
}

/// One page of due follow-ups with their orders: one statement.
pub async fn due_page(
    db: &impl ConnectionTrait,
    page: &ByDue,
) -> AppResult<KeysetPage<(follow_up::Model, order::Model)>> {
    use follow_up::Column as F;
    let mut query = follow_up::Entity::find()
        .find_also_related(order::Entity)
        .filter(sea_orm::ColumnTrait::eq(&F::State, FollowUpState::Due));
    if let Some(cursor) = &page.after {
        query = query.filter(seek_after(
            Some(Key::not_null((follow_up::Entity, F::DueAt))),
            (follow_up::Entity, F::OrderId),
            Direction::Asc,
            cursor,
        ));
    }
    let rows = query
        .order_by_asc(F::DueAt)
        .order_by_asc(F::OrderId)
        .limit(page.size + 1)
        .all(db)
        .await?;
    let has_next = rows.len() as u64 > page.size;
    let mut edges = Vec::with_capacity(rows.len());
    for (due, order) in rows.into_iter().take(page.size as usize) {
        // The foreign key keeps every follow-up's order.
        let order = order.ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!("follow-up {} has no order", due.order_id))
        })?;
        let cursor = Cursor::new(SortValue::Time(due.due_at), due.order_id);
        edges.push((cursor, (due, order)));
    }
    Ok(KeysetPage {
        edges,
        has_previous: page.after.is_some(),
        has_next,
    })
}
