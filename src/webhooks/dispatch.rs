//! The dispatcher: turns outbox events into deliveries. For each enabled
//! endpoint it reads the events after the endpoint's cursor in `position`
//! order (the commit order: a position once visible is never preceded by
//! a later-visible lower one, so nothing is skipped), keeps those the
//! endpoint subscribes to and its owner may receive, inserts their
//! deliveries and moves the cursor past the whole batch, all in one
//! transaction: a crash before the commit leaves the cursor and the
//! deliveries as they were, so an event is never lost nor doubled.

use std::collections::BTreeSet;

use c360_entity::{event, webhook_delivery, webhook_endpoint};
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, sea_query::Expr,
};

use super::Status;
use crate::auth::{Identity, Principal, Role, require_domain};
use crate::db::begin_write;
use crate::error::AppResult;
use crate::events::EventType;

/// Events read per endpoint and transaction: bounds the transaction's
/// size; the next round goes on from the new cursor.
const BATCH: u64 = 500;

/// What one endpoint receives: the types it subscribed to (all when none)
/// that its owner, as it was at creation, may read.
#[derive(Debug, Clone)]
pub struct Subscription {
    types: BTreeSet<String>,
    owner: Identity,
}

impl Subscription {
    pub fn of(endpoint: &webhook_endpoint::Model) -> Subscription {
        let types = endpoint
            .event_types
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        Subscription {
            types,
            owner: owner_identity(endpoint),
        }
    }

    /// Whether an event of `event_type` goes to the endpoint.
    pub fn wants(&self, event_type: &str) -> bool {
        if !self.types.is_empty() && !self.types.contains(event_type) {
            return false;
        }
        // The same rule as the API's fields: a partner needs the read scope
        // of the event's domain. A type unknown to this version is sent to
        // nobody but staff.
        match EventType::parse(event_type) {
            Some(t) => require_domain(&self.owner, t.domain()).is_ok(),
            None => matches!(&self.owner, Identity::Authenticated(p) if p.role == Role::Staff),
        }
    }
}

/// The endpoint's owner as a caller, with the scopes it had at creation.
pub fn owner_identity(endpoint: &webhook_endpoint::Model) -> Identity {
    match endpoint.owner_role.parse::<Role>() {
        Ok(role) => Identity::Authenticated(Principal {
            role,
            subject: endpoint.owner_subject.clone(),
            scopes: endpoint
                .owner_scopes
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
        }),
        Err(_) => Identity::Anonymous,
    }
}

/// A PENDING delivery of `event` to `endpoint`, due at `due`.
pub fn delivery_row(
    endpoint_id: i64,
    event: &event::Model,
    now: DateTime<Utc>,
    due: DateTime<Utc>,
) -> webhook_delivery::ActiveModel {
    webhook_delivery::ActiveModel {
        endpoint_id: Set(endpoint_id),
        event_id: Set(event.id.clone()),
        event_position: Set(event.position.unwrap_or(event.seq)),
        customer_id: Set(event.customer_id),
        status: Set(Status::Pending.as_str().to_owned()),
        attempts: Set(0),
        next_attempt_at: Set(due),
        created_at: Set(now),
        ..Default::default()
    }
}

/// Inserts `rows`, skipping deliveries that exist already (replay).
pub async fn insert_deliveries(
    db: &impl ConnectionTrait,
    rows: Vec<webhook_delivery::ActiveModel>,
) -> AppResult<()> {
    for chunk in rows.chunks(500) {
        webhook_delivery::Entity::insert_many(chunk.to_vec())
            .on_conflict_do_nothing_on([
                webhook_delivery::Column::EndpointId,
                webhook_delivery::Column::EventId,
            ])
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// One round for every enabled endpoint; the deliveries created, due at
/// `now` + `first_delay`.
pub async fn dispatch(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    first_delay: chrono::TimeDelta,
) -> AppResult<u64> {
    let endpoints = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::DisabledAt.is_null())
        .order_by_asc(webhook_endpoint::Column::Id)
        .all(db)
        .await?;
    let mut created = 0;
    for endpoint in endpoints {
        // Until an endpoint's backlog is drained: a burst is dispatched
        // in one tick, a batch per transaction.
        let mut cursor = endpoint.position;
        loop {
            let (n, next) = dispatch_batch(db, &endpoint, cursor, now, first_delay).await?;
            created += n;
            match next {
                Some(next) => cursor = next,
                None => break,
            }
        }
    }
    Ok(created)
}

/// One batch of `endpoint`'s events after `cursor`: the deliveries created
/// and the new cursor, `None` when the batch was the last one or another
/// dispatcher moved the cursor first.
async fn dispatch_batch(
    db: &DatabaseConnection,
    endpoint: &webhook_endpoint::Model,
    cursor: i64,
    now: DateTime<Utc>,
    first_delay: chrono::TimeDelta,
) -> AppResult<(u64, Option<i64>)> {
    // Read before the transaction: an idle round then takes no write
    // lock, and the conditional cursor move below still keeps a batch from
    // being dispatched twice. The transaction is IMMEDIATE on SQLite
    // (`db::begin_write`): a deferred one that has read fails at once with
    // SQLITE_BUSY if a write commits in between, which under a stream of
    // ingests lost the round until the next poll.
    let events = event::Entity::find()
        .filter(event::Column::Position.gt(cursor))
        .order_by_asc(event::Column::Position)
        .limit(BATCH)
        .all(db)
        .await?;
    let Some(last) = events.last().and_then(|e| e.position) else {
        return Ok((0, None));
    };
    let txn = begin_write(db).await?;
    // Moving the cursor first locks the endpoint's row: a second `serve`
    // dispatching the same endpoint waits here, then finds the cursor moved
    // and gives up its batch instead of doubling it.
    let moved = webhook_endpoint::Entity::update_many()
        .col_expr(webhook_endpoint::Column::Position, Expr::value(last))
        .filter(webhook_endpoint::Column::Id.eq(endpoint.id))
        .filter(webhook_endpoint::Column::Position.eq(cursor))
        .filter(webhook_endpoint::Column::DisabledAt.is_null())
        .exec(&txn)
        .await?;
    if moved.rows_affected == 0 {
        return Ok((0, None));
    }
    // The types as they are now, read under the row lock: an update that
    // committed before these events were read applies to them, however
    // long ago the round listed the endpoints.
    let Some(current) = webhook_endpoint::Entity::find_by_id(endpoint.id)
        .one(&txn)
        .await?
    else {
        return Ok((0, None));
    };
    let subscription = Subscription::of(&current);
    let due = now + first_delay;
    let rows: Vec<_> = events
        .iter()
        .filter(|e| subscription.wants(&e.event_type))
        .map(|e| delivery_row(endpoint.id, e, now, due))
        .collect();
    let n = rows.len() as u64;
    insert_deliveries(&txn, rows).await?;
    txn.commit().await?;
    let full = events.len() as u64 == BATCH;
    Ok((n, full.then_some(last)))
}
