//! Webhook endpoints through the API: register, change, disable, rotate,
//! list with health, read the delivery log, retry and replay. STAFF
//! manage every endpoint; a PARTNER with `webhooks:write` manages its own
//! (others' are NOT_FOUND). The rules are `webhooks::endpoints`.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{ComplexObject, Context, ID, InputObject, Object, SimpleObject};
use c360_entity::{webhook_delivery, webhook_endpoint};
use chrono::{DateTime, Utc};

use super::connection::keyset;
use super::context::{identity, state};
use super::limits::page_cost;
use crate::domain::ids::{Kind, gid};
use crate::error::AppError;
use crate::read::pagination::{ById, Cursor};
use crate::webhooks::Status;
use crate::webhooks::endpoints::{self, Changes};

const ENDPOINT: &str = "WebhookEndpoint";
const DELIVERY: &str = "WebhookDelivery";

fn encode(kind: &str, id: i64) -> ID {
    ID(format!("gid://c360/{kind}/{id}"))
}

/// The row id of a `gid://c360/<kind>/<n>` id.
fn decode(field: &str, kind: &str, id: &ID) -> Result<i64, AppError> {
    id.strip_prefix("gid://c360/")
        .and_then(|rest| rest.strip_prefix(kind))
        .and_then(|rest| rest.strip_prefix('/'))
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            AppError::bad_input(
                field,
                format!(
                    "`{}` is not a {kind} id (`gid://c360/{kind}/42`)",
                    id.as_str()
                ),
            )
        })
}

/// A URL that receives c360's events, signed by the Standard Webhooks spec.
pub struct WebhookEndpoint(webhook_endpoint::Model);

#[Object]
impl WebhookEndpoint {
    async fn id(&self) -> ID {
        encode(ENDPOINT, self.0.id)
    }
    async fn url(&self) -> &str {
        &self.0.url
    }
    async fn description(&self) -> &str {
        &self.0.description
    }
    /// The event types it receives; empty: every type its owner may read.
    async fn event_types(&self) -> Vec<String> {
        self.0
            .event_types
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
    /// Whether deliveries are going out.
    async fn enabled(&self) -> bool {
        self.0.disabled_at.is_none()
    }
    async fn disabled_at(&self) -> Option<DateTime<Utc>> {
        self.0.disabled_at
    }
    /// Why it was disabled: by its owner, a 410 Gone, or failing too long.
    async fn disabled_reason(&self) -> Option<&str> {
        self.0.disabled_reason.as_deref()
    }
    /// Since when every attempt has failed; null while deliveries succeed.
    async fn failing_since(&self) -> Option<DateTime<Utc>> {
        self.0.failing_since
    }
    /// Until when the secret before the last rotation still signs too.
    async fn previous_secret_expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.previous_secret_expires_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// The status of the delivery attempted last; null before any attempt.
    async fn last_delivery_status(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<Status>> {
        let db = &state(ctx)?.store.conn;
        Ok(endpoints::health(db, self.0.id).await?.last_status)
    }
    /// The HTTP status the endpoint answered that attempt with.
    async fn last_http_status(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<i32>> {
        let db = &state(ctx)?.store.conn;
        Ok(endpoints::health(db, self.0.id).await?.last_http_status)
    }
    /// Deliveries waiting to go out.
    async fn pending_count(&self, ctx: &Context<'_>) -> async_graphql::Result<u64> {
        let db = &state(ctx)?.store.conn;
        Ok(endpoints::health(db, self.0.id).await?.pending)
    }
}

/// An endpoint with its signing secret, shown only when it is created or
/// rotated.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct WebhookEndpointWithSecret {
    /// `whsec_` + base64: verify deliveries with it (Standard Webhooks).
    secret: String,
    #[graphql(skip)]
    model: webhook_endpoint::Model,
}

#[ComplexObject]
impl WebhookEndpointWithSecret {
    async fn endpoint(&self) -> WebhookEndpoint {
        WebhookEndpoint(self.model.clone())
    }
}

impl From<webhook_endpoint::Model> for WebhookEndpointWithSecret {
    fn from(model: webhook_endpoint::Model) -> Self {
        WebhookEndpointWithSecret {
            secret: model.secret.clone(),
            model,
        }
    }
}

/// One event sent (or to be sent) to one endpoint.
pub struct WebhookDelivery(webhook_delivery::Model);

#[Object]
impl WebhookDelivery {
    async fn id(&self) -> ID {
        encode(DELIVERY, self.0.id)
    }
    /// The event's id: the `webhook-id` header of every attempt.
    async fn event_id(&self) -> &str {
        &self.0.event_id
    }
    /// The customer the event is about.
    async fn customer_id(&self) -> Option<ID> {
        self.0.customer_id.map(|c| ID(gid(Kind::Customer, c)))
    }
    async fn status(&self) -> Option<Status> {
        Status::parse(&self.0.status)
    }
    /// Attempts made so far (since the last retry or replay).
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }
    /// When the next attempt is due, for a PENDING delivery.
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        (self.0.status == Status::Pending.as_str()).then_some(self.0.next_attempt_at)
    }
    /// The HTTP status of the latest attempt; null when none came back.
    async fn last_http_status(&self) -> Option<i32> {
        self.0.last_status
    }
    /// Why the latest attempt failed.
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    /// How long the latest attempt took, in milliseconds.
    async fn latency_ms(&self) -> Option<i32> {
        self.0.last_latency_ms
    }
    /// The first KiB of the latest response body.
    async fn response_excerpt(&self) -> Option<&str> {
        self.0.response_excerpt.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.0.delivered_at
    }
}

#[derive(InputObject)]
pub struct WebhookEndpointCreateInput {
    /// Where to POST: https (http and loopback only in development).
    url: String,
    /// Event types to receive, e.g. `order.placed`; none: every type.
    event_types: Option<Vec<String>>,
    description: Option<String>,
}

#[derive(InputObject)]
pub struct WebhookEndpointUpdateInput {
    url: Option<String>,
    /// The new list; an empty one: every type.
    event_types: Option<Vec<String>>,
    description: Option<String>,
}

#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// The webhook endpoints the caller manages, with their health. STAFF,
    /// or PARTNER with `webhooks:write` (its own).
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn webhook_endpoints(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the edge to start after.")] after: Option<String>,
    ) -> async_graphql::Result<Connection<Cursor, WebhookEndpoint>> {
        let principal = endpoints::manager(identity(ctx))?;
        let page = ById::new(first, after.as_deref())?;
        let rows = endpoints::list(state(ctx)?, principal, &page).await?;
        Ok(keyset(rows, EmptyFields, WebhookEndpoint))
    }

    /// An endpoint's delivery log, newest first.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        endpoint_id: ID,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the edge to start after.")] after: Option<String>,
        #[graphql(desc = "Only deliveries in this state.")] status: Option<Status>,
    ) -> async_graphql::Result<Connection<Cursor, WebhookDelivery>> {
        let principal = endpoints::manager(identity(ctx))?;
        let id = decode("endpointId", ENDPOINT, &endpoint_id)?;
        let page = ById::new(first, after.as_deref())?;
        let rows = endpoints::deliveries(state(ctx)?, principal, id, status, &page).await?;
        Ok(keyset(rows, EmptyFields, WebhookDelivery))
    }
}

#[derive(Default)]
pub struct WebhookMutation;

#[Object]
impl WebhookMutation {
    /// Registers an endpoint for the events committed from now on. The
    /// secret is shown here and on rotation only.
    async fn webhook_endpoint_create(
        &self,
        ctx: &Context<'_>,
        input: WebhookEndpointCreateInput,
    ) -> async_graphql::Result<WebhookEndpointWithSecret> {
        let principal = endpoints::manager(identity(ctx))?;
        let changes = Changes {
            url: Some(input.url),
            event_types: input.event_types,
            description: input.description,
        };
        Ok(endpoints::create(state(ctx)?, principal, changes)
            .await?
            .into())
    }

    async fn webhook_endpoint_update(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: WebhookEndpointUpdateInput,
    ) -> async_graphql::Result<WebhookEndpoint> {
        let principal = endpoints::manager(identity(ctx))?;
        let id = decode("id", ENDPOINT, &id)?;
        let changes = Changes {
            url: input.url,
            event_types: input.event_types,
            description: input.description,
        };
        let updated = endpoints::update(state(ctx)?, principal, id, changes).await?;
        Ok(WebhookEndpoint(updated))
    }

    /// Stops deliveries; they wait, PENDING, until it is enabled again.
    async fn webhook_endpoint_disable(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<WebhookEndpoint> {
        let principal = endpoints::manager(identity(ctx))?;
        let id = decode("id", ENDPOINT, &id)?;
        let reason = format!("disabled by {}", principal.subject);
        let row = endpoints::set_disabled(state(ctx)?, principal, id, Some(reason)).await?;
        Ok(WebhookEndpoint(row))
    }

    async fn webhook_endpoint_enable(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<WebhookEndpoint> {
        let principal = endpoints::manager(identity(ctx))?;
        let id = decode("id", ENDPOINT, &id)?;
        let row = endpoints::set_disabled(state(ctx)?, principal, id, None).await?;
        Ok(WebhookEndpoint(row))
    }

    /// Deletes the endpoint and its delivery log; its id.
    async fn webhook_endpoint_delete(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<ID> {
        let principal = endpoints::manager(identity(ctx))?;
        let row = decode("id", ENDPOINT, &id)?;
        endpoints::delete(state(ctx)?, principal, row).await?;
        Ok(id)
    }

    /// A new secret; the previous one keeps signing for 24 hours.
    async fn webhook_endpoint_rotate_secret(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<WebhookEndpointWithSecret> {
        let principal = endpoints::manager(identity(ctx))?;
        let id = decode("id", ENDPOINT, &id)?;
        Ok(endpoints::rotate_secret(state(ctx)?, principal, id)
            .await?
            .into())
    }

    /// Sends a delivery again, with a fresh retry schedule.
    async fn webhook_delivery_retry(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<WebhookDelivery> {
        let principal = endpoints::manager(identity(ctx))?;
        let id = decode("id", DELIVERY, &id)?;
        Ok(WebhookDelivery(
            endpoints::retry(state(ctx)?, principal, id).await?,
        ))
    }

    /// Sends again every event at or after `since` the endpoint subscribes
    /// to (also those from before it existed); the deliveries queued.
    async fn webhook_endpoint_replay(
        &self,
        ctx: &Context<'_>,
        id: ID,
        since: DateTime<Utc>,
    ) -> async_graphql::Result<u64> {
        let principal = endpoints::manager(identity(ctx))?;
        let id = decode("id", ENDPOINT, &id)?;
        Ok(endpoints::replay(state(ctx)?, principal, id, since).await?)
    }
}
