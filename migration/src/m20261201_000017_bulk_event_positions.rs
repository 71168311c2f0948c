//! `events.position` for writers that number their own rows: the position
//! triggers of `m20261130_000005_create_events` fire only for rows inserted
//! with `position` NULL, which every write but a bulk one does.
//!
//! A bulk writer (`c360 import orders`, a batch at a time) numbers a whole
//! batch's events with a few statements instead of one trigger call per
//! row, and keeps the guarantee the triggers give:
//! - on PostgreSQL it takes the advisory lock the trigger takes (held to
//!   the end of the commit) as its transaction's last statements begin and
//!   inserts its events with `nextval('events_position_seq')`. Events it
//!   had to insert earlier (before rows the services append in the same
//!   transaction) hold `-seq`, unique and never a real position, until
//!   then; under the lock, first, every row of the transaction still
//!   negative or NULL is numbered in `seq` order. The trigger function now
//!   leaves a row numbered that way alone, so a row inserted through an
//!   ordinary write (trigger queued) keeps the position the batch gave it;
//! - on SQLite, where one writer holds the database from its first write to
//!   its commit (insert order is commit order), it inserts `position = seq`
//!   itself, as the trigger would have.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend as DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let statements: &[&str] = match manager.get_database_backend() {
            DbBackend::Postgres => &[
                "CREATE OR REPLACE FUNCTION events_assign_position() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN
                     PERFORM pg_advisory_xact_lock('events'::regclass::oid::bigint);
                     UPDATE events SET position = nextval('events_position_seq')
                      WHERE seq = NEW.seq AND position IS NULL;
                     RETURN NULL;
                 END $$",
                "DROP TRIGGER events_position ON events",
                "CREATE CONSTRAINT TRIGGER events_position AFTER INSERT ON events
                 DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.position IS NULL)
                 EXECUTE FUNCTION events_assign_position()",
            ],
            _ => &[
                "DROP TRIGGER events_position",
                "CREATE TRIGGER events_position AFTER INSERT ON events FOR EACH ROW
                 WHEN NEW.position IS NULL
                 BEGIN UPDATE events SET position = NEW.seq WHERE seq = NEW.seq; END",
            ],
        };
        let db = manager.get_connection();
        for sql in statements {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let statements: &[&str] = match manager.get_database_backend() {
            DbBackend::Postgres => &[
                "CREATE OR REPLACE FUNCTION events_assign_position() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN
                     PERFORM pg_advisory_xact_lock('events'::regclass::oid::bigint);
                     UPDATE events SET position = nextval('events_position_seq') WHERE seq = NEW.seq;
                     RETURN NULL;
                 END $$",
                "DROP TRIGGER events_position ON events",
                "CREATE CONSTRAINT TRIGGER events_position AFTER INSERT ON events
                 DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION events_assign_position()",
            ],
            _ => &[
                "DROP TRIGGER events_position",
                "CREATE TRIGGER events_position AFTER INSERT ON events FOR EACH ROW
                 BEGIN UPDATE events SET position = NEW.seq WHERE seq = NEW.seq; END",
            ],
        };
        let db = manager.get_connection();
        for sql in statements {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
