//! Support tickets and their conversations.

use async_graphql::parser::types::Field;
use async_graphql::{Context, ContextSelectionSet, ID, Object, Positioned, SimpleObject};
use c360_entity::{ticket, ticket_message};
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use super::connection::{Total, child_page};
use super::context::{begin_write, loaders, state};
use super::enums::{AuthorKind, TicketChannel, TicketPriority, TicketStatus};
use super::ids::{Kind, decode, encode};
use super::leaves::{Env, JsonText, Leaf, Leaves, Scalar, pages_below};
use super::limits::page_cost;
use crate::auth::Domain;
use crate::read::columns::Columns;
use crate::service::tickets;

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
    /// Whether the first agent reply came (or, unanswered, is already) later
    /// than the configured first-reply target.
    async fn first_reply_breached(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        let app = state(ctx)?;
        let target = app.config.ticket_first_reply_target;
        let waited = self.0.first_reply_at.unwrap_or_else(|| app.clock.now()) - self.0.created_at;
        Ok(waited.to_std().is_ok_and(|w| w > target))
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
    ) -> async_graphql::Result<Leaves<TicketMessage>> {
        child_page(
            &loaders(ctx)?.ticket_messages,
            self.0.id,
            (first, after),
            // Read whole, as when read ahead below the tickets.
            Columns::ALL,
            Total::TicketMessages(self.0.id),
            TicketMessage::from,
        )
        .await
        .map(Leaves)
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

#[derive(Clone, Copy)]
pub enum TicketField {
    Id,
    CustomerId,
    Subject,
    Status,
    Priority,
    Channel,
    CreatedAt,
    UpdatedAt,
    FirstReplyAt,
    SolvedAt,
    FirstReplyMinutes,
    ResolutionMinutes,
    Satisfaction,
}

impl Leaf for Ticket {
    type Field = TicketField;
    fn field(name: &str) -> Option<TicketField> {
        use TicketField as F;
        Some(match name {
            "id" => F::Id,
            "customerId" => F::CustomerId,
            "subject" => F::Subject,
            "status" => F::Status,
            "priority" => F::Priority,
            "channel" => F::Channel,
            "createdAt" => F::CreatedAt,
            "updatedAt" => F::UpdatedAt,
            "firstReplyAt" => F::FirstReplyAt,
            "solvedAt" => F::SolvedAt,
            "firstReplyMinutes" => F::FirstReplyMinutes,
            "resolutionMinutes" => F::ResolutionMinutes,
            "satisfaction" => F::Satisfaction,
            _ => return None,
        })
    }
    fn value<'a>(&'a self, _env: &'a Env<'_>, field: TicketField) -> Scalar<'a> {
        use TicketField as F;
        let t = &self.0;
        let minutes = |to| minutes_between(t.created_at, to).map_or(Scalar::Null, Scalar::Int);
        match field {
            F::Id => Scalar::Id(Kind::Ticket, t.id),
            F::CustomerId => Scalar::Id(Kind::Customer, t.customer_id),
            F::Subject => Scalar::Str(&t.subject),
            F::Status => Scalar::name_of(TicketStatus::from(t.status)),
            F::Priority => Scalar::name_of(TicketPriority::from(t.priority)),
            F::Channel => Scalar::name_of(TicketChannel::from(t.channel)),
            F::CreatedAt => Scalar::Time(t.created_at),
            F::UpdatedAt => Scalar::Time(t.updated_at),
            F::FirstReplyAt => Scalar::time(t.first_reply_at),
            F::SolvedAt => Scalar::time(t.solved_at),
            F::FirstReplyMinutes => minutes(t.first_reply_at),
            F::ResolutionMinutes => minutes(t.solved_at),
            F::Satisfaction => match t.satisfaction_score {
                None => Scalar::Null,
                Some(score) => Scalar::Object(
                    "Satisfaction",
                    vec![
                        ("score", Scalar::Int(score.into())),
                        ("comment", t.satisfaction_comment.as_deref().into()),
                        ("ratedAt", Scalar::time(t.satisfaction_at)),
                    ],
                ),
            },
        }
    }
    fn columns(fields: &[TicketField]) -> Columns {
        use TicketField as F;
        use ticket::Column as C;
        let each = |field: &TicketField| -> &'static [C] {
            match field {
                F::Id => &[C::Id],
                F::CustomerId => &[C::CustomerId],
                F::Subject => &[C::Subject],
                F::Status => &[C::Status],
                F::Priority => &[C::Priority],
                F::Channel => &[C::Channel],
                F::CreatedAt => &[C::CreatedAt],
                F::UpdatedAt => &[C::UpdatedAt],
                F::FirstReplyAt => &[C::FirstReplyAt],
                F::SolvedAt => &[C::SolvedAt],
                F::FirstReplyMinutes => &[C::CreatedAt, C::FirstReplyAt],
                F::ResolutionMinutes => &[C::CreatedAt, C::SolvedAt],
                F::Satisfaction => &[
                    C::SatisfactionScore,
                    C::SatisfactionComment,
                    C::SatisfactionAt,
                ],
            }
        };
        Columns::of::<ticket::Entity>(fields.iter().flat_map(each).copied())
    }
    fn has_children(name: &str) -> bool {
        name == "messages"
    }
    fn children<'a>(
        ctx: &'a ContextSelectionSet<'a>,
        field: &'a Positioned<Field>,
        tickets: Vec<&'a Ticket>,
    ) -> BoxFuture<'a, Option<Vec<JsonText>>> {
        Box::pin(async move {
            let loaders = ctx.data::<crate::read::loaders::Loaders>().ok()?;
            let ids: Vec<i64> = tickets.iter().map(|t| t.0.id).collect();
            pages_below(
                ctx,
                field,
                &loaders.ticket_messages,
                &ids,
                Total::TicketMessages,
                |_, m| TicketMessage::from(m),
            )
            .await
        })
    }
}

#[derive(Clone, Copy)]
pub enum TicketMessageField {
    AuthorKind,
    AuthorName,
    Body,
    CreatedAt,
}

impl Leaf for TicketMessage {
    type Field = TicketMessageField;
    fn field(name: &str) -> Option<TicketMessageField> {
        Some(match name {
            "authorKind" => TicketMessageField::AuthorKind,
            "authorName" => TicketMessageField::AuthorName,
            "body" => TicketMessageField::Body,
            "createdAt" => TicketMessageField::CreatedAt,
            _ => return None,
        })
    }
    fn value<'a>(&'a self, _env: &'a Env<'_>, field: TicketMessageField) -> Scalar<'a> {
        match field {
            TicketMessageField::AuthorKind => Scalar::name_of(self.author_kind),
            TicketMessageField::AuthorName => self.author_name.as_deref().into(),
            TicketMessageField::Body => Scalar::Str(&self.body),
            TicketMessageField::CreatedAt => Scalar::Time(self.created_at),
        }
    }
}

/// Ticket writes: PARTNER tokens (a helpdesk) need `tickets:write`; a
/// CUSTOMER token opens, replies to and rates its own tickets.
#[derive(Default)]
pub struct TicketMutation;

#[Object]
impl TicketMutation {
    /// Opens a ticket with the customer's first message; status NEW.
    async fn ticket_open(
        &self,
        ctx: &Context<'_>,
        customer_id: ID,
        subject: String,
        body: String,
        #[graphql(default_with = "TicketPriority::Normal")] priority: TicketPriority,
        #[graphql(default_with = "TicketChannel::Web")] channel: TicketChannel,
    ) -> async_graphql::Result<Ticket> {
        let write = begin_write(ctx, Domain::Tickets).await?;
        let customer = decode("customerId", Kind::Customer, &customer_id)?;
        let ticket = tickets::open(
            &write.txn,
            write.rules,
            write.principal,
            customer,
            &subject,
            &body,
            priority.into(),
            channel.into(),
            write.now,
        )
        .await?;
        write.commit(Ticket(ticket)).await
    }

    /// Adds a message. The first AGENT reply sets `firstReplyAt`.
    async fn ticket_reply(
        &self,
        ctx: &Context<'_>,
        id: ID,
        author_kind: AuthorKind,
        body: String,
        #[graphql(desc = "Agent's display name.")] author_name: Option<String>,
    ) -> async_graphql::Result<Ticket> {
        let write = begin_write(ctx, Domain::Tickets).await?;
        let ticket_id = decode("id", Kind::Ticket, &id)?;
        let ticket = tickets::reply(
            &write.txn,
            write.rules,
            write.principal,
            ticket_id,
            author_kind.into(),
            author_name,
            &body,
            write.now,
        )
        .await?;
        write.commit(Ticket(ticket)).await
    }

    /// Moves a ticket (agents): among OPEN, PENDING, HOLD and SOLVED; SOLVED
    /// reopens or closes; CLOSED is final.
    async fn ticket_update_status(
        &self,
        ctx: &Context<'_>,
        id: ID,
        status: TicketStatus,
    ) -> async_graphql::Result<Ticket> {
        let write = begin_write(ctx, Domain::Tickets).await?;
        let ticket_id = decode("id", Kind::Ticket, &id)?;
        let ticket = tickets::set_status(
            &write.txn,
            write.rules,
            write.principal,
            ticket_id,
            status.into(),
            write.now,
        )
        .await?;
        write.commit(Ticket(ticket)).await
    }

    /// The customer's satisfaction rating (1-5, optional comment), once,
    /// after the ticket is solved.
    async fn ticket_rate(
        &self,
        ctx: &Context<'_>,
        id: ID,
        score: i32,
        comment: Option<String>,
    ) -> async_graphql::Result<Ticket> {
        let write = begin_write(ctx, Domain::Tickets).await?;
        let ticket_id = decode("id", Kind::Ticket, &id)?;
        let ticket = tickets::rate(
            &write.txn,
            write.rules,
            write.principal,
            ticket_id,
            score,
            comment,
            write.now,
        )
        .await?;
        write.commit(Ticket(ticket)).await
    }
}
