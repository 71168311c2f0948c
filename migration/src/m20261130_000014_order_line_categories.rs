//! Product categories on order lines, and what interests and
//! recommendations read (`service::recommendations`).
//!
//! - `order_lines.category`: the sender's product category of the line
//!   (`skincare`, `makeup`, ...), nullable: lines ingested before it existed,
//!   or sent without one, have none. Indexed `(category, customer_id)` for
//!   `purchased_category = '...'`, which looks for one category's buyers.
//! - `order_lines (customer_id, order_id)`: a customer's lines with their
//!   orders, the rows interests and recommendations start from.
//! - `product_affinities`: the item-to-item co-purchase table, replaced as a
//!   whole by each insights refresh: for every ordered pair of skus bought
//!   by at least one same customer, the name of `sku_b`, how many customers
//!   bought both and their similarity (Jaccard over customers). The key
//!   `(sku_a, sku_b)` is the index a customer's recommendations read
//!   through, from the skus they bought.
//! - `customer_interests`: each customer's highest-interest category as of
//!   the last refresh (the segment attribute `top_category`), a row only for
//!   customers with a categorised purchase, indexed by category.

use sea_orm_migration::{prelude::*, schema::*};

/// Length of a category and a sku, as the order ingest checks them.
const CATEGORY_LEN: u32 = 64;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(OrderLines::Table)
                    .add_column(string_len_null(OrderLines::Category, CATEGORY_LEN))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_order_lines_category_customer_id")
                    .table(OrderLines::Table)
                    .col(OrderLines::Category)
                    .col(OrderLines::CustomerId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_order_lines_customer_id_order_id")
                    .table(OrderLines::Table)
                    .col(OrderLines::CustomerId)
                    .col(OrderLines::OrderId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ProductAffinities::Table)
                    .col(string(ProductAffinities::SkuA))
                    .col(string(ProductAffinities::SkuB))
                    .col(string(ProductAffinities::NameB))
                    .col(big_integer(ProductAffinities::Customers))
                    .col(double(ProductAffinities::Similarity))
                    .col(timestamp_with_time_zone(ProductAffinities::RefreshedAt))
                    .primary_key(
                        Index::create()
                            .col(ProductAffinities::SkuA)
                            .col(ProductAffinities::SkuB),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CustomerInterests::Table)
                    .col(big_integer(CustomerInterests::CustomerId).primary_key())
                    .col(string_len(CustomerInterests::TopCategory, CATEGORY_LEN))
                    .col(timestamp_with_time_zone(CustomerInterests::RefreshedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_customer_interests_customer_id")
                            .from(CustomerInterests::Table, CustomerInterests::CustomerId)
                            .to(Customers::Table, Customers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_customer_interests_top_category")
                    .table(CustomerInterests::Table)
                    .col(CustomerInterests::TopCategory)
                    .col(CustomerInterests::CustomerId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CustomerInterests::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ProductAffinities::Table).to_owned())
            .await?;
        for name in [
            "idx_order_lines_customer_id_order_id",
            "idx_order_lines_category_customer_id",
        ] {
            manager
                .drop_index(Index::drop().name(name).table(OrderLines::Table).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(OrderLines::Table)
                    .drop_column(OrderLines::Category)
                    .to_owned(),
            )
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden)]
enum OrderLines {
    Table,
    OrderId,
    CustomerId,
    Category,
}

#[derive(DeriveIden)]
enum ProductAffinities {
    Table,
    SkuA,
    SkuB,
    NameB,
    Customers,
    Similarity,
    RefreshedAt,
}

#[derive(DeriveIden)]
enum CustomerInterests {
    Table,
    CustomerId,
    TopCategory,
    RefreshedAt,
}

#[derive(DeriveIden)]
enum Customers {
    Table,
    Id,
}
