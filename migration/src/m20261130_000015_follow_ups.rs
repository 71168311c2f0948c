//! Post-purchase follow-ups and the consents they are made under.
//!
//! - `customers` gains SMS and phone-call consent beside email marketing
//!   consent: `sms_consent_state` / `phone_consent_state` (the same states,
//!   `NOT_SUBSCRIBED` until asked) and the time each last changed.
//! - `follow_ups`: one row per order the scheduler has looked at once its
//!   follow-up delay passed (`order_id` is the key, so an order is looked
//!   at once however many passes run): DUE with the channels the customer
//!   consents to, SKIPPED when there are none, DONE once staff recorded
//!   the outcome (`outcome`, `score`, `comment`, `recorded_by`,
//!   `recorded_at`). `(state, due_at, order_id)` serves the list of due
//!   follow-ups, oldest first, in keyset order; `due_at` and `recorded_at`
//!   the period figures; `customer_id` merges and erasure.
//! - `orders(status, updated_at, id)`: a FULFILLED order's `updated_at` is
//!   its fulfilment (nothing changes a fulfilled order but a refund, which
//!   moves it on), so the scheduler finds the orders whose delay has passed
//!   as one range of this index.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const CONSENTS: [(Customers, Customers); 2] = [
    (Customers::SmsConsentState, Customers::SmsConsentUpdatedAt),
    (
        Customers::PhoneConsentState,
        Customers::PhoneConsentUpdatedAt,
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table one column at a time.
        for (state, at) in CONSENTS {
            manager
                .alter_table(
                    Table::alter()
                        .table(Customers::Table)
                        .add_column(string_len(state, 24).default("NOT_SUBSCRIBED"))
                        .to_owned(),
                )
                .await?;
            manager
                .alter_table(
                    Table::alter()
                        .table(Customers::Table)
                        .add_column(timestamp_with_time_zone_null(at))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(FollowUps::Table)
                    .col(big_integer(FollowUps::OrderId).primary_key())
                    .col(big_integer(FollowUps::CustomerId))
                    .col(timestamp_with_time_zone(FollowUps::FulfilledAt))
                    .col(timestamp_with_time_zone(FollowUps::DueAt))
                    .col(string_len(FollowUps::Channels, 64))
                    .col(string_len(FollowUps::State, 24))
                    .col(string_len_null(FollowUps::Outcome, 24))
                    .col(integer_null(FollowUps::Score))
                    .col(text_null(FollowUps::Comment))
                    .col(string_len_null(FollowUps::RecordedBy, 255))
                    .col(timestamp_with_time_zone_null(FollowUps::RecordedAt))
                    .col(timestamp_with_time_zone(FollowUps::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_follow_ups_order_id")
                            .from(FollowUps::Table, FollowUps::OrderId)
                            .to(Orders::Table, Orders::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_follow_ups_customer_id")
                            .from(FollowUps::Table, FollowUps::CustomerId)
                            .to(Customers::Table, Customers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, columns) in indexes() {
            let mut index = Index::create();
            index.name(name).table(FollowUps::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_orders_status_updated_at")
                    .table(Orders::Table)
                    .col(Orders::Status)
                    .col(Orders::UpdatedAt)
                    .col(Orders::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_orders_status_updated_at")
                    .table(Orders::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(FollowUps::Table).to_owned())
            .await?;
        for (state, at) in CONSENTS {
            for column in [state, at] {
                manager
                    .alter_table(
                        Table::alter()
                            .table(Customers::Table)
                            .drop_column(column)
                            .to_owned(),
                    )
                    .await?;
            }
        }
        Ok(())
    }
}

/// The indexes of `follow_ups`, each named `idx_follow_ups_<what>`.
fn indexes() -> [(&'static str, Vec<FollowUps>); 4] {
    [
        (
            "idx_follow_ups_state_due_at",
            vec![FollowUps::State, FollowUps::DueAt, FollowUps::OrderId],
        ),
        ("idx_follow_ups_due_at", vec![FollowUps::DueAt]),
        ("idx_follow_ups_recorded_at", vec![FollowUps::RecordedAt]),
        ("idx_follow_ups_customer_id", vec![FollowUps::CustomerId]),
    ]
}

#[derive(Clone, Copy, DeriveIden)]
enum Customers {
    Table,
    Id,
    SmsConsentState,
    SmsConsentUpdatedAt,
    PhoneConsentState,
    PhoneConsentUpdatedAt,
}

#[derive(Clone, Copy, DeriveIden)]
enum Orders {
    Table,
    Id,
    Status,
    UpdatedAt,
}

#[derive(Clone, Copy, DeriveIden)]
enum FollowUps {
    Table,
    OrderId,
    CustomerId,
    FulfilledAt,
    DueAt,
    Channels,
    State,
    Outcome,
    Score,
    Comment,
    RecordedBy,
    RecordedAt,
    CreatedAt,
}
