//! Tier reviews: what the tier policy says of each loyalty account, kept on
//! the account so reads, segments and the sweep need no order history.
//!
//! - `tier_review_at`: when the tier is next checked against trailing
//!   spend; `tier_expires_at`: when it ends if nothing more is spent;
//!   `tier_notice_at`: the start of the downgrade notice before a review
//!   the account would lose its tier at; `tier_spend_to_keep`: the spend
//!   (minor units) still needed for that review to keep it.
//! - `tier_due_at`: the next instant any of these changes without a write
//!   (the notice starting, or the review). The sweep and reads find due
//!   accounts through its index, as `settle_due_at` does for points.
//!
//! Accounts above BRONZE are due at once (their `created_at`, an instant in
//! the past written in the store's own timestamp format), so the first
//! sweep, or the first read of each, applies the policy to tiers written
//! before it existed. The columns segments filter on are indexed.
//!
//! `applied_settings` remembers, by name, the configuration the stored
//! figures were computed under (the tier rules' key), so a process started
//! with other rules can tell and have every tier reviewed again.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXED: [(LoyaltyAccounts, &str); 4] = [
    (
        LoyaltyAccounts::TierDueAt,
        "idx_loyalty_accounts_tier_due_at",
    ),
    (
        LoyaltyAccounts::TierReviewAt,
        "idx_loyalty_accounts_tier_review_at",
    ),
    (
        LoyaltyAccounts::TierNoticeAt,
        "idx_loyalty_accounts_tier_notice_at",
    ),
    (
        LoyaltyAccounts::TierSpendToKeep,
        "idx_loyalty_accounts_tier_spend_to_keep",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            LoyaltyAccounts::TierReviewAt,
            LoyaltyAccounts::TierExpiresAt,
            LoyaltyAccounts::TierNoticeAt,
            LoyaltyAccounts::TierDueAt,
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
        manager
            .alter_table(
                Table::alter()
                    .table(LoyaltyAccounts::Table)
                    .add_column(big_integer(LoyaltyAccounts::TierSpendToKeep).default(0))
                    .to_owned(),
            )
            .await?;
        for (column, name) in INDEXED {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(LoyaltyAccounts::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        let due = Query::update()
            .table(LoyaltyAccounts::Table)
            .value(
                LoyaltyAccounts::TierDueAt,
                Expr::col(LoyaltyAccounts::CreatedAt),
            )
            .and_where(Expr::col(LoyaltyAccounts::Tier).ne("BRONZE"))
            .to_owned();
        manager.exec_stmt(due).await?;
        manager
            .create_table(
                Table::create()
                    .table(AppliedSettings::Table)
                    .col(string_len(AppliedSettings::Name, 100).primary_key())
                    .col(text(AppliedSettings::Value))
                    .col(timestamp_with_time_zone(AppliedSettings::AppliedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AppliedSettings::Table).to_owned())
            .await?;
        for (_, name) in INDEXED {
            manager
                .drop_index(
                    Index::drop()
                        .name(name)
                        .table(LoyaltyAccounts::Table)
                        .to_owned(),
                )
                .await?;
        }
        for column in [
            LoyaltyAccounts::TierReviewAt,
            LoyaltyAccounts::TierExpiresAt,
            LoyaltyAccounts::TierNoticeAt,
            LoyaltyAccounts::TierDueAt,
            LoyaltyAccounts::TierSpendToKeep,
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
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum LoyaltyAccounts {
    Table,
    Tier,
    CreatedAt,
    TierReviewAt,
    TierExpiresAt,
    TierNoticeAt,
    TierDueAt,
    TierSpendToKeep,
}

#[derive(DeriveIden)]
enum AppliedSettings {
    Table,
    Name,
    Value,
    AppliedAt,
}
