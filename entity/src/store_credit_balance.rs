use sea_orm::entity::prelude::*;

/// A customer's store credit in one currency: a cache of
/// `store_credit_entries`, written in the same transaction as every entry.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "store_credit_balances")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub customer_id: i64,
    /// ISO 4217.
    #[sea_orm(primary_key, auto_increment = false)]
    pub currency: String,
    /// Sum of the entries' amounts, never below zero.
    pub balance: i64,
    /// The soonest expiry of unspent credit; `None` when none expires.
    pub next_expiry_at: Option<DateTimeUtc>,
    /// What is unspent of the credit expiring at `next_expiry_at`.
    pub next_expiry_amount: i64,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
