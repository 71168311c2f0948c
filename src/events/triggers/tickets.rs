//! `ticket.first_reply_breached`: a ticket still waiting for its first
//! agent reply once the first-reply target (`C360_TICKET_FIRST_REPLY_TARGET`)
//! has passed, told when the target passes rather than when a late reply
//! comes; key `ticket_first_reply_breached:<ticket>`.
//!
//! "Passed" is as the API's `firstReplyBreached` has it: waited longer than
//! the target. A ticket SOLVED or CLOSED without a reply awaits none, so it
//! is not told; nor is a ticket whose late first reply came before any pass
//! saw it waiting (its `ticket.agent_replied` carries `firstReplyAt`).
//!
//! Candidates: unanswered tickets not yet solved, created before `now -
//! target` (the `tickets(status)` index), a backlog support works down.
//! Per batch: the tickets, the keys already told, the insert.

use c360_entity::enums::TicketStatus;
use c360_entity::ticket;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::error::AppResult;
use crate::events::payload;
use crate::events::scheduler::{BATCH, Pass, emit_new};

/// Statuses of a ticket that no longer awaits a reply.
const DONE: [TicketStatus; 2] = [TicketStatus::Solved, TicketStatus::Closed];

fn key(ticket_id: i64) -> String {
    format!("ticket_first_reply_breached:{ticket_id}")
}

pub(crate) async fn run(db: &DatabaseConnection, pass: &Pass<'_>) -> AppResult<u64> {
    let due_before = pass.now - pass.first_reply_target;
    let mut emitted = 0;
    let mut after = 0i64;
    loop {
        let tickets = ticket::Entity::find()
            .filter(ticket::Column::FirstReplyAt.is_null())
            .filter(ticket::Column::Status.is_not_in(DONE))
            .filter(ticket::Column::CreatedAt.lt(due_before))
            .filter(ticket::Column::Id.gt(after))
            .order_by_asc(ticket::Column::Id)
            .limit(BATCH as u64)
            .all(db)
            .await?;
        let Some(last) = tickets.last().map(|t| t.id) else {
            break;
        };
        let full = tickets.len() == BATCH;
        let events = tickets
            .iter()
            .map(|t| {
                let due_at = t.created_at + pass.first_reply_target;
                (payload::ticket_first_reply_breached(t, due_at), key(t.id))
            })
            .collect();
        emitted += emit_new(db, pass.now, events).await?;
        if !full {
            break;
        }
        after = last;
    }
    Ok(emitted)
}
