use sea_orm::entity::prelude::*;

/// Who did what to which customer, and when: every mutation and every partner read of PII.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Token subject of the caller.
    pub principal: String,
    pub role: String,
    /// Dotted verb, e.g. `customer.erase`, `pii.read`.
    pub action: String,
    /// Global id of the object acted on.
    pub target: String,
    pub customer_id: Option<i64>,
    pub at: DateTimeUtc,
    pub details: Json,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
