//! Support tickets: opening, replies, status changes and CSAT, with the
//! customer's metrics (open tickets, first-reply time, CSAT) refreshed and an
//! audit row written in the caller's transaction.
//!
//! Statuses: NEW until an agent answers; OPEN, PENDING (waiting on the
//! customer) and HOLD (waiting on a third party) while worked; SOLVED; CLOSED
//! is final. A ticket moves freely among OPEN, PENDING, HOLD and SOLVED,
//! SOLVED may reopen or close, nothing returns to NEW and nothing leaves
//! CLOSED. A customer reply to a PENDING or HOLD ticket makes it OPEN.

use c360_entity::enums::{AuthorKind, TicketChannel, TicketPriority, TicketStatus};
use c360_entity::{ticket, ticket_message};
use chrono::{SubsecRound, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};
use serde_json::json;

use super::{Rules, audit, metrics, owner};
use crate::auth::{Principal, Role};
use crate::error::{AppError, AppResult};

fn text(field: &str, value: &str, max: usize) -> AppResult<String> {
    let value = value.trim();
    if value.is_empty() || value.len() > max {
        return Err(AppError::bad_input(
            field,
            format!("{field} must be 1 to {max} characters"),
        ));
    }
    Ok(value.to_owned())
}

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
) -> AppResult<ticket::Model> {
    let subject = text("subject", subject, 200)?;
    let body = text("body", body, 10_000)?;
    owner::writable_customer(db, principal, customer_id).await?;
    let now = Utc::now().trunc_subsecs(0);
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
    message(db, &ticket, AuthorKind::Customer, None, body).await?;
    finish(db, rules, principal, &ticket, "ticket.open", json!({})).await?;
    Ok(ticket)
}

async fn message(
    db: &impl ConnectionTrait,
    ticket: &ticket::Model,
    author: AuthorKind,
    author_name: Option<String>,
    body: String,
) -> AppResult<()> {
    ticket_message::ActiveModel {
        ticket_id: Set(ticket.id),
        customer_id: Set(ticket.customer_id),
        author_kind: Set(author),
        author_name: Set(author_name),
        body: Set(body),
        created_at: Set(Utc::now().trunc_subsecs(0)),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

async fn finish(
    db: &impl ConnectionTrait,
    rules: &Rules,
    principal: &Principal,
    ticket: &ticket::Model,
    action: &str,
    details: serde_json::Value,
) -> AppResult<()> {
    metrics::refresh_for(db, &rules.base_currency, &[ticket.customer_id]).await?;
    audit::record(
        db,
        principal,
        action,
        &format!("gid://c360/Ticket/{}", ticket.id),
        Some(ticket.customer_id),
        details,
    )
    .await
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

fn name(status: TicketStatus) -> &'static str {
    match status {
        TicketStatus::New => "NEW",
        TicketStatus::Open => "OPEN",
        TicketStatus::Pending => "PENDING",
        TicketStatus::Hold => "HOLD",
        TicketStatus::Solved => "SOLVED",
        TicketStatus::Closed => "CLOSED",
    }
}

/// Adds a reply. CUSTOMER tokens reply as the customer; agents (partners and
/// staff) as AGENT. The first agent reply sets `first_reply_at` and makes a
/// NEW ticket OPEN.
pub async fn reply(
    db: &impl ConnectionTrait,
    rules: &Rules,
    principal: &Principal,
    ticket_id: i64,
    author: AuthorKind,
    author_name: Option<String>,
    body: &str,
) -> AppResult<ticket::Model> {
    let body = text("body", body, 10_000)?;
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
    let now = Utc::now().trunc_subsecs(0);
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
    message(db, &updated, author, author_name, body).await?;
    finish(
        db,
        rules,
        principal,
        &updated,
        "ticket.reply",
        json!({ "author": author }),
    )
    .await?;
    Ok(updated)
}

/// Whether a ticket may go from `from` to `to`.
pub fn may_move(from: TicketStatus, to: TicketStatus) -> bool {
    use TicketStatus::*;
    if from == to || to == New || from == Closed {
        return false;
    }
    match from {
        New | Open | Pending | Hold => to != Closed,
        Solved => matches!(to, Open | Closed),
        Closed => false,
    }
}

/// Changes a ticket's status (agents only). SOLVED sets `solved_at`;
/// reopening clears it.
pub async fn set_status(
    db: &impl ConnectionTrait,
    rules: &Rules,
    principal: &Principal,
    ticket_id: i64,
    status: TicketStatus,
) -> AppResult<ticket::Model> {
    let ticket = reachable(db, principal, ticket_id).await?;
    if principal.role == Role::Customer {
        return Err(AppError::Forbidden(
            "ticket status is changed by agents".into(),
        ));
    }
    let from = ticket.status;
    if !may_move(from, status) {
        return Err(AppError::Conflict(format!(
            "ticket {ticket_id} is {}; it cannot become {}",
            name(from),
            name(status)
        )));
    }
    let now = Utc::now().trunc_subsecs(0);
    let mut active: ticket::ActiveModel = ticket.into();
    active.status = Set(status);
    if status == TicketStatus::Solved {
        active.solved_at = Set(Some(now));
    } else if from == TicketStatus::Solved && status == TicketStatus::Open {
        active.solved_at = Set(None);
    }
    active.updated_at = Set(now);
    let updated = active.update(db).await?;
    finish(
        db,
        rules,
        principal,
        &updated,
        "ticket.status",
        json!({ "from": from, "to": status }),
    )
    .await?;
    Ok(updated)
}

/// Records the customer's CSAT (1-5 and a comment): once, and only for a
/// SOLVED or CLOSED ticket.
pub async fn rate(
    db: &impl ConnectionTrait,
    rules: &Rules,
    principal: &Principal,
    ticket_id: i64,
    score: i32,
    comment: Option<String>,
) -> AppResult<ticket::Model> {
    if !(1..=5).contains(&score) {
        return Err(AppError::bad_input(
            "score",
            format!("score is 1 to 5, not {score}"),
        ));
    }
    let comment = match comment {
        Some(c) if c.trim().len() > 2_000 => {
            return Err(AppError::bad_input(
                "comment",
                "comment is at most 2000 characters",
            ));
        }
        Some(c) => Some(c.trim().to_owned()).filter(|c| !c.is_empty()),
        None => None,
    };
    let ticket = reachable(db, principal, ticket_id).await?;
    if !matches!(ticket.status, TicketStatus::Solved | TicketStatus::Closed) {
        return Err(AppError::Conflict(format!(
            "ticket {ticket_id} is {}; satisfaction is rated once it is solved",
            name(ticket.status)
        )));
    }
    if ticket.satisfaction_score.is_some() {
        return Err(AppError::Conflict(format!(
            "ticket {ticket_id} was already rated"
        )));
    }
    let now = Utc::now().trunc_subsecs(0);
    let mut active: ticket::ActiveModel = ticket.into();
    active.satisfaction_score = Set(Some(score));
    active.satisfaction_comment = Set(comment);
    active.satisfaction_at = Set(Some(now));
    active.updated_at = Set(now);
    let updated = active.update(db).await?;
    finish(
        db,
        rules,
        principal,
        &updated,
        "ticket.rate",
        json!({ "score": score }),
    )
    .await?;
    Ok(updated)
}
