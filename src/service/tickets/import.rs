//! Tickets from a helpdesk export, history included: checking that status
//! and times tell one story, then creating the ticket with its messages or
//! updating a known one (by external reference) as the helpdesk saw it.

use c360_entity::enums::{AuthorKind, TicketChannel, TicketPriority, TicketStatus};
use c360_entity::{ticket, ticket_message};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;

use super::rating::{csat_comment, csat_score};
use super::status::name;
use super::{BODY_MAX, Done, finish};
use crate::auth::Principal;
use crate::domain::text;
use crate::error::{AppError, AppResult};
use crate::events::{NewEvent, payload};
use crate::service::{Outcome, Rules, owner};

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
    let external_ref = text::required("externalRef", &t.external_ref, 200)?;
    let subject = text::required("subject", &t.subject, 200)?;
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
            body: Set(text::required(
                &format!("messages[{i}].body"),
                &m.body,
                BODY_MAX,
            )?),
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
    let (ticket, outcome, known) = match existing {
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
            let known = Story::of(&current);
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
            (active.update(db).await?, Outcome::Updated, known)
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
            (ticket, Outcome::Created, Story::default())
        }
    };
    let done = Done {
        action: "ticket.import",
        details: json!({ "externalRef": ticket.external_ref, "status": ticket.status,
                         "created": outcome == Outcome::Created }),
        events: known.news(&ticket),
    };
    finish(db, rules, principal, &ticket, done, now).await?;
    Ok(outcome)
}

/// The moments of a ticket's story that events tell, as far as the store
/// knew them: an import tells those it is the first to show.
#[derive(Debug, Clone, Copy, Default)]
struct Story {
    opened: bool,
    replied: bool,
    solved: bool,
    rated: bool,
}

impl Story {
    fn of(t: &ticket::Model) -> Story {
        Story {
            opened: true,
            replied: t.first_reply_at.is_some(),
            solved: matches!(t.status, TicketStatus::Solved | TicketStatus::Closed),
            rated: t.satisfaction_score.is_some(),
        }
    }

    /// The events of the moments `t` shows and `self` did not.
    fn news(self, t: &ticket::Model) -> Vec<NewEvent> {
        let now = Story::of(t);
        [
            (now.opened && !self.opened).then(|| payload::ticket_opened(t)),
            (now.replied && !self.replied).then(|| payload::ticket_agent_replied(t, true)),
            (now.solved && !self.solved).then(|| payload::ticket_solved(t)),
            (now.rated && !self.rated).then(|| payload::ticket_rated(t)),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}
