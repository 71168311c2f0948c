use sea_orm::entity::prelude::*;

/// One ordered pair of skus bought by the same customers, replaced as a
/// whole by each insights refresh (see `c360::service::recommendations`).
/// Both orders of a pair are stored, so a customer's skus find their
/// neighbours through the key.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "product_affinities")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub sku_a: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub sku_b: String,
    /// The product name of `sku_b` on its lines (the greatest, should they differ).
    pub name_b: String,
    /// Customers who bought both skus.
    pub customers: i64,
    /// Jaccard similarity over customers, 0 to 1: `customers / (buyers(a)
    /// + buyers(b) - customers)`.
    pub similarity: f64,
    pub refreshed_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
