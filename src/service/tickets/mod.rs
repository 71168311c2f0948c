//! Support tickets: opening, replies, status changes and CSAT, with the
//! customer's metrics (open tickets, first-reply time, CSAT) refreshed and an
//! audit row written in the caller's transaction.
//!
//! Statuses: NEW until an agent answers; OPEN, PENDING (waiting on the
//! customer) and HOLD (waiting on a third party) while worked; SOLVED; CLOSED
//! is final. A ticket moves freely among OPEN, PENDING, HOLD and SOLVED,
//! SOLVED may reopen or close, nothing returns to NEW and nothing leaves
//! CLOSED. A customer reply to a PENDING or HOLD ticket makes it OPEN.
//!
//! This file is the face callers use (`crate::service::tickets::X`) and
//! holds what every ticket write shares: finding a ticket the caller may act
//! on and finishing a write (metrics, audit and events).
//!
//! Events: `ticket.opened`, `ticket.agent_replied` (not a customer's
//! reply), `ticket.solved` (a move to SOLVED), `ticket.rated`; an imported
//! ticket tells the same moments when the import is the first to show them.

use c360_entity::ticket;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, EntityTrait};

use crate::auth::Principal;
use crate::domain::ids::{Kind, gid};
use crate::error::{AppError, AppResult};
use crate::events::{self, NewEvent};
use crate::service::{Rules, audit, metrics, owner};

mod import;
mod open;
mod rating;
mod reply;
mod status;

pub use import::{ImportedMessage, ImportedTicket, import};
pub use open::open;
pub use rating::rate;
pub use reply::reply;
pub use status::{may_move, set_status};

/// Message bodies, as customers and agents write them, in characters.
const BODY_MAX: usize = 10_000;

/// What a ticket write records when it is done: the audit row's action and
/// details, and the events it caused.
struct Done {
    action: &'static str,
    details: serde_json::Value,
    events: Vec<NewEvent>,
}

/// Refreshes the customer's metrics, records the audit row on the ticket
/// and emits the write's events.
async fn finish(
    db: &impl ConnectionTrait,
    rules: &Rules,
    principal: &Principal,
    ticket: &ticket::Model,
    done: Done,
    now: DateTime<Utc>,
) -> AppResult<()> {
    metrics::refresh_for(db, &rules.base_currency, &[ticket.customer_id], now).await?;
    audit::record(
        db,
        principal,
        done.action,
        &gid(Kind::Ticket, ticket.id),
        Some(ticket.customer_id),
        done.details,
        now,
    )
    .await?;
    events::emit_all(db, now, done.events).await
}

/// A ticket the caller may act on: NOT_FOUND when missing or another customer's.
async fn reachable(
    db: &impl ConnectionTrait,
    principal: &Principal,
    ticket_id: i64,
) -> AppResult<ticket::Model> {
    let not_found = || AppError::NotFound(format!("no ticket with id {ticket_id}"));
    let ticket = ticket::Entity::find_by_id(ticket_id)
        .one(db)
        .await?
        .ok_or_else(not_found)?;
    owner::writable_customer(db, principal, ticket.customer_id)
        .await
        .map_err(|_| not_found())?;
    Ok(ticket)
}
