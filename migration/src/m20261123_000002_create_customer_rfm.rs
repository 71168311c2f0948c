//! `customer_rfm`: RFM scores and group per customer who has ordered.
//!
//! A table of its own rather than columns of `customer_metrics`, which every
//! write deletes and re-inserts per customer: the scores are quintiles over
//! all customers, so they are recomputed in bulk on a schedule instead.

use sea_orm_migration::{prelude::*, schema::*};

/// Length of the group column, as the entity declares it.
const GROUP_LEN: u32 = 24;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CustomerRfm::Table)
                    .col(big_integer(CustomerRfm::CustomerId).primary_key())
                    .col(small_integer(CustomerRfm::RecencyScore))
                    .col(small_integer(CustomerRfm::FrequencyScore))
                    .col(small_integer(CustomerRfm::MonetaryScore))
                    .col(string_len(CustomerRfm::RfmGroup, GROUP_LEN))
                    .col(timestamp_with_time_zone(CustomerRfm::RefreshedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(CustomerRfm::Table, CustomerRfm::CustomerId)
                            .to(Customers::Table, Customers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Segments filter by group (`rfm_group = 'AT_RISK'`); the key ends
        // the index so a group's members come out in id order.
        manager
            .create_index(
                Index::create()
                    .name("idx_customer_rfm_rfm_group_customer_id")
                    .table(CustomerRfm::Table)
                    .col(CustomerRfm::RfmGroup)
                    .col(CustomerRfm::CustomerId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CustomerRfm::Table).to_owned())
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden)]
enum CustomerRfm {
    Table,
    CustomerId,
    RecencyScore,
    FrequencyScore,
    MonetaryScore,
    RfmGroup,
    RefreshedAt,
}

#[derive(DeriveIden)]
enum Customers {
    Table,
    Id,
}
