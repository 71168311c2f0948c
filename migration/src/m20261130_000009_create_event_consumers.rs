//! `event_consumers`: how far each consumer of the outbox that is not a
//! webhook endpoint has got (the NATS JetStream publisher, by name), so each
//! follows the events in `position` order on its own and resumes where it
//! stopped.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum EventConsumers {
    Table,
    Name,
    Position,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(EventConsumers::Table)
                    .col(
                        ColumnDef::new(EventConsumers::Name)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(EventConsumers::Position)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(EventConsumers::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(EventConsumers::Table).to_owned())
            .await
    }
}
