//! Tracked segments: a saved segment whose membership is kept and
//! re-evaluated, so the difference can be told as `segment.entered` /
//! `segment.exited` (`service::segments::tracking`).
//!
//! - `segments.tracked`: whether it is kept; `evaluated_at`: when the kept
//!   membership was last evaluated (NULL while untracked);
//!   `membership_version`: the number of evaluations that changed the kept
//!   membership, part of the natural key of the events each emitted.
//! - `segment_members`: one row per (segment, customer) in the kept
//!   membership. The primary key `(segment_id, customer_id)` is also the
//!   index a page of members is read through, in keyset order by customer
//!   id. A membership goes with its segment and with its customer (a
//!   customer merged away); the index on `customer_id` serves that cascade.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for column in [
            boolean(Segments::Tracked).default(false).to_owned(),
            timestamp_with_time_zone_null(Segments::EvaluatedAt),
            big_integer(Segments::MembershipVersion)
                .default(0)
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Segments::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(SegmentMembers::Table)
                    .col(big_integer(SegmentMembers::SegmentId))
                    .col(big_integer(SegmentMembers::CustomerId))
                    .col(timestamp_with_time_zone(SegmentMembers::EnteredAt))
                    .primary_key(
                        Index::create()
                            .col(SegmentMembers::SegmentId)
                            .col(SegmentMembers::CustomerId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_segment_members_segment_id")
                            .from(SegmentMembers::Table, SegmentMembers::SegmentId)
                            .to(Segments::Table, Segments::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_segment_members_customer_id")
                            .from(SegmentMembers::Table, SegmentMembers::CustomerId)
                            .to(Customers::Table, Customers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_segment_members_customer_id")
                    .table(SegmentMembers::Table)
                    .col(SegmentMembers::CustomerId)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SegmentMembers::Table).to_owned())
            .await?;
        for column in [
            Segments::Tracked,
            Segments::EvaluatedAt,
            Segments::MembershipVersion,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Segments::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(Clone, Copy, DeriveIden)]
enum Segments {
    Table,
    Id,
    Tracked,
    EvaluatedAt,
    MembershipVersion,
}

#[derive(Clone, Copy, DeriveIden)]
enum SegmentMembers {
    Table,
    SegmentId,
    CustomerId,
    EnteredAt,
}

#[derive(Clone, Copy, DeriveIden)]
enum Customers {
    Table,
    Id,
}
