//! Appending to the outbox, inside the caller's transaction: an event is
//! stored exactly when the write that caused it commits, and a write that
//! fails or rolls back leaves none.
//!
//! A write collects the events it causes and appends them with one
//! multi-row insert ([`emit_all`]), whatever their number (chunked far
//! below every backend's parameter limit for the thousands a settlement
//! sweep can cause).
//!
//! Ids are `evt_` + a ULID (Crockford base 32, 26 characters): unique
//! without asking the store, and sortable. One generator per process hands
//! them out strictly increasing, so within a process they sort as the
//! events were appended; writes never overlap on SQLite, so there they sort
//! in `seq` order too. The ULID's time part is the event's `occurred_at`
//! (the write's clock); when the clock stands still or moves back the
//! generator counts on from the last id, so order is kept.

use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use c360_entity::event;
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ConnectionTrait, EntityTrait, Set, TryInsertResult};
use ulid::Generator;

use super::EventType;
use crate::error::{AppError, AppResult};

/// The prefix of every event id.
pub const ID_PREFIX: &str = "evt_";

/// Rows per insert: 6 values each, far under SQLite's 32,766 and
/// PostgreSQL's 65,535 bound parameters.
const ROWS_PER_STATEMENT: usize = 1_000;

/// An event a write caused, before it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub event_type: EventType,
    /// The customer the event is about, if any.
    pub customer_id: Option<i64>,
    /// The payload (see `events::payload`).
    pub data: serde_json::Value,
}

static IDS: Mutex<Generator> = Mutex::new(Generator::new());

/// `n` fresh event ids for events that occurred at `at`, increasing. Every
/// appender of the process takes its ids here (the bulk import inserts its
/// own rows), so they keep increasing across all of them.
pub(crate) fn next_ids(at: DateTime<Utc>, n: usize) -> AppResult<Vec<String>> {
    let at = SystemTime::from(at);
    let mut ids = IDS.lock().unwrap_or_else(PoisonError::into_inner);
    (0..n)
        .map(|_| {
            ids.generate_from_datetime(at)
                .map(|ulid| format!("{ID_PREFIX}{ulid}"))
                .map_err(|e| AppError::Internal(anyhow::anyhow!("event id: {e}")))
        })
        .collect()
}

fn row(
    id: String,
    at: DateTime<Utc>,
    event: NewEvent,
    natural_key: Option<&str>,
) -> event::ActiveModel {
    event::ActiveModel {
        id: Set(id),
        event_type: Set(event.event_type.name().to_owned()),
        customer_id: Set(event.customer_id),
        // Stamped to the second, as every row of the store is.
        occurred_at: Set(at.trunc_subsecs(0)),
        data: Set(event.data),
        natural_key: Set(natural_key.map(str::to_owned)),
        ..Default::default()
    }
}

/// Appends `event`, which occurred at `at` (the write's time), in the
/// caller's transaction.
pub async fn emit(db: &impl ConnectionTrait, at: DateTime<Utc>, event: NewEvent) -> AppResult<()> {
    emit_all(db, at, vec![event]).await
}

/// Appends `events`, in order, in the caller's transaction: one statement
/// per thousand events, none when there are none.
pub async fn emit_all(
    db: &impl ConnectionTrait,
    at: DateTime<Utc>,
    events: Vec<NewEvent>,
) -> AppResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let ids = next_ids(at, events.len())?;
    let mut rows = ids
        .into_iter()
        .zip(events)
        .map(|(id, event)| row(id, at, event, None))
        .peekable();
    while rows.peek().is_some() {
        let chunk: Vec<event::ActiveModel> = rows.by_ref().take(ROWS_PER_STATEMENT).collect();
        event::Entity::insert_many(chunk)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// `ON CONFLICT (natural_key) WHERE natural_key IS NOT NULL DO NOTHING`:
/// the key's unique index holds the keyed events alone (migration
/// `m20261202_000018_partial_natural_key_index`), and a conflict target
/// names a partial index only with its predicate.
fn keyed_conflict() -> OnConflict {
    OnConflict::column(event::Column::NaturalKey)
        .target_and_where(Expr::col(event::Column::NaturalKey).is_not_null())
        .do_nothing()
        .to_owned()
}

/// Appends `event` unless an event with `natural_key` was appended before
/// (insert-or-ignore on the key's unique index, so concurrent emitters
/// cannot both succeed). Whether it was appended.
pub async fn emit_once(
    db: &impl ConnectionTrait,
    at: DateTime<Utc>,
    event: NewEvent,
    natural_key: &str,
) -> AppResult<bool> {
    let id = next_ids(at, 1)?.into_iter().next().unwrap_or_default();
    let inserted = event::Entity::insert(row(id, at, event, Some(natural_key)))
        .on_conflict(keyed_conflict())
        .try_insert()
        .exec_without_returning(db)
        .await?;
    Ok(matches!(inserted, TryInsertResult::Inserted(n) if n > 0))
}

/// Appends each of `events` unless an event with its natural key was
/// appended before, in one insert-or-ignore per thousand events (the
/// unique key decides between concurrent emitters, as in [`emit_once`]).
/// How many were appended.
pub async fn emit_all_once(
    db: &impl ConnectionTrait,
    at: DateTime<Utc>,
    events: Vec<(NewEvent, String)>,
) -> AppResult<u64> {
    if events.is_empty() {
        return Ok(0);
    }
    let ids = next_ids(at, events.len())?;
    let mut rows = ids
        .into_iter()
        .zip(events)
        .map(|(id, (event, key))| row(id, at, event, Some(&key)))
        .peekable();
    let mut appended = 0;
    while rows.peek().is_some() {
        let chunk: Vec<event::ActiveModel> = rows.by_ref().take(ROWS_PER_STATEMENT).collect();
        let inserted = event::Entity::insert_many(chunk)
            .on_conflict(keyed_conflict())
            .try_insert()
            .exec_without_returning(db)
            .await?;
        if let TryInsertResult::Inserted(n) = inserted {
            appended += n;
        }
    }
    Ok(appended)
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    #[test]
    fn ids_are_prefixed_ulids_that_increase_even_when_the_clock_goes_back() {
        let at = DateTime::<Utc>::UNIX_EPOCH + TimeDelta::days(20_000);
        let mut ids = next_ids(at, 3).unwrap_or_default();
        ids.extend(next_ids(at - TimeDelta::days(1), 2).unwrap_or_default());
        assert_eq!(ids.len(), 5);
        for id in &ids {
            let ulid = id.strip_prefix(ID_PREFIX).unwrap_or_default();
            assert_eq!(ulid.len(), 26, "{id}");
            assert!(ulid::Ulid::from_string(ulid).is_ok(), "{id}");
        }
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    }
}
