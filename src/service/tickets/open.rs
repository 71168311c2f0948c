//! Opening a ticket with its first (customer) message, and writing a
//! message of a live conversation.

use c360_entity::enums::{AuthorKind, TicketChannel, TicketPriority, TicketStatus};
use c360_entity::{ticket, ticket_message};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use serde_json::json;

use super::{BODY_MAX, Done, finish};
use crate::auth::Principal;
use crate::domain::text;
use crate::error::AppResult;
use crate::events::payload;
use crate::service::{Rules, owner};

/// Opens a ticket with its first (customer) message.
#[allow(clippy::too_many_arguments)]
pub async fn open(
    db: &impl ConnectionTrait,
    rules: &Rules,
    principal: &Principal,
    customer_id: i64,
    subject: &str,
    body: &str,
    priority: TicketPriority,
    channel: TicketChannel,
    now: DateTime<Utc>,
) -> AppResult<ticket::Model> {
    let subject = text::required("subject", subject, 200)?;
    let body = text::required("body", body, BODY_MAX)?;
    owner::writable_customer(db, principal, customer_id).await?;
    let now = now.trunc_subsecs(0);
    let ticket = ticket::ActiveModel {
        customer_id: Set(customer_id),
        subject: Set(subject),
        status: Set(TicketStatus::New),
        priority: Set(priority),
        channel: Set(channel),
        created_at: Set(now),
        updated_at: Set(now),
        first_reply_at: Set(None),
        solved_at: Set(None),
        satisfaction_score: Set(None),
        satisfaction_comment: Set(None),
        satisfaction_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    message(db, &ticket, AuthorKind::Customer, None, body, now).await?;
    let done = Done {
        action: "ticket.open",
        details: json!({}),
        events: vec![payload::ticket_opened(&ticket)],
    };
    finish(db, rules, principal, &ticket, done, now).await?;
    Ok(ticket)
}

/// Adds a message (already checked) to `ticket`'s conversation.
pub(super) async fn message(
    db: &impl ConnectionTrait,
    ticket: &ticket::Model,
    author: AuthorKind,
    author_name: Option<String>,
    body: String,
    now: DateTime<Utc>,
) -> AppResult<()> {
    ticket_message::ActiveModel {
        ticket_id: Set(ticket.id),
        customer_id: Set(ticket.customer_id),
        author_kind: Set(author),
        author_name: Set(author_name),
        body: Set(body),
        created_at: Set(now.trunc_subsecs(0)),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}
