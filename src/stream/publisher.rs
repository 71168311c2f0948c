//! Publishing outbox batches to JetStream and moving the cursor.

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use c360_entity::{event, event_consumer};
use chrono::Utc;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    sea_query::Expr,
};
use tokio::sync::OnceCell;

use crate::app::AppState;
use crate::config::Config;
use crate::error::{AppError, AppResult};

/// Events published per round trip of acknowledgements.
const BATCH: u64 = 500;

/// How long a stream remembers message ids to drop repeats.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// What a drain published.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Published {
    pub events: u64,
    /// Of those, how many JetStream had already (a re-publish after a crash
    /// or by another instance).
    pub duplicates: u64,
}

pub struct Publisher {
    jetstream: jetstream::Context,
    stream: String,
    prefix: String,
    max_age: Duration,
    /// The stream, checked (or created) once per process.
    ready: OnceCell<()>,
    consumer: String,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("stream", &self.stream)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Publisher {
    /// A publisher on the NATS at `url`. Never waits for the server: the
    /// client connects (and reconnects) in the background, and a server
    /// that is down shows as a failed round. Only a URL that cannot be
    /// used at all is an error.
    pub async fn connect(url: &str, config: &Config) -> AppResult<Publisher> {
        let client = async_nats::ConnectOptions::new()
            .name("c360")
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(2))
            .connect(url)
            .await
            .map_err(|e| nats_error("C360_EVENTS_NATS_URL cannot be used", e))?;
        let mut jetstream = jetstream::new(client);
        jetstream.set_timeout(Duration::from_secs(5));
        Ok(Publisher {
            jetstream,
            stream: config.events_nats_stream.clone(),
            prefix: config.events_nats_subject_prefix.clone(),
            max_age: config.events_nats_max_age,
            ready: OnceCell::new(),
            consumer: format!("nats:{}", config.events_nats_stream),
        })
    }

    /// The subject of an event type.
    pub fn subject(&self, event_type: &str) -> String {
        format!("{}.{event_type}", self.prefix)
    }

    async fn ensure_stream(&self) -> AppResult<()> {
        self.ready
            .get_or_try_init(|| async {
                self.jetstream
                    .get_or_create_stream(stream::Config {
                        name: self.stream.clone(),
                        subjects: vec![format!("{}.>", self.prefix)],
                        retention: stream::RetentionPolicy::Limits,
                        storage: stream::StorageType::File,
                        max_age: self.max_age,
                        duplicate_window: DUPLICATE_WINDOW,
                        ..Default::default()
                    })
                    .await
                    .map(|_| ())
                    .map_err(|e| nats_error("the stream cannot be created or read", e))
            })
            .await
            .copied()
    }

    /// Publishes every event past the cursor, batch after batch.
    pub async fn drain(&self, app: &AppState) -> AppResult<Published> {
        let mut total = Published::default();
        loop {
            let (published, more) = self.round(app).await?;
            total.events += published.events;
            total.duplicates += published.duplicates;
            if !more {
                return Ok(total);
            }
        }
    }

    /// One batch: published, acknowledged, the cursor moved past the
    /// acknowledged prefix. `true` when more may be waiting.
    async fn round(&self, app: &AppState) -> AppResult<(Published, bool)> {
        let db = &app.store.conn;
        let cursor = position(db, &self.consumer).await?;
        let events = event::Entity::find()
            .filter(event::Column::Position.gt(cursor))
            .order_by_asc(event::Column::Position)
            .limit(BATCH)
            .all(db)
            .await?;
        if events.is_empty() {
            return Ok((Published::default(), false));
        }
        self.ensure_stream().await?;
        // All of the batch goes out before the first acknowledgement is
        // awaited: one round trip per batch, not per event.
        let mut pending = Vec::with_capacity(events.len());
        for e in &events {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", e.id.as_str());
            headers.insert("C360-Event-Type", e.event_type.as_str());
            let body = serde_json::to_vec(&crate::webhooks::send::body(e))
                .map_err(|e| AppError::Internal(e.into()))?;
            match self
                .jetstream
                .publish_with_headers(self.subject(&e.event_type), headers, body.into())
                .await
            {
                Ok(ack) => pending.push(ack),
                Err(err) => {
                    if pending.is_empty() {
                        return Err(nats_error("publishing failed", err));
                    }
                    break;
                }
            }
        }
        let mut published = Published::default();
        let mut last = cursor;
        let mut failure = None;
        for (e, ack) in events.iter().zip(pending) {
            match ack.await {
                Ok(ack) => {
                    published.events += 1;
                    published.duplicates += u64::from(ack.duplicate);
                    last = e.position.unwrap_or(e.seq);
                }
                Err(err) => {
                    // The rest go again next round; those JetStream did
                    // store are then dropped as duplicates.
                    failure = Some(nats_error("a publish was not acknowledged", err));
                    break;
                }
            }
        }
        if last > cursor {
            advance(db, &self.consumer, last).await?;
        }
        match failure {
            Some(error) if published.events == 0 => Err(error),
            Some(_) => Ok((published, false)),
            None => Ok((published, events.len() as u64 == BATCH)),
        }
    }
}

fn nats_error(what: &str, error: impl std::fmt::Display) -> AppError {
    AppError::Internal(anyhow::anyhow!("NATS: {what}: {error}"))
}

/// The consumer's cursor: 0 before its first event.
async fn position(db: &impl ConnectionTrait, name: &str) -> AppResult<i64> {
    Ok(event_consumer::Entity::find_by_id(name.to_owned())
        .one(db)
        .await?
        .map_or(0, |c| c.position))
}

/// Moves the cursor to `to`, never back: another instance that moved it
/// further meanwhile keeps its progress.
async fn advance(db: &impl ConnectionTrait, name: &str, to: i64) -> AppResult<()> {
    event_consumer::Entity::insert(event_consumer::ActiveModel {
        name: Set(name.to_owned()),
        position: Set(0),
        updated_at: Set(Utc::now()),
    })
    .on_conflict_do_nothing_on([event_consumer::Column::Name])
    .exec(db)
    .await?;
    event_consumer::Entity::update_many()
        .col_expr(event_consumer::Column::Position, Expr::value(to))
        .col_expr(event_consumer::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(event_consumer::Column::Name.eq(name))
        .filter(event_consumer::Column::Position.lt(to))
        .exec(db)
        .await?;
    Ok(())
}
