use sea_orm::entity::prelude::*;

/// A URL that receives the outbox's events, signed with its secret.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoints")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The creator's role (`STAFF`, `PARTNER`).
    pub owner_role: String,
    /// The creator's token subject; it manages the endpoint.
    pub owner_subject: String,
    /// The creator's scopes at creation, space-separated: what it may receive.
    pub owner_scopes: String,
    pub url: String,
    pub description: String,
    /// Subscribed event types (wire names); empty means all.
    pub event_types: Json,
    /// `whsec_` + base64 of the key.
    pub secret: String,
    /// The secret before the last rotation, signing too until it expires.
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<DateTimeUtc>,
    pub disabled_at: Option<DateTimeUtc>,
    pub disabled_reason: Option<String>,
    /// Start of the current run of failed attempts; NULL while healthy.
    pub failing_since: Option<DateTimeUtc>,
    /// The outbox position up to which deliveries were created.
    pub position: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::webhook_delivery::Entity")]
    Deliveries,
}

impl Related<super::webhook_delivery::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Deliveries.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
