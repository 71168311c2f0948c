//! Replies: who may reply as whom, and what a reply does to the ticket. The
//! first agent reply sets `first_reply_at` (the first-reply SLA is measured
//! from creation to it, by the write's clock) and makes a NEW ticket OPEN; a
//! customer reply to a PENDING or HOLD ticket makes it OPEN.

use c360_entity::enums::{AuthorKind, TicketStatus};
use c360_entity::ticket;
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use serde_json::json;

use super::open::message;
use super::status::name;
use super::{BODY_MAX, Done, finish, reachable};
use crate::auth::{Principal, Role};
use crate::domain::text;
use crate::error::{AppError, AppResult};
use crate::events::payload;
use crate::service::Rules;

/// Adds a reply. CUSTOMER tokens reply as the customer; agents (partners and
/// staff) as AGENT. The first agent reply sets `first_reply_at` and makes a
/// NEW ticket OPEN.
#[allow(clippy::too_many_arguments)]
pub async fn reply(
    db: &impl ConnectionTrait,
    rules: &Rules,
    principal: &Principal,
    ticket_id: i64,
    author: AuthorKind,
    author_name: Option<String>,
    body: &str,
    now: DateTime<Utc>,
) -> AppResult<ticket::Model> {
    let body = text::required("body", body, BODY_MAX)?;
    if principal.role == Role::Customer && author != AuthorKind::Customer {
        return Err(AppError::Forbidden(
            "a customer token replies as CUSTOMER".into(),
        ));
    }
    let ticket = reachable(db, principal, ticket_id).await?;
    if matches!(ticket.status, TicketStatus::Solved | TicketStatus::Closed) {
        return Err(AppError::Conflict(format!(
            "ticket {ticket_id} is {}; reopen it before replying",
            name(ticket.status)
        )));
    }
    let now = now.trunc_subsecs(0);
    let mut active: ticket::ActiveModel = ticket.clone().into();
    match author {
        AuthorKind::Agent => {
            if ticket.first_reply_at.is_none() {
                active.first_reply_at = Set(Some(now));
            }
            if ticket.status == TicketStatus::New {
                active.status = Set(TicketStatus::Open);
            }
        }
        AuthorKind::Customer => {
            if matches!(ticket.status, TicketStatus::Pending | TicketStatus::Hold) {
                active.status = Set(TicketStatus::Open);
            }
        }
    }
    active.updated_at = Set(now);
    let updated = active.update(db).await?;
    let author_name = match author {
        AuthorKind::Agent => author_name
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty()),
        AuthorKind::Customer => None,
    };
    message(db, &updated, author, author_name, body, now).await?;
    let events = match author {
        AuthorKind::Agent => vec![payload::ticket_agent_replied(
            &updated,
            ticket.first_reply_at.is_none(),
        )],
        AuthorKind::Customer => Vec::new(),
    };
    let done = Done {
        action: "ticket.reply",
        details: json!({ "author": author }),
        events,
    };
    finish(db, rules, principal, &updated, done, now).await?;
    Ok(updated)
}
