//! An index for the year in review's spend standing: every buyer's net
//! spend of one year, in the base currency. The statement filters orders on
//! `currency` (equal), `placed_at` (a year's range) and `status` (not
//! CANCELLED), and sums `total - refunded` per `customer_id`; with all six
//! columns in the index it reads one range of it and never the table.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const NAME: &str = "idx_orders_currency_placed_at_spend";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(NAME)
                    .table(Alias::new("orders"))
                    .col(Alias::new("currency"))
                    .col(Alias::new("placed_at"))
                    .col(Alias::new("status"))
                    .col(Alias::new("customer_id"))
                    .col(Alias::new("total"))
                    .col(Alias::new("refunded"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(NAME)
                    .table(Alias::new("orders"))
                    .to_owned(),
            )
            .await
    }
}
