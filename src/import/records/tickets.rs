//! Ticket records: a helpdesk's ticket with its conversation, found by
//! `externalRef`, written through the ticket service's import.

use c360_entity::enums::{AuthorKind, TicketChannel, TicketPriority, TicketStatus};
use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::Deserialize;

use super::{Context, Record, id_text, required};
use crate::error::AppResult;
use crate::service::{Outcome, tickets};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TicketRecord {
    external_ref: Option<String>,
    #[serde(default, deserialize_with = "id_text")]
    customer_id: Option<String>,
    customer_email: Option<String>,
    customer_external_ref: Option<String>,
    customer_external_source: Option<String>,
    subject: Option<String>,
    status: Option<TicketStatus>,
    priority: Option<TicketPriority>,
    channel: Option<TicketChannel>,
    created_at: Option<DateTime<Utc>>,
    first_reply_at: Option<DateTime<Utc>>,
    solved_at: Option<DateTime<Utc>>,
    satisfaction_score: Option<i32>,
    satisfaction_comment: Option<String>,
    /// The customer's opening message (CSV, or JSON without `messages`).
    body: Option<String>,
    /// The conversation, oldest first (JSON Lines).
    #[serde(default)]
    messages: Vec<MessageRecord>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MessageRecord {
    author_kind: AuthorKind,
    author_name: Option<String>,
    body: String,
    created_at: Option<DateTime<Utc>>,
}

impl Record for TicketRecord {
    async fn write(self, db: &impl ConnectionTrait, ctx: &Context) -> AppResult<Outcome> {
        let customer_id = customer_ref!(self).resolve(db, ctx).await?;
        let mut messages: Vec<tickets::ImportedMessage> = self
            .messages
            .into_iter()
            .map(|m| tickets::ImportedMessage {
                author: m.author_kind,
                author_name: m.author_name,
                body: m.body,
                at: m.created_at,
            })
            .collect();
        if let Some(body) = self.body {
            messages.insert(
                0,
                tickets::ImportedMessage {
                    author: AuthorKind::Customer,
                    author_name: None,
                    body,
                    at: self.created_at,
                },
            );
        }
        tickets::import(
            db,
            &ctx.rules,
            &ctx.principal,
            tickets::ImportedTicket {
                external_ref: required("externalRef", self.external_ref)?,
                customer_id,
                subject: required("subject", self.subject)?,
                status: self.status.unwrap_or(TicketStatus::New),
                priority: self.priority.unwrap_or(TicketPriority::Normal),
                channel: self.channel.unwrap_or(TicketChannel::Email),
                created_at: ctx.past("createdAt", self.created_at)?,
                first_reply_at: ctx.past("firstReplyAt", self.first_reply_at)?,
                solved_at: ctx.past("solvedAt", self.solved_at)?,
                satisfaction: self
                    .satisfaction_score
                    .map(|score| (score, self.satisfaction_comment)),
                messages,
            },
            ctx.now,
        )
        .await
    }
}
