//! `Subscription`: events as they are committed, over WebSocket
//! (`graphql-transport-ws`, served by `http::websocket`).
//!
//! The same access rules as the rest of the API, checked when the
//! subscription starts and again for each event: STAFF sees everything; a
//! PARTNER only events of the domains its read scopes grant; a CUSTOMER only
//! its own events, never segment membership (segment names are internal).
//! Payloads carry ids, statuses, money and points, never PII, so there is
//! nothing to mask. Events come from `live::Feed`; a subscriber that falls
//! a whole buffer behind gets a `SLOW_CONSUMER` error and its connection is
//! closed.

use std::sync::Arc;

use async_graphql::{Context, ErrorExtensions, ID, Subscription};
use c360_entity::{event, segment};
use futures_util::Stream;
use sea_orm::EntityTrait;
use tokio::sync::broadcast::{Receiver, error::RecvError};

use super::context::{identity, state};
use super::events::{Event, event_types};
use super::ids::{Kind, decode};
use crate::auth::{Domain, Identity, Role, require_domain, visible_customer_ids};
use crate::domain::ids::gid;
use crate::error::AppError;
use crate::events::EventType;

/// The code of the error that ends a subscription whose client read too
/// slowly; `http::websocket` closes the connection on it.
pub const SLOW_CONSUMER: &str = "SLOW_CONSUMER";

#[derive(Default)]
pub struct SubscriptionRoot;

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Events about one customer, from now on, as they are committed on any
    /// instance. STAFF: every event; PARTNER: the events of its read scopes'
    /// domains; CUSTOMER: its own events.
    async fn customer_events(
        &self,
        ctx: &Context<'_>,
        customer_id: ID,
        #[graphql(desc = "Only events of these types, e.g. `order.paid`.")] types: Option<
            Vec<String>,
        >,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Event>> + use<>> {
        let caller = identity(ctx).clone();
        let customer = decode("customerId", Kind::Customer, &customer_id)?;
        let principal = match &caller {
            Identity::Anonymous => {
                return Err(AppError::Unauthenticated(
                    "subscriptions need a bearer token in connection_init".into(),
                )
                .into());
            }
            Identity::Authenticated(p) => p,
        };
        if !visible_customer_ids(principal).allows(customer) {
            return Err(AppError::NotFound(format!("no customer {}", customer_id.as_str())).into());
        }
        let types = event_types(types)?;
        // Types asked for by name that the caller may never receive are a
        // mistake to report now, not a silence.
        if let Some(t) = types.iter().find(|t| !receives(&caller, **t)) {
            return Err(AppError::Forbidden(format!(
                "`{}` events need the `{}` scope",
                t.name(),
                t.domain().read_scope()
            ))
            .into());
        }
        let feed = state(ctx)?.feed.subscribe();
        Ok(events(feed, move |e| {
            e.customer_id == Some(customer)
                && EventType::parse(&e.event_type).is_some_and(|t| {
                    (types.is_empty() || types.contains(&t)) && receives(&caller, t)
                })
        }))
    }

    /// Customers entering and leaving a tracked segment, from now on
    /// (`segment.entered`, `segment.exited`). STAFF, or `segments:read`.
    async fn segment_membership(
        &self,
        ctx: &Context<'_>,
        segment_id: ID,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Event>> + use<>> {
        require_domain(identity(ctx), Domain::Segments)?;
        let id = decode("segmentId", Kind::Segment, &segment_id)?;
        let app = state(ctx)?;
        if segment::Entity::find_by_id(id)
            .one(&app.store.conn)
            .await?
            .is_none()
        {
            return Err(AppError::NotFound(format!("no segment {}", segment_id.as_str())).into());
        }
        let wanted = gid(Kind::Segment, id);
        Ok(events(app.feed.subscribe(), move |e| {
            matches!(
                EventType::parse(&e.event_type),
                Some(EventType::SegmentEntered | EventType::SegmentExited)
            ) && e.data["segment"]["id"] == wanted.as_str()
        }))
    }
}

/// Whether `caller` may receive events of type `t`.
fn receives(caller: &Identity, t: EventType) -> bool {
    let segment_news = matches!(t, EventType::SegmentEntered | EventType::SegmentExited);
    match caller {
        Identity::Authenticated(p) if p.role == Role::Customer && segment_news => false,
        _ => require_domain(caller, t.domain()).is_ok(),
    }
}

/// The feed's events that pass `keep`, ending with a SLOW_CONSUMER error
/// when the subscriber has fallen behind the feed's buffer.
fn events(
    feed: Receiver<Arc<event::Model>>,
    keep: impl Fn(&event::Model) -> bool + Send + 'static,
) -> impl Stream<Item = async_graphql::Result<Event>> {
    let keep = Arc::new(keep);
    futures_util::stream::unfold(Some(feed), move |feed| {
        let keep = keep.clone();
        async move {
            let mut feed = feed?;
            loop {
                match feed.recv().await {
                    Ok(e) if keep(&e) => return Some((Ok(Event((*e).clone())), Some(feed))),
                    Ok(_) => continue,
                    Err(RecvError::Lagged(missed)) => {
                        let error = async_graphql::Error::new(format!(
                            "this subscriber fell {missed} events behind and was stopped; read faster, then subscribe again"
                        ))
                        .extend_with(|_, ext| ext.set("code", SLOW_CONSUMER));
                        return Some((Err(error), None));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;
    use tokio::sync::broadcast;

    use super::*;

    fn order_placed(seq: i64) -> Arc<event::Model> {
        Arc::new(event::Model {
            seq,
            id: format!("evt_{seq}"),
            event_type: "order.placed".into(),
            customer_id: Some(1),
            occurred_at: chrono::Utc::now(),
            data: serde_json::json!({}),
            natural_key: None,
            position: Some(seq),
        })
    }

    #[tokio::test]
    async fn a_subscriber_a_whole_buffer_behind_is_stopped_not_buffered() {
        let (feed, _) = broadcast::channel(4);
        let receiver = feed.subscribe();
        let mut stream = Box::pin(events(receiver, |_| true));
        for seq in 1..=10 {
            feed.send(order_placed(seq)).expect("a receiver");
        }
        let Some(Err(error)) = stream.next().await else {
            panic!("the subscriber lagged");
        };
        assert!(
            error.message.contains("fell 6 events behind"),
            "{}",
            error.message
        );
        let code = error
            .extensions
            .as_ref()
            .and_then(|e| e.get("code"))
            .cloned();
        assert_eq!(code, Some(async_graphql::Value::from(SLOW_CONSUMER)));
        assert!(stream.next().await.is_none());
    }

    #[tokio::test]
    async fn events_pass_the_filter_in_order() {
        let (feed, _) = broadcast::channel(8);
        let mut stream = Box::pin(events(feed.subscribe(), |e| e.seq % 2 == 0));
        for seq in 1..=4 {
            feed.send(order_placed(seq)).expect("a receiver");
        }
        drop(feed);
        let seqs: Vec<i64> = stream
            .by_ref()
            .map(|e| e.map(|e| e.0.seq).unwrap_or(-1))
            .collect()
            .await;
        assert_eq!(seqs, [2, 4]);
    }
}
