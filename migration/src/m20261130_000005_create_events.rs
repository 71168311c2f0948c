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
                    .to_owned(),
            )
            .await?;
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
            .await
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
}
