//! Rows of support: tickets and their messages.

use c360_entity::enums::{AuthorKind, TicketChannel, TicketPriority, TicketStatus};
use c360_entity::{ticket, ticket_message};
use sea_orm::sea_query::Value;

use super::{BulkRow, opt_str, opt_ts, ts};

#[derive(Debug, Clone)]
pub struct TicketRow {
    pub id: i64,
    pub customer_id: i64,
    pub subject: String,
    pub status: TicketStatus,
    pub priority: TicketPriority,
    pub channel: TicketChannel,
    pub created_at: i64,
    pub updated_at: i64,
    pub first_reply_at: Option<i64>,
    pub solved_at: Option<i64>,
    pub satisfaction_score: Option<i32>,
    pub satisfaction_comment: Option<&'static str>,
    pub satisfaction_at: Option<i64>,
}

impl BulkRow for TicketRow {
    type Entity = ticket::Entity;
    fn columns() -> Vec<ticket::Column> {
        use ticket::Column as C;
        vec![
            C::Id,
            C::CustomerId,
            C::Subject,
            C::Status,
            C::Priority,
            C::Channel,
            C::CreatedAt,
            C::UpdatedAt,
            C::FirstReplyAt,
            C::SolvedAt,
            C::SatisfactionScore,
            C::SatisfactionComment,
            C::SatisfactionAt,
        ]
    }
    fn into_values(self) -> Vec<Value> {
        vec![
            self.id.into(),
            self.customer_id.into(),
            self.subject.into(),
            self.status.into(),
            self.priority.into(),
            self.channel.into(),
            ts(self.created_at),
            ts(self.updated_at),
            opt_ts(self.first_reply_at),
            opt_ts(self.solved_at),
            self.satisfaction_score.into(),
            opt_str(self.satisfaction_comment),
            opt_ts(self.satisfaction_at),
        ]
    }
}

#[derive(Debug, Clone)]
pub struct TicketMessageRow {
    pub id: i64,
    pub ticket_id: i64,
    pub customer_id: i64,
    pub author_kind: AuthorKind,
    pub author_name: Option<&'static str>,
    pub body: String,
    pub created_at: i64,
}

impl BulkRow for TicketMessageRow {
    type Entity = ticket_message::Entity;
    fn columns() -> Vec<ticket_message::Column> {
        use ticket_message::Column as C;
        vec![
            C::Id,
            C::TicketId,
            C::CustomerId,
            C::AuthorKind,
            C::AuthorName,
            C::Body,
            C::CreatedAt,
        ]
    }
    fn into_values(self) -> Vec<Value> {
        vec![
            self.id.into(),
            self.ticket_id.into(),
            self.customer_id.into(),
            self.author_kind.into(),
            opt_str(self.author_name),
            self.body.into(),
            ts(self.created_at),
        ]
    }
}
