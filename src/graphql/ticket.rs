//! Support tickets and their conversations.

use async_graphql::{Context, ID, Object, SimpleObject};
use c360_entity::{ticket, ticket_message};
use chrono::{DateTime, Utc};

use super::connection::{Conn, Total, child_page};
use super::context::loaders;
use super::enums::{AuthorKind, TicketChannel, TicketPriority, TicketStatus};
use super::ids::{Kind, encode};
use super::limits::page_cost;

pub struct Ticket(pub ticket::Model);

fn minutes_between(from: DateTime<Utc>, to: Option<DateTime<Utc>>) -> Option<i64> {
    to.map(|to| (to - from).num_minutes())
}

#[Object]
impl Ticket {
    pub async fn id(&self) -> ID {
        encode(Kind::Ticket, self.0.id)
    }
    async fn customer_id(&self) -> ID {
        encode(Kind::Customer, self.0.customer_id)
    }
    async fn subject(&self) -> &str {
        &self.0.subject
    }
    async fn status(&self) -> TicketStatus {
        self.0.status.into()
    }
    async fn priority(&self) -> TicketPriority {
        self.0.priority.into()
    }
    async fn channel(&self) -> TicketChannel {
        self.0.channel.into()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// When an agent first replied.
    async fn first_reply_at(&self) -> Option<DateTime<Utc>> {
        self.0.first_reply_at
    }
    async fn solved_at(&self) -> Option<DateTime<Utc>> {
        self.0.solved_at
    }
    /// Whole minutes from creation to the first agent reply.
    async fn first_reply_minutes(&self) -> Option<i64> {
        minutes_between(self.0.created_at, self.0.first_reply_at)
    }
    /// Whole minutes from creation to solved.
    async fn resolution_minutes(&self) -> Option<i64> {
        minutes_between(self.0.created_at, self.0.solved_at)
    }
    /// The customer's rating once solved (CSAT).
    async fn satisfaction(&self) -> Option<Satisfaction> {
        self.0.satisfaction_score.map(|score| Satisfaction {
            score,
            comment: self.0.satisfaction_comment.clone(),
            rated_at: self.0.satisfaction_at,
        })
    }
    /// The conversation, oldest message first.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn messages(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<TicketMessage>> {
        child_page(
            &loaders(ctx)?.ticket_messages,
            self.0.id,
            first,
            after,
            Total::TicketMessages(self.0.id),
            TicketMessage::from,
        )
        .await
    }
}

/// A CSAT rating.
#[derive(SimpleObject)]
pub struct Satisfaction {
    /// 1 (very unsatisfied) to 5 (very satisfied).
    pub score: i32,
    pub comment: Option<String>,
    pub rated_at: Option<DateTime<Utc>>,
}

#[derive(SimpleObject)]
pub struct TicketMessage {
    pub author_kind: AuthorKind,
    /// The agent's name on agent messages.
    pub author_name: Option<String>,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

impl From<ticket_message::Model> for TicketMessage {
    fn from(m: ticket_message::Model) -> Self {
        TicketMessage {
            author_kind: m.author_kind.into(),
            author_name: m.author_name,
            body: m.body,
            created_at: m.created_at,
        }
    }
}
