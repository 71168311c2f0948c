use sea_orm::entity::prelude::*;

/// The transactional outbox: what happened, appended by the write that
/// caused it, in its transaction. Consumers follow `position`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    /// The outbox order, assigned on insert.
    #[sea_orm(primary_key)]
    pub seq: i64,
    /// `evt_` + a ULID: the event's public id.
    #[sea_orm(unique)]
    pub id: String,
    /// The catalogue's wire name, e.g. `order.placed`.
    pub event_type: String,
    /// The customer the event is about; kept when the customer is merged away.
    pub customer_id: Option<i64>,
    /// The write's time (its clock's, never the wall clock).
    pub occurred_at: DateTimeUtc,
    /// The payload, shaped like the API's types.
    pub data: Json,
    /// Set by events emitted once per key however often their emitter runs.
    #[sea_orm(unique)]
    pub natural_key: Option<String>,
    /// The commit order, set as the writing transaction commits (see the
    /// migration): consumers follow it and never skip a late commit.
    #[sea_orm(unique)]
    pub position: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
