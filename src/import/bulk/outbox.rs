//! A batch's events appended and numbered a batch at a time: the outbox
//! rows `events::emit_all` would write, with `position` set by the batch
//! rather than by the per-row trigger (migration
//! `m20261201_000017_bulk_event_positions`, which has the trigger skip rows
//! inserted with a position).
//!
//! The rows go in as one JSON parameter per statement (see `super::rows`).
//! `data` is passed as its serialized text and stored as an ORM insert
//! stores it: that text on SQLite, and on PostgreSQL the text of the
//! `jsonb` value sqlx binds.
//!
//! Notices a key makes unique (`events::emit_all_once`) wait with the
//! rest, their key beside them: those whose key the store already holds,
//! as the transaction sees it, or an earlier notice of the outbox holds,
//! are dropped when pushed ([`Outbox::push_once`]). A concurrent emitter of
//! the same key fails the insert on the key's unique index, and the batch
//! is imported again record by record.
//!
//! The batch's events wait in an [`Outbox`] until something else must be
//! appended after them (a record written through the services), and at
//! the latest until the batch ends:
//! - SQLite: one writer holds the database from its first write to its
//!   commit, so insert order is commit order, and each row is inserted
//!   with `seq` and `position` equal, counted on from the highest `seq`
//!   the table ever handed out, as the trigger would have numbered it.
//! - PostgreSQL: a position may only become visible once every lower one
//!   is, so positions are handed out at the end of the transaction, under
//!   the advisory lock the trigger takes, held to the end of the commit
//!   ([`Outbox::finish`]). The events still waiting then go in with their
//!   positions, in one statement per two thousand. Events that had to go
//!   in earlier hold `-seq` (unique, never a real position) until then,
//!   and are numbered with the rows the services appended in the batch
//!   (position NULL; the trigger finds them numbered and leaves them), all
//!   in `seq` order, before the waiting ones.

use std::collections::HashSet;

use c360_entity::event;
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QuerySelect, Statement,
};
use serde::Serialize;

use super::rows::{json_text, stamp};
use crate::error::{AppError, AppResult};
use crate::events::NewEvent;
use crate::events::outbox::next_ids;

/// Rows per statement: one parameter whatever their number, so the bound
/// only keeps each statement's JSON text to a few hundred kilobytes.
const ROWS_PER_STATEMENT: usize = 2_000;

/// SQLite: numbered as inserted, `seq` and `position` alike.
const INSERT_SQLITE: &str = "\
INSERT INTO events (seq, id, event_type, customer_id, occurred_at, data, natural_key, position)
SELECT b.base + e.key + 1, e.value ->> '$.id', e.value ->> '$.event_type',
       e.value ->> '$.customer_id', e.value ->> '$.occurred_at', e.value ->> '$.data',
       e.value ->> '$.natural_key', b.base + e.key + 1
  FROM jsonb_each(?1) AS e,
       (SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0),
                   COALESCE((SELECT MAX(seq) FROM events), 0)) AS base) AS b
 ORDER BY e.key";

const RECORD_POSTGRES: &str = "json_to_recordset($1::json) \
     AS r(id text, event_type text, customer_id bigint, occurred_at timestamptz, data text, \
           natural_key text)";

/// PostgreSQL, before the end of the transaction: `-seq` until numbered.
fn insert_waiting_postgres() -> String {
    format!(
        "INSERT INTO events (seq, id, event_type, customer_id, occurred_at, data, natural_key, position)
         SELECT r.seq, r.id, r.event_type, r.customer_id, r.occurred_at, r.data::jsonb::json,
                r.natural_key, -r.seq
           FROM (SELECT nextval('events_seq_seq') AS seq, r.* FROM {RECORD_POSTGRES}) AS r"
    )
}

/// PostgreSQL, at the end of the transaction under the lock: numbered.
fn insert_numbered_postgres() -> String {
    format!(
        "INSERT INTO events (id, event_type, customer_id, occurred_at, data, natural_key, position)
         SELECT r.id, r.event_type, r.customer_id, r.occurred_at, r.data::jsonb::json,
                r.natural_key, nextval('events_position_seq')
           FROM {RECORD_POSTGRES}"
    )
}

/// PostgreSQL, at the end of the transaction under the lock: the rows it
/// inserted before then, in `seq` order.
const NUMBER_POSTGRES: &str = "\
UPDATE events AS e SET position = n.position
  FROM (SELECT t.seq, nextval('events_position_seq') AS position
          FROM (SELECT seq FROM events WHERE position < 0 OR position IS NULL ORDER BY seq) AS t) AS n
 WHERE e.seq = n.seq";

/// An event row as the inserts above read it.
#[derive(Serialize)]
struct EventRow {
    id: String,
    event_type: &'static str,
    customer_id: Option<i64>,
    occurred_at: String,
    /// The payload's serialized text ([`json_text`]).
    data: String,
    natural_key: Option<String>,
}

/// The outbox rows of one batch's transaction, in the order appended.
pub(super) struct Outbox {
    backend: DatabaseBackend,
    /// Rows not inserted yet.
    waiting: Vec<EventRow>,
    /// Whether rows of the transaction await numbering ([`NUMBER_POSTGRES`]).
    unnumbered: bool,
    /// The natural keys of the notices pushed, inserted or waiting.
    keys: HashSet<String>,
}

impl Outbox {
    pub fn new(backend: DatabaseBackend) -> Self {
        Outbox {
            backend,
            waiting: Vec::new(),
            unnumbered: false,
            keys: HashSet::new(),
        }
    }

    /// Appends `events`, which occurred at `at`, after everything before.
    pub fn push(&mut self, at: DateTime<Utc>, events: Vec<NewEvent>) -> AppResult<()> {
        self.append(at, events.into_iter().map(|e| (e, None)).collect())
    }

    /// Appends each of `notices` after everything before, unless an event
    /// with its natural key is in `stored` ([`stored_keys`]) or was pushed
    /// before: `events::emit_all_once` in the batch's outbox.
    pub fn push_once(
        &mut self,
        at: DateTime<Utc>,
        notices: Vec<(NewEvent, String)>,
        stored: &HashSet<String>,
    ) -> AppResult<()> {
        let fresh = notices
            .into_iter()
            .filter(|(_, key)| !stored.contains(key) && self.keys.insert(key.clone()))
            .map(|(event, key)| (event, Some(key)))
            .collect();
        self.append(at, fresh)
    }

    fn append(
        &mut self,
        at: DateTime<Utc>,
        events: Vec<(NewEvent, Option<String>)>,
    ) -> AppResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        let at = at.trunc_subsecs(0);
        let ids = next_ids(at, events.len())?;
        let occurred_at = stamp(self.backend, at);
        self.waiting.reserve(events.len());
        for (id, (event, natural_key)) in ids.into_iter().zip(events) {
            self.waiting.push(EventRow {
                id,
                event_type: event.event_type.name(),
                customer_id: event.customer_id,
                occurred_at: occurred_at.clone(),
                data: json_text(&event.data)?,
                natural_key,
            });
        }
        Ok(())
    }

    /// Inserts the waiting events before `db`'s transaction appends other
    /// rows (through the services: position NULL, numbered with these).
    pub async fn before_other_rows(&mut self, db: &impl ConnectionTrait) -> AppResult<()> {
        let sql = match self.backend {
            DatabaseBackend::Postgres => insert_waiting_postgres(),
            _ => INSERT_SQLITE.to_owned(),
        };
        self.insert(db, &sql).await?;
        self.unnumbered = true;
        Ok(())
    }

    /// Numbers the transaction's events and inserts the waiting ones, as
    /// its last statements before the commit: see the module documentation.
    pub async fn finish(mut self, db: &impl ConnectionTrait) -> AppResult<()> {
        if self.backend != DatabaseBackend::Postgres {
            return self.insert(db, INSERT_SQLITE).await;
        }
        if self.waiting.is_empty() && !self.unnumbered {
            return Ok(());
        }
        db.execute_unprepared("SELECT pg_advisory_xact_lock('events'::regclass::oid::bigint)")
            .await?;
        if self.unnumbered {
            db.execute_unprepared(NUMBER_POSTGRES).await?;
        }
        self.insert(db, &insert_numbered_postgres()).await
    }

    async fn insert(&mut self, db: &impl ConnectionTrait, sql: &str) -> AppResult<()> {
        for chunk in self.waiting.chunks(ROWS_PER_STATEMENT) {
            let json = serde_json::to_string(chunk)
                .map_err(|e| AppError::Internal(anyhow::anyhow!("event rows: {e}")))?;
            db.execute_raw(Statement::from_sql_and_values(
                self.backend,
                sql,
                [json.into()],
            ))
            .await?;
        }
        self.waiting.clear();
        Ok(())
    }
}

/// Which of `keys` stored events carry, as `db`'s transaction sees them:
/// one statement per two thousand keys.
pub(super) async fn stored_keys(
    db: &impl ConnectionTrait,
    keys: &[&str],
) -> AppResult<HashSet<String>> {
    let mut stored = HashSet::new();
    for chunk in keys.chunks(ROWS_PER_STATEMENT) {
        let found: Vec<Option<String>> = event::Entity::find()
            .select_only()
            .column(event::Column::NaturalKey)
            .filter(event::Column::NaturalKey.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(db)
            .await?;
        stored.extend(found.into_iter().flatten());
    }
    Ok(stored)
}
