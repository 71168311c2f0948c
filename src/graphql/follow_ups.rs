//! Post-purchase follow-ups for CX staff: `followUpsDue`, the due list
//! oldest first, and `followUpRecord`, the outcome of one. The rules live
//! in `service::follow_ups` (recording) and `events::triggers::follow_ups`
//! (what falls due); the list is read by `read::follow_ups`.
//!
//! Access: follow-ups are customer-service work, so they sit in the
//! tickets domain: STAFF, or a helpdesk PARTNER with `tickets:read` to list
//! and `tickets:write` to record. CUSTOMER tokens neither list nor record
//! them. A follow-up's customer is the API's `Customer`, so its PII is
//! masked for partners without `pii:read`; its full `order` needs
//! `orders:read` as anywhere else.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, Enum, ID, Object};
use c360_entity::follow_up;
use c360_entity::order;
use chrono::{DateTime, Utc};

use super::connection::keyset;
use super::context::{authorize, begin_write, reader, state};
use super::customer::Customer;
use super::guard::Reads;
use super::ids::{Kind, decode, encode};
use super::limits::page_cost;
use super::order::Order as OrderNode;
use crate::auth::{Domain, Role};
use crate::domain::follow_ups::{self as rule, Channel};
use crate::error::AppError;
use crate::read::follow_ups::{ByDue, due_page};
use crate::read::pagination::Cursor;
use crate::service::follow_ups::{self as service, FollowUpRule, Recording};

/// A way to reach a customer, for consent and follow-ups.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactChannel {
    Email,
    Sms,
    /// A phone call.
    Phone,
}

impl From<ContactChannel> for Channel {
    fn from(c: ContactChannel) -> Channel {
        match c {
            ContactChannel::Email => Channel::Email,
            ContactChannel::Sms => Channel::Sms,
            ContactChannel::Phone => Channel::Phone,
        }
    }
}

impl From<Channel> for ContactChannel {
    fn from(c: Channel) -> ContactChannel {
        match c {
            Channel::Email => ContactChannel::Email,
            Channel::Sms => ContactChannel::Sms,
            Channel::Phone => ContactChannel::Phone,
        }
    }
}

/// Where a follow-up stands.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "c360_entity::follow_up::FollowUpState")]
pub enum FollowUpState {
    /// Waiting for contact and its outcome.
    Due,
    /// The outcome is recorded.
    Done,
    /// The customer consented to none of the follow-up channels.
    Skipped,
}

/// What came of a follow-up.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "c360_entity::follow_up::FollowUpOutcome")]
pub enum FollowUpOutcome {
    /// The customer answered and is satisfied (with a score).
    Satisfied,
    /// The customer answered and is not satisfied (with a score).
    NotSatisfied,
    /// Nobody could be reached.
    NoAnswer,
    /// The customer was reached and declined to answer.
    Declined,
}

/// The post-purchase follow-up of one order.
pub struct FollowUp(follow_up::Model, order::Model);

#[Object]
impl FollowUp {
    async fn order_id(&self) -> ID {
        encode(Kind::Order, self.0.order_id)
    }
    async fn order_number(&self) -> &str {
        &self.1.order_number
    }
    /// When the order became FULFILLED.
    async fn fulfilled_at(&self) -> DateTime<Utc> {
        self.0.fulfilled_at
    }
    /// The whole order (needs `orders:read`).
    #[graphql(guard = "Reads(Domain::Orders)")]
    async fn order(&self) -> Option<OrderNode> {
        Some(OrderNode(self.1.clone()))
    }
    async fn customer_id(&self) -> ID {
        encode(Kind::Customer, self.0.customer_id)
    }
    /// The customer, PII masked without `pii:read`.
    async fn customer(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Customer>> {
        Customer::load(ctx, self.0.customer_id).await
    }
    /// Fulfilment plus the configured delay.
    async fn due_at(&self) -> DateTime<Utc> {
        self.0.due_at
    }
    /// The channels the customer consented to when it fell due, in the
    /// business's order of preference.
    async fn channels(&self) -> Vec<ContactChannel> {
        rule::decode(&self.0.channels)
            .into_iter()
            .map(ContactChannel::from)
            .collect()
    }
    async fn state(&self) -> FollowUpState {
        self.0.state.into()
    }
    async fn outcome(&self) -> Option<FollowUpOutcome> {
        self.0.outcome.map(Into::into)
    }
    /// 1 to 5, for SATISFIED and NOT_SATISFIED.
    async fn score(&self) -> Option<i32> {
        self.0.score
    }
    async fn comment(&self) -> Option<&str> {
        self.0.comment.as_deref()
    }
    /// The token subject that recorded the outcome.
    async fn recorded_by(&self) -> Option<&str> {
        self.0.recorded_by.as_deref()
    }
    async fn recorded_at(&self) -> Option<DateTime<Utc>> {
        self.0.recorded_at
    }
}

#[derive(Default)]
pub struct FollowUpQuery;

#[Object]
impl FollowUpQuery {
    /// Follow-ups waiting for contact, oldest due first (STAFF, or
    /// `tickets:read`). One statement per page, plus one for the customers
    /// selected.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn follow_ups_due(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the edge to start after.")] after: Option<String>,
    ) -> async_graphql::Result<Connection<Cursor, FollowUp, EmptyFields>> {
        let principal = authorize(ctx, Domain::Tickets)?;
        if principal.role == Role::Customer {
            return Err(AppError::Forbidden(
                "follow-ups are listed for staff and helpdesk partners".into(),
            )
            .into());
        }
        let page = ByDue::new(first, after.as_deref())?;
        let rows = due_page(reader(ctx)?, &page).await?;
        Ok(keyset(rows, EmptyFields, |(due, order)| {
            FollowUp(due, order)
        }))
    }
}

#[derive(Default)]
pub struct FollowUpMutation;

#[Object]
impl FollowUpMutation {
    /// Records what came of an order's due follow-up (STAFF, or
    /// `tickets:write`). SATISFIED and NOT_SATISFIED need a `score` of 1-5,
    /// NO_ANSWER and DECLINED take none; `comment` is at most 2,000
    /// characters. Recording the same again answers it unchanged; another
    /// outcome for a recorded follow-up is CONFLICT, as is an order whose
    /// follow-up is not due (not fulfilled, not due yet, skipped).
    async fn follow_up_record(
        &self,
        ctx: &Context<'_>,
        order_id: ID,
        outcome: FollowUpOutcome,
        score: Option<i32>,
        comment: Option<String>,
    ) -> async_graphql::Result<FollowUp> {
        let write = begin_write(ctx, Domain::Tickets).await?;
        let order_id = decode("orderId", Kind::Order, &order_id)?;
        let rule = FollowUpRule::from_config(&state(ctx)?.config)?;
        let recording = Recording {
            outcome: outcome.into(),
            score,
            comment,
        };
        let (due, order) = service::record(
            &write.txn,
            rule.as_ref(),
            write.principal,
            order_id,
            recording,
            write.now,
        )
        .await?;
        write.commit(FollowUp(due, order)).await
    }
}
