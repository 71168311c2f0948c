use sea_orm::entity::prelude::*;

/// One event to one endpoint: PENDING until DELIVERED or FAILED.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub endpoint_id: i64,
    /// The event's id, sent as `webhook-id` in every attempt.
    pub event_id: String,
    /// The event's outbox position: the order deliveries go out in.
    pub event_position: i64,
    pub customer_id: Option<i64>,
    /// `PENDING`, `DELIVERED` or `FAILED`.
    pub status: String,
    pub attempts: i32,
    /// When it is due (next attempt), by the app's clock.
    pub next_attempt_at: DateTimeUtc,
    /// Claimed by a sender until then.
    pub lease_until: Option<DateTimeUtc>,
    /// HTTP status of the latest attempt; NULL when none was received.
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub last_latency_ms: Option<i32>,
    /// The first KiB of the latest response body.
    pub response_excerpt: Option<String>,
    pub created_at: DateTimeUtc,
    pub delivered_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::webhook_endpoint::Entity",
        from = "Column::EndpointId",
        to = "super::webhook_endpoint::Column::Id",
        on_delete = "Cascade"
    )]
    Endpoint,
}

impl Related<super::webhook_endpoint::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Endpoint.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
