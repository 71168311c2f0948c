//! Webhooks: endpoints that subscribe to the outbox, and the deliveries of
//! its events to them.
//!
//! - `webhook_endpoints`: one per (owner subject, url). The owner's role and
//!   scopes are kept as they were at creation: a partner receives only the
//!   event types its scopes granted then. `secret` signs deliveries;
//!   during a rotation `previous_secret` signs too, until
//!   `previous_secret_expires_at`. `position` is the endpoint's cursor in
//!   the outbox (`events.position`): the dispatcher inserts a delivery for
//!   every event after it and moves it on in the same transaction.
//!   `failing_since` is when the current run of failures began (NULL while
//!   deliveries succeed); `disabled_at`/`disabled_reason` say why an
//!   endpoint stopped (410 Gone, failing too long, its owner).
//! - `webhook_deliveries`: one per (endpoint, event), PENDING until it is
//!   DELIVERED or FAILED. `lease_until` marks a delivery a sender has
//!   claimed (so two senders never post it at once); a lease that runs out
//!   (a crashed sender) makes it claimable again. `last_*` and
//!   `response_excerpt` (the first KiB) describe the latest attempt.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookEndpoints::Table)
                    .col(big_pk_auto(WebhookEndpoints::Id))
                    .col(string_len(WebhookEndpoints::OwnerRole, 16))
                    .col(string_len(WebhookEndpoints::OwnerSubject, 200))
                    .col(text(WebhookEndpoints::OwnerScopes))
                    .col(string_len(WebhookEndpoints::Url, 2048))
                    .col(string_len(WebhookEndpoints::Description, 500))
                    .col(json(WebhookEndpoints::EventTypes))
                    .col(string_len(WebhookEndpoints::Secret, 100))
                    .col(string_len_null(WebhookEndpoints::PreviousSecret, 100))
                    .col(timestamp_with_time_zone_null(
                        WebhookEndpoints::PreviousSecretExpiresAt,
                    ))
                    .col(timestamp_with_time_zone_null(WebhookEndpoints::DisabledAt))
                    .col(string_len_null(WebhookEndpoints::DisabledReason, 500))
                    .col(timestamp_with_time_zone_null(
                        WebhookEndpoints::FailingSince,
                    ))
                    .col(big_integer(WebhookEndpoints::Position).default(0))
                    .col(timestamp_with_time_zone(WebhookEndpoints::CreatedAt))
                    .col(timestamp_with_time_zone(WebhookEndpoints::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_webhook_endpoints_owner_url")
                    .table(WebhookEndpoints::Table)
                    .col(WebhookEndpoints::OwnerSubject)
                    .col(WebhookEndpoints::Url)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .col(big_pk_auto(WebhookDeliveries::Id))
                    .col(big_integer(WebhookDeliveries::EndpointId))
                    .col(string_len(WebhookDeliveries::EventId, 30))
                    .col(big_integer(WebhookDeliveries::EventPosition))
                    .col(big_integer_null(WebhookDeliveries::CustomerId))
                    .col(string_len(WebhookDeliveries::Status, 16))
                    .col(integer(WebhookDeliveries::Attempts).default(0))
                    .col(timestamp_with_time_zone(WebhookDeliveries::NextAttemptAt))
                    .col(timestamp_with_time_zone_null(WebhookDeliveries::LeaseUntil))
                    .col(integer_null(WebhookDeliveries::LastStatus))
                    .col(string_len_null(WebhookDeliveries::LastError, 500))
                    .col(integer_null(WebhookDeliveries::LastLatencyMs))
                    .col(text_null(WebhookDeliveries::ResponseExcerpt))
                    .col(timestamp_with_time_zone(WebhookDeliveries::CreatedAt))
                    .col(timestamp_with_time_zone_null(
                        WebhookDeliveries::DeliveredAt,
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhook_deliveries_endpoint")
                            .from(WebhookDeliveries::Table, WebhookDeliveries::EndpointId)
                            .to(WebhookEndpoints::Table, WebhookEndpoints::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // One delivery per event and endpoint: a second dispatcher that
        // raced the first fails here and rolls back instead of doubling it.
        // It also serves the per-endpoint ordering check and replay
        // (`endpoint_id` first).
        manager
            .create_index(
                Index::create()
                    .name("uq_webhook_deliveries_endpoint_event")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::EndpointId)
                    .col(WebhookDeliveries::EventId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            // The sender's scan: due PENDING deliveries.
            (
                "idx_webhook_deliveries_status_next",
                vec![WebhookDeliveries::Status, WebhookDeliveries::NextAttemptAt],
            ),
            // The delivery log of one endpoint, newest first, and its
            // pending count.
            (
                "idx_webhook_deliveries_endpoint_id",
                vec![
                    WebhookDeliveries::EndpointId,
                    WebhookDeliveries::Status,
                    WebhookDeliveries::Id,
                ],
            ),
            // "Is an earlier delivery of this customer still pending?"
            (
                "idx_webhook_deliveries_endpoint_customer",
                vec![
                    WebhookDeliveries::EndpointId,
                    WebhookDeliveries::CustomerId,
                    WebhookDeliveries::EventPosition,
                ],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(WebhookDeliveries::Table);
            for col in cols {
                index.col(col);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WebhookDeliveries::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(WebhookEndpoints::Table).to_owned())
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum WebhookEndpoints {
    Table,
    Id,
    OwnerRole,
    OwnerSubject,
    OwnerScopes,
    Url,
    Description,
    EventTypes,
    Secret,
    PreviousSecret,
    PreviousSecretExpiresAt,
    DisabledAt,
    DisabledReason,
    FailingSince,
    Position,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum WebhookDeliveries {
    Table,
    Id,
    EndpointId,
    EventId,
    EventPosition,
    CustomerId,
    Status,
    Attempts,
    NextAttemptAt,
    LeaseUntil,
    LastStatus,
    LastError,
    LastLatencyMs,
    ResponseExcerpt,
    CreatedAt,
    DeliveredAt,
}
