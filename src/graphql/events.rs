//! `Query.events`: the outbox as staff see it, so operators (and tests)
//! can check what c360 tells the outside. STAFF only; partners will
//! receive events through their own deliveries, filtered by scope.
//! The catalogue is `events::catalogue`; the page is read by `read::events`.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, ID, Json, Object};
use c360_entity::event;
use chrono::{DateTime, Utc};

use super::connection::keyset;
use super::context::{identity, reader};
use super::customer::Customer;
use super::ids::{Kind, decode};
use super::limits::page_cost;
use crate::auth::{Identity, Principal, Role};
use crate::error::AppError;
use crate::events::EventType;
use crate::read::events::{EventFilter, page};
use crate::read::pagination::{ById, Cursor};

/// The caller, who must hold a STAFF token.
fn staff<'a>(ctx: &Context<'a>) -> Result<&'a Principal, AppError> {
    match identity(ctx) {
        Identity::Anonymous => Err(AppError::Unauthenticated(
            "the event log needs a bearer token (Authorization: Bearer <jwt>)".into(),
        )),
        Identity::Authenticated(p) if p.role == Role::Staff => Ok(p),
        Identity::Authenticated(_) => Err(AppError::Forbidden(
            "the event log is for STAFF tokens".into(),
        )),
    }
}

/// The types named by `types`; BAD_USER_INPUT naming the first unknown one.
pub(super) fn event_types(types: Option<Vec<String>>) -> Result<Vec<EventType>, AppError> {
    types
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, name)| {
            EventType::parse(name).ok_or_else(|| {
                AppError::bad_input(
                    format!("types[{i}]"),
                    format!(
                        "`{name}` is not an event type; the types are: {}",
                        EventType::names()
                    ),
                )
            })
        })
        .collect()
}

#[derive(Default)]
pub struct EventsQuery;

#[Object]
impl EventsQuery {
    /// The outbox: every event c360 emitted for ESPs, loyalty vendors and
    /// helpdesks, oldest first (the order consumers follow). STAFF only.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the edge to start after.")] after: Option<String>,
        #[graphql(desc = "Only events of these types, e.g. `order.paid`.")] types: Option<
            Vec<String>,
        >,
        #[graphql(desc = "Only events about this customer.")] customer_id: Option<ID>,
    ) -> async_graphql::Result<Connection<Cursor, Event>> {
        staff(ctx)?;
        let filter = EventFilter {
            types: event_types(types)?,
            customer_id: customer_id
                .map(|id| decode("customerId", Kind::Customer, &id))
                .transpose()?,
        };
        let page_of = ById::new(first, after.as_deref())?;
        let rows = page(reader(ctx)?, &filter, &page_of).await?;
        Ok(keyset(rows, EmptyFields, Event))
    }
}

/// The event catalogue, for anyone with a token: what each event means and
/// which read scope a partner needs to receive it.
#[derive(Default)]
pub struct EventCatalogueQuery;

#[Object]
impl EventCatalogueQuery {
    /// Every event type c360 emits, in catalogue order.
    async fn event_types(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<EventTypeInfo>> {
        if let Identity::Anonymous = identity(ctx) {
            return Err(AppError::Unauthenticated(
                "the event catalogue needs a bearer token (Authorization: Bearer <jwt>)".into(),
            )
            .into());
        }
        Ok(EventType::ALL.iter().copied().map(EventTypeInfo).collect())
    }
}

/// One kind of event.
pub struct EventTypeInfo(EventType);

#[Object]
impl EventTypeInfo {
    /// The wire name, `<object>.<what happened>`, e.g. `order.paid`.
    async fn name(&self) -> &'static str {
        self.0.name()
    }
    /// What the event means.
    async fn description(&self) -> &'static str {
        self.0.description()
    }
    /// The read scope a partner needs to receive it, e.g. `orders:read`.
    async fn scope(&self) -> &'static str {
        self.0.domain().read_scope()
    }
}

/// Something that happened, as the outbox holds it.
pub struct Event(pub(super) event::Model);

#[Object]
impl Event {
    /// `evt_` + a ULID: unique, and the same in every delivery of the event.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// The catalogue's name, e.g. `order.paid`.
    #[graphql(name = "type")]
    async fn event_type(&self) -> &str {
        &self.0.event_type
    }
    /// When it happened, by the clock of the write that caused it.
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.occurred_at
    }
    /// The customer it is about; null for none, or one merged away since.
    async fn customer(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Customer>> {
        match self.0.customer_id {
            Some(id) => Customer::load(ctx, id).await,
            None => Ok(None),
        }
    }
    /// The payload, shaped like the API's own types.
    async fn data(&self) -> Json<serde_json::Value> {
        Json(self.0.data.clone())
    }
}
