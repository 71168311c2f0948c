//! Natural keys for imported tickets and NPS answers, and the moment each
//! loyalty account next has something to settle.
//!
//! - `tickets.external_ref`, `nps_responses.external_ref`: the id a helpdesk
//!   or survey tool gave the record, so `c360 import` can tell a re-imported
//!   record from a new one. Unique where set; SQLite cannot add a UNIQUE
//!   column, so the uniqueness is an index.
//! - `loyalty_accounts.settle_due_at`: the earliest instant a PENDING row of
//!   the account becomes AVAILABLE or one of its credits expires. Reads
//!   settle an account only when it is due, so a balance is never stale and
//!   an ordinary read writes nothing. `expired_through` is the instant up to
//!   which the account's credits were expired, so credits that already
//!   expired are not due again.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, index) in [
            (Tickets::Table.into_iden(), "idx_tickets_external_ref"),
            (
                NpsResponses::Table.into_iden(),
                "idx_nps_responses_external_ref",
            ),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table.clone())
                        .add_column(string_len_null(ExternalRef::ExternalRef, 200))
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name(index)
                        .table(table)
                        .col(ExternalRef::ExternalRef)
                        .unique()
                        .to_owned(),
                )
                .await?;
        }
        for column in [
            LoyaltyAccounts::SettleDueAt,
            LoyaltyAccounts::ExpiredThrough,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(LoyaltyAccounts::Table)
                        .add_column(timestamp_with_time_zone_null(column))
                        .to_owned(),
                )
                .await?;
        }
        // The periodic sweep finds due accounts through this index.
        manager
            .create_index(
                Index::create()
                    .name("idx_loyalty_accounts_settle_due_at")
                    .table(LoyaltyAccounts::Table)
                    .col(LoyaltyAccounts::SettleDueAt)
                    .to_owned(),
            )
            .await?;
        // Accounts holding PENDING rows are due when the first of them is.
        let backfill = Query::update()
            .table(LoyaltyAccounts::Table)
            .value(
                LoyaltyAccounts::SettleDueAt,
                SimpleExpr::SubQuery(
                    None,
                    Box::new(
                        Query::select()
                            .expr(
                                Expr::col((Alias::new("lt"), LoyaltyTransactions::AvailableAt))
                                    .min(),
                            )
                            .from_as(LoyaltyTransactions::Table, Alias::new("lt"))
                            .and_where(
                                Expr::col((Alias::new("lt"), LoyaltyTransactions::CustomerId))
                                    .equals((LoyaltyAccounts::Table, LoyaltyAccounts::CustomerId)),
                            )
                            .and_where(
                                Expr::col((Alias::new("lt"), LoyaltyTransactions::State))
                                    .eq("PENDING"),
                            )
                            .to_owned()
                            .into_sub_query_statement(),
                    ),
                ),
            )
            .to_owned();
        manager.exec_stmt(backfill).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_loyalty_accounts_settle_due_at")
                    .table(LoyaltyAccounts::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            LoyaltyAccounts::SettleDueAt,
            LoyaltyAccounts::ExpiredThrough,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(LoyaltyAccounts::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for (table, index) in [
            (Tickets::Table.into_iden(), "idx_tickets_external_ref"),
            (
                NpsResponses::Table.into_iden(),
                "idx_nps_responses_external_ref",
            ),
        ] {
            manager
                .drop_index(Index::drop().name(index).table(table.clone()).to_owned())
                .await?;
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .drop_column(ExternalRef::ExternalRef)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden)]
enum ExternalRef {
    ExternalRef,
}

#[derive(DeriveIden)]
enum Tickets {
    Table,
}

#[derive(DeriveIden)]
enum NpsResponses {
    Table,
}

#[derive(DeriveIden)]
enum LoyaltyAccounts {
    Table,
    CustomerId,
    SettleDueAt,
    ExpiredThrough,
}

#[derive(DeriveIden)]
enum LoyaltyTransactions {
    Table,
    CustomerId,
    State,
    AvailableAt,
}
