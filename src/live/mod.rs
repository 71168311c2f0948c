//! The live feed behind GraphQL subscriptions: the outbox as it grows, fanned
//! out to this instance's subscribers.
//!
//! Every instance follows the outbox in the shared database, so an event
//! committed through any instance reaches subscribers on all of them, on
//! SQLite and PostgreSQL alike, with no broker in between. The follower runs
//! only while someone subscribes: it starts at the outbox's end when the
//! first subscriber arrives and reads the events past its cursor every
//! `--subscriptions-poll-interval`.
//!
//! Fan-out is a bounded broadcast ring of [`CAPACITY`] events: memory stays
//! fixed however slow a subscriber is. A subscriber that falls a whole ring
//! behind has lost events; its subscription ends with a `SLOW_CONSUMER`
//! error and the connection is closed (`http::websocket`), rather than
//! buffering without bound or silently skipping.

use std::sync::Arc;

use c360_entity::event;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::app::AppState;
use crate::error::AppResult;

/// Events held for the slowest subscriber.
pub const CAPACITY: usize = 1024;

/// Events read per poll.
const BATCH: u64 = 500;

#[derive(Debug)]
pub struct Feed {
    sender: broadcast::Sender<Arc<event::Model>>,
}

impl Default for Feed {
    fn default() -> Self {
        Feed {
            sender: broadcast::channel(CAPACITY).0,
        }
    }
}

impl Feed {
    /// Events committed from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<event::Model>> {
        self.sender.subscribe()
    }
}

/// The follower of a serving app.
pub fn job(app: &AppState) -> Option<JoinHandle<()>> {
    let period = app.config.subscriptions_poll_interval;
    if period.is_zero() {
        return None;
    }
    let app = app.clone();
    Some(tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut cursor: Option<i64> = None;
        loop {
            ticks.tick().await;
            if app.feed.sender.receiver_count() == 0 {
                // Nobody listens: no statements, and the next subscriber
                // starts from the end of the outbox then.
                cursor = None;
                continue;
            }
            match follow(&app, cursor).await {
                Ok(next) => cursor = Some(next),
                Err(error) => {
                    tracing::warn!(%error, "the live feed could not read the outbox; retrying")
                }
            }
        }
    }))
}

/// Broadcasts the events after `cursor` (from the outbox's end when
/// `None`); the new cursor.
async fn follow(app: &AppState, cursor: Option<i64>) -> AppResult<i64> {
    let db = &app.store.conn;
    let Some(mut cursor) = cursor else {
        let end: Option<Option<i64>> = event::Entity::find()
            .select_only()
            .column_as(event::Column::Position.max(), "end")
            .into_tuple()
            .one(db)
            .await?;
        return Ok(end.flatten().unwrap_or(0));
    };
    loop {
        let events = event::Entity::find()
            .filter(event::Column::Position.gt(cursor))
            .order_by_asc(event::Column::Position)
            .limit(BATCH)
            .all(db)
            .await?;
        let full = events.len() as u64 == BATCH;
        for e in events {
            cursor = e.position.unwrap_or(cursor);
            // No receivers left is not an error: the next tick notices.
            let _ = app.feed.sender.send(Arc::new(e));
        }
        if !full {
            return Ok(cursor);
        }
    }
}
