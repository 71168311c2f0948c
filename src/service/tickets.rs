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
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;

use super::{Outcome, Rules, audit, metrics, owner};
use crate::auth::{Principal, Role};
use crate::domain::ids::{Kind, gid};
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
    now: DateTime<Utc>,
) -> AppResult<ticket::Model> {
    let subject = text("subject", subject, 200)?;
    let body = text("body", body, 10_000)?;
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
    finish(db, rules, principal, &ticket, "ticket.open", json!({}), now).await?;
    Ok(ticket)
}

async fn message(
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

async fn finish(
    db: &impl ConnectionTrait,
    rules: &Rules,
    principal: &Principal,
    ticket: &ticket::Model,
    action: &str,
    details: serde_json::Value,
    now: DateTime<Utc>,
) -> AppResult<()> {
    metrics::refresh_for(db, &rules.base_currency, &[ticket.customer_id]).await?;
    audit::record(
        db,
        principal,
        action,
        &gid(Kind::Ticket, ticket.id),
        Some(ticket.customer_id),
        details,
        now,
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
    now: DateTime<Utc>,
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
    finish(
        db,
        rules,
        principal,
        &updated,
        "ticket.reply",
        json!({ "author": author }),
        now,
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
    now: DateTime<Utc>,
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
    let now = now.trunc_subsecs(0);
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
        now,
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
    now: DateTime<Utc>,
) -> AppResult<ticket::Model> {
    csat_score("score", score)?;
    let comment = csat_comment(comment)?;
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
    let now = now.trunc_subsecs(0);
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
        now,
    )
    .await?;
    Ok(updated)
}

fn csat_score(field: &str, score: i32) -> AppResult<()> {
    if (1..=5).contains(&score) {
        Ok(())
    } else {
        Err(AppError::bad_input(
            field,
            format!("{field} is 1 to 5, not {score}"),
        ))
    }
}

fn csat_comment(comment: Option<String>) -> AppResult<Option<String>> {
    match comment {
        Some(c) if c.trim().len() > 2_000 => Err(AppError::bad_input(
            "comment",
            "comment is at most 2000 characters",
        )),
        Some(c) => Ok(Some(c.trim().to_owned()).filter(|c| !c.is_empty())),
        None => Ok(None),
    }
}

/// A message of an imported ticket; `at` defaults to the ticket's creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedMessage {
    pub author: AuthorKind,
    pub author_name: Option<String>,
    pub body: String,
    pub at: Option<DateTime<Utc>>,
}

/// A ticket as a helpdesk exported it, history included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedTicket {
    /// The helpdesk's id: importing it again updates this ticket.
    pub external_ref: String,
    pub customer_id: i64,
    pub subject: String,
    pub status: TicketStatus,
    pub priority: TicketPriority,
    pub channel: TicketChannel,
    /// Defaults to now.
    pub created_at: Option<DateTime<Utc>>,
    pub first_reply_at: Option<DateTime<Utc>>,
    pub solved_at: Option<DateTime<Utc>>,
    /// CSAT score and comment.
    pub satisfaction: Option<(i32, Option<String>)>,
    /// Written with a new ticket only; a re-import leaves the conversation.
    pub messages: Vec<ImportedMessage>,
}

/// Checks that an imported ticket's status and times tell one story.
fn check_history(t: &ImportedTicket, created_at: DateTime<Utc>) -> AppResult<()> {
    if t.status == TicketStatus::New && t.first_reply_at.is_some() {
        return Err(AppError::bad_input(
            "status",
            "a NEW ticket has no agent reply yet; give it OPEN or a later status, or drop firstReplyAt",
        ));
    }
    for (field, at) in [
        ("firstReplyAt", t.first_reply_at),
        ("solvedAt", t.solved_at),
    ] {
        if at.is_some_and(|at| at < created_at) {
            return Err(AppError::bad_input(
                field,
                format!("{field} is before the ticket was created (createdAt, now when not given)"),
            ));
        }
    }
    let solved = matches!(t.status, TicketStatus::Solved | TicketStatus::Closed);
    if solved && t.solved_at.is_none() {
        return Err(AppError::bad_input(
            "solvedAt",
            format!("a {} ticket needs solvedAt", name(t.status)),
        ));
    }
    if let Some((score, _)) = &t.satisfaction {
        csat_score("satisfactionScore", *score)?;
        if !solved {
            return Err(AppError::bad_input(
                "satisfactionScore",
                "satisfaction is given once a ticket is SOLVED or CLOSED",
            ));
        }
    }
    if t.messages.len() > 1_000 {
        return Err(AppError::bad_input(
            "messages",
            "at most 1000 messages per ticket",
        ));
    }
    Ok(())
}

/// Writes a ticket from a helpdesk export, as the helpdesk saw it (status
/// and times as given, not replayed through transitions): a new
/// `external_ref` creates the ticket with its messages; a known one updates
/// status, priority, times and CSAT when they differ. Metrics and the audit
/// trail follow in the caller's transaction.
pub async fn import(
    db: &impl ConnectionTrait,
    rules: &Rules,
    principal: &Principal,
    t: ImportedTicket,
    now: DateTime<Utc>,
) -> AppResult<Outcome> {
    let external_ref = text("externalRef", &t.external_ref, 200)?;
    let subject = text("subject", &t.subject, 200)?;
    let now = now.trunc_subsecs(0);
    let created_at = t.created_at.map_or(now, |c| c.trunc_subsecs(0));
    check_history(&t, created_at)?;
    let (score, comment) = match t.satisfaction.clone() {
        Some((score, comment)) => (Some(score), csat_comment(comment)?),
        None => (None, None),
    };
    let mut messages = Vec::with_capacity(t.messages.len());
    for (i, m) in t.messages.iter().enumerate() {
        messages.push(ticket_message::ActiveModel {
            customer_id: Set(t.customer_id),
            author_kind: Set(m.author),
            author_name: Set(m
                .author_name
                .as_ref()
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty())),
            body: Set(text(&format!("messages[{i}].body"), &m.body, 10_000)?),
            created_at: Set(m.at.map_or(created_at, |at| at.trunc_subsecs(0))),
            ..Default::default()
        });
    }
    owner::writable_customer(db, principal, t.customer_id).await?;
    let first_reply_at = t.first_reply_at.map(|at| at.trunc_subsecs(0));
    let solved_at = t.solved_at.map(|at| at.trunc_subsecs(0));
    let existing = ticket::Entity::find()
        .filter(ticket::Column::ExternalRef.eq(external_ref.as_str()))
        .one(db)
        .await?;
    let (ticket, outcome) = match existing {
        Some(current) => {
            if current.customer_id != t.customer_id {
                return Err(AppError::Conflict(format!(
                    "ticket `{external_ref}` belongs to customer {}, not {}",
                    current.customer_id, t.customer_id
                )));
            }
            let same = current.subject == subject
                && current.status == t.status
                && current.priority == t.priority
                && current.channel == t.channel
                && (t.created_at.is_none() || current.created_at == created_at)
                && current.first_reply_at == first_reply_at
                && current.solved_at == solved_at
                && current.satisfaction_score == score
                && current.satisfaction_comment == comment;
            if same {
                return Ok(Outcome::Unchanged);
            }
            let rated_before = current.satisfaction_score.is_some();
            let mut active: ticket::ActiveModel = current.into();
            active.subject = Set(subject);
            active.status = Set(t.status);
            active.priority = Set(t.priority);
            active.channel = Set(t.channel);
            if t.created_at.is_some() {
                active.created_at = Set(created_at);
            }
            active.first_reply_at = Set(first_reply_at);
            active.solved_at = Set(solved_at);
            active.satisfaction_score = Set(score);
            active.satisfaction_comment = Set(comment);
            if score.is_none() {
                active.satisfaction_at = Set(None);
            } else if !rated_before {
                active.satisfaction_at = Set(Some(solved_at.unwrap_or(now)));
            }
            active.updated_at = Set(now);
            (active.update(db).await?, Outcome::Updated)
        }
        None => {
            let ticket = ticket::ActiveModel {
                customer_id: Set(t.customer_id),
                external_ref: Set(Some(external_ref)),
                subject: Set(subject),
                status: Set(t.status),
                priority: Set(t.priority),
                channel: Set(t.channel),
                created_at: Set(created_at),
                updated_at: Set(now),
                first_reply_at: Set(first_reply_at),
                solved_at: Set(solved_at),
                satisfaction_score: Set(score),
                satisfaction_comment: Set(comment),
                satisfaction_at: Set(score.map(|_| solved_at.unwrap_or(now))),
                ..Default::default()
            }
            .insert(db)
            .await?;
            if !messages.is_empty() {
                for m in &mut messages {
                    m.ticket_id = Set(ticket.id);
                }
                ticket_message::Entity::insert_many(messages)
                    .exec(db)
                    .await?;
            }
            (ticket, Outcome::Created)
        }
    };
    finish(
        db,
        rules,
        principal,
        &ticket,
        "ticket.import",
        json!({ "externalRef": ticket.external_ref, "status": ticket.status,
                "created": outcome == Outcome::Created }),
        now,
    )
    .await?;
    Ok(outcome)
}
