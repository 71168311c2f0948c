//! `uq_events_natural_key` over the events that carry a key alone.
//!
//! Only notices a scheduler or a review emits once (`events::emit_once`)
//! set `natural_key`; every other event leaves it NULL, and a full unique
//! index still wrote an entry for each of those NULLs: one index insert in
//! six for every event, for nothing, since NULL keys never collide. The
//! index keeps what it enforces and serves the same reads (`natural_key =`
//! and `IN` imply `IS NOT NULL` on both stores). An insert that ignores a
//! conflict on it must name the index's predicate (`ON CONFLICT
//! (natural_key) WHERE natural_key IS NOT NULL`), as `events::outbox` does.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const NAME: &str = "uq_events_natural_key";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        replace(manager, true).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        replace(manager, false).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

/// Drops the index and creates it again, over the keyed events alone when
/// `partial`.
async fn replace(manager: &SchemaManager<'_>, partial: bool) -> Result<(), DbErr> {
    manager
        .drop_index(
            Index::drop()
                .name(NAME)
                .table(Alias::new("events"))
                .to_owned(),
        )
        .await?;
    let mut index = Index::create();
    index
        .name(NAME)
        .table(Alias::new("events"))
        .col(Alias::new("natural_key"))
        .unique();
    if partial {
        index.and_where(Expr::col(Alias::new("natural_key")).is_not_null());
    }
    manager.create_index(index.to_owned()).await
}
