use sea_orm::entity::prelude::*;

/// A saved customer segment: a query in the segment language.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "segments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub name: String,
    pub description: Option<String>,
    pub query: String,
    /// Token subject of the author.
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Whether its membership is kept in `segment_members` and re-evaluated
    /// by the events scheduler.
    pub tracked: bool,
    /// When the kept membership was last evaluated; NULL while untracked.
    pub evaluated_at: Option<DateTimeUtc>,
    /// Counts the evaluations that changed the kept membership; part of the
    /// natural key of the `segment.entered`/`segment.exited` they emitted.
    pub membership_version: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
