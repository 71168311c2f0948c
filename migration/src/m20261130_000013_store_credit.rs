//! Store credit: money a customer holds with the store, per currency, beside
//! the points ledger.
//!
//! - `store_credit_entries`: the append-only ledger. `amount` is signed minor
//!   units of `currency` (ISSUE, REFUND_TO_CREDIT, REFERRAL_REWARD add; REDEEM
//!   and EXPIRE take away), `balance_after` the customer's balance in that
//!   currency once the entry was written, `expires_at` when what is unspent
//!   of a credit is written off. `(customer_id, idempotency_key)` is unique,
//!   so a retried redemption, issue or reward is one row.
//! - `store_credit_balances`: a cache of the ledger per `(customer_id,
//!   currency)`, written in the same transaction as every entry: the balance,
//!   and the next expiry of unspent credit with its amount. Redemptions take
//!   from `balance` with a conditional update, so it never goes below zero.
//!
//! Indexes: the history (`customer_id, created_at, id`), the scheduler's
//! expiry notices (`expires_at`) and write-offs (`next_expiry_at`), and the
//! order a refund credit came from (nulled when the order goes).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum StoreCreditEntries {
    Table,
    Id,
    CustomerId,
    Currency,
    Kind,
    Amount,
    BalanceAfter,
    ExpiresAt,
    OrderId,
    IdempotencyKey,
    Reason,
    CreatedAt,
}

#[derive(Clone, Copy, DeriveIden)]
enum StoreCreditBalances {
    Table,
    CustomerId,
    Currency,
    Balance,
    NextExpiryAt,
    NextExpiryAmount,
    UpdatedAt,
}

#[derive(Clone, Copy, DeriveIden)]
enum Customers {
    Table,
    Id,
}

#[derive(Clone, Copy, DeriveIden)]
enum Orders {
    Table,
    Id,
}

/// Length of the kind column, as `c360_entity::enums` declares enum columns.
const ENUM_LEN: u32 = 24;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StoreCreditEntries::Table)
                    .col(big_pk_auto(StoreCreditEntries::Id))
                    .col(big_integer(StoreCreditEntries::CustomerId))
                    .col(string_len(StoreCreditEntries::Currency, 3))
                    .col(string_len(StoreCreditEntries::Kind, ENUM_LEN))
                    .col(big_integer(StoreCreditEntries::Amount))
                    .col(big_integer(StoreCreditEntries::BalanceAfter))
                    .col(timestamp_with_time_zone_null(StoreCreditEntries::ExpiresAt))
                    .col(big_integer_null(StoreCreditEntries::OrderId))
                    .col(string_null(StoreCreditEntries::IdempotencyKey))
                    .col(string_null(StoreCreditEntries::Reason))
                    .col(timestamp_with_time_zone(StoreCreditEntries::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_store_credit_entries_customer_id")
                            .from(StoreCreditEntries::Table, StoreCreditEntries::CustomerId)
                            .to(Customers::Table, Customers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    // Ledger rows are history: they stay when their order goes.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_store_credit_entries_order_id")
                            .from(StoreCreditEntries::Table, StoreCreditEntries::OrderId)
                            .to(Orders::Table, Orders::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(StoreCreditBalances::Table)
                    .col(big_integer(StoreCreditBalances::CustomerId))
                    .col(string_len(StoreCreditBalances::Currency, 3))
                    .col(big_integer(StoreCreditBalances::Balance))
                    .col(timestamp_with_time_zone_null(
                        StoreCreditBalances::NextExpiryAt,
                    ))
                    .col(big_integer(StoreCreditBalances::NextExpiryAmount).default(0))
                    .col(timestamp_with_time_zone(StoreCreditBalances::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(StoreCreditBalances::CustomerId)
                            .col(StoreCreditBalances::Currency),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_store_credit_balances_customer_id")
                            .from(StoreCreditBalances::Table, StoreCreditBalances::CustomerId)
                            .to(Customers::Table, Customers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        let indexes = [
            Index::create()
                .name("uq_store_credit_entries_customer_id_idempotency_key")
                .table(StoreCreditEntries::Table)
                .col(StoreCreditEntries::CustomerId)
                .col(StoreCreditEntries::IdempotencyKey)
                .unique()
                .to_owned(),
            Index::create()
                .name("idx_store_credit_entries_customer_id_created_at_id")
                .table(StoreCreditEntries::Table)
                .col(StoreCreditEntries::CustomerId)
                .col(StoreCreditEntries::CreatedAt)
                .col(StoreCreditEntries::Id)
                .to_owned(),
            Index::create()
                .name("idx_store_credit_entries_expires_at")
                .table(StoreCreditEntries::Table)
                .col(StoreCreditEntries::ExpiresAt)
                .to_owned(),
            Index::create()
                .name("idx_store_credit_entries_order_id")
                .table(StoreCreditEntries::Table)
                .col(StoreCreditEntries::OrderId)
                .to_owned(),
            Index::create()
                .name("idx_store_credit_balances_next_expiry_at")
                .table(StoreCreditBalances::Table)
                .col(StoreCreditBalances::NextExpiryAt)
                .to_owned(),
        ];
        for index in indexes {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(StoreCreditBalances::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(StoreCreditEntries::Table).to_owned())
            .await
    }
}
