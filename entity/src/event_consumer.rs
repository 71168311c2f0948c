use sea_orm::entity::prelude::*;

/// How far a consumer of the outbox has got: the last `events.position` it
/// has handed on. Webhook endpoints keep theirs on their own row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "event_consumers")]
pub struct Model {
    /// The consumer, e.g. `nats:C360_EVENTS`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    pub position: i64,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
