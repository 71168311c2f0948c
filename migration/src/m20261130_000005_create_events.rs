//! `events`: the transactional outbox. Every write appends the events it
//! causes in its own transaction; consumers (webhooks, a stream) follow
//! `seq` with cursors of their own.
//!
//! - `seq`: the outbox order, assigned by the store on insert.
//! - `id`: the event's public id, `evt_` + a ULID (26 characters).
//! - `customer_id`: the customer the event is about, if any. No foreign key:
//!   the outbox is an append-only log of what happened, so it keeps the
//!   events of a customer that was merged away (and holds no personal data
//!   that erasure would have to redact).
//! - `data`: the event's payload as JSON (`json` on PostgreSQL keeps the
//!   text as written; text on SQLite).
//! - `natural_key`: set by events a scheduler emits once however often it
//!   runs (`points expiring on <date>`); unique, NULL for the rest.
//! - `position`: the commit order, which consumers follow. `seq` is handed
//!   out when a row is inserted, so on PostgreSQL a transaction that inserts
//!   early and commits late makes its event visible after higher `seq`s: a
//!   consumer that had moved past them would skip it. `position` is set as
//!   the transaction commits, under a lock held to the end of the commit,
//!   by a deferred constraint trigger: once a position is visible, every
//!   lower one is. On SQLite one writer at a time holds the database from
//!   its first write to its commit, so insert order is commit order and a
//!   trigger copies `seq`. Since `m20261201_000017_bulk_event_positions`
//!   both triggers fire only for rows inserted without a position: a bulk
//!   import numbers its own under the same rules.

use sea_orm_migration::sea_orm::DatabaseBackend as DbBackend;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `evt_` and a ULID.
const ID_LEN: u32 = 30;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Events::Table)
                    .col(big_pk_auto(Events::Seq))
                    .col(string_len_uniq(Events::Id, ID_LEN))
                    .col(string_len(Events::EventType, 64))
                    .col(big_integer_null(Events::CustomerId))
                    .col(timestamp_with_time_zone(Events::OccurredAt))
                    .col(json(Events::Data))
                    .col(string_len_null(Events::NaturalKey, 200))
                    .col(big_integer_null(Events::Position))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_events_position")
                    .table(Events::Table)
                    .col(Events::Position)
                    .unique()
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                for sql in [
                    "CREATE SEQUENCE events_position_seq",
                    // The advisory lock serialises commits that carry
                    // events, from this trigger to the end of the commit
                    // (transaction-scoped locks are released after the
                    // commit is visible); the key is this table's oid.
                    "CREATE FUNCTION events_assign_position() RETURNS trigger LANGUAGE plpgsql AS $$
                     BEGIN
                         PERFORM pg_advisory_xact_lock('events'::regclass::oid::bigint);
                         UPDATE events SET position = nextval('events_position_seq') WHERE seq = NEW.seq;
                         RETURN NULL;
                     END $$",
                    "CREATE CONSTRAINT TRIGGER events_position AFTER INSERT ON events
                     DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION events_assign_position()",
                ] {
                    db.execute_unprepared(sql).await?;
                }
            }
            _ => {
                db.execute_unprepared(
                    "CREATE TRIGGER events_position AFTER INSERT ON events FOR EACH ROW
                     BEGIN UPDATE events SET position = NEW.seq WHERE seq = NEW.seq; END",
                )
                .await?;
            }
        }
        // NULL keys never collide (both stores treat NULLs as distinct), so
        // only the events that set one are held to it.
        manager
            .create_index(
                Index::create()
                    .name("uq_events_natural_key")
                    .table(Events::Table)
                    .col(Events::NaturalKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // One customer's events in outbox order, and one type's (consumers
        // subscribe by type): each a range of its index, never a scan of
        // the whole log.
        for (name, first) in [
            ("idx_events_customer_id_seq", Events::CustomerId),
            ("idx_events_event_type_seq", Events::EventType),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Events::Table)
                        .col(first)
                        .col(Events::Seq)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Events::Table).to_owned())
            .await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            let db = manager.get_connection();
            db.execute_unprepared("DROP FUNCTION IF EXISTS events_assign_position()")
                .await?;
            db.execute_unprepared("DROP SEQUENCE IF EXISTS events_position_seq")
                .await?;
        }
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Events {
    Table,
    Seq,
    Id,
    EventType,
    CustomerId,
    OccurredAt,
    Data,
    NaturalKey,
    Position,
}
