//! An index for product review summaries: a sku's published reviews, newest
//! first. The figures group one sku's PUBLISHED rows and the latest reviews
//! rank them by `created_at, id`, so both read a range of this index instead
//! of every review.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const NAME: &str = "idx_reviews_sku_status_created";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(NAME)
                    .table(Alias::new("reviews"))
                    .col(Alias::new("product_sku"))
                    .col(Alias::new("status"))
                    .col(Alias::new("created_at"))
                    .col(Alias::new("id"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(NAME)
                    .table(Alias::new("reviews"))
                    .to_owned(),
            )
            .await
    }
}
