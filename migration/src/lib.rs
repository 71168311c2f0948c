//! Schema migrations of the c360 store, applied in order to SQLite and PostgreSQL alike.

pub use sea_orm_migration;
use sea_orm_migration::prelude::*;

mod m20261123_000001_create_tables;
mod m20261123_000002_create_customer_rfm;
mod m20261123_000003_natural_keys_and_settlement;
mod m20261124_000004_rfm_covering_index;
mod m20261130_000005_create_events;
mod m20261130_000006_create_webhooks;
pub mod m20261130_000007_birthday_month_day_index;
mod m20261130_000008_track_segments;
mod m20261130_000009_create_event_consumers;
mod m20261130_000010_tier_reviews;
mod m20261130_000011_clv_predictions;
mod m20261130_000012_review_summaries_index;
mod m20261130_000013_store_credit;
mod m20261130_000014_order_line_categories;
mod m20261130_000015_follow_ups;
mod m20261130_000016_year_review_indexes;
mod m20261201_000017_bulk_event_positions;
mod m20261202_000018_partial_natural_key_index;

/// Every migration of the store, oldest first.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_tables::Migration),
            Box::new(m20261123_000002_create_customer_rfm::Migration),
            Box::new(m20261123_000003_natural_keys_and_settlement::Migration),
            Box::new(m20261124_000004_rfm_covering_index::Migration),
            Box::new(m20261130_000005_create_events::Migration),
            Box::new(m20261130_000006_create_webhooks::Migration),
            Box::new(m20261130_000007_birthday_month_day_index::Migration),
            Box::new(m20261130_000008_track_segments::Migration),
            Box::new(m20261130_000009_create_event_consumers::Migration),
            Box::new(m20261130_000010_tier_reviews::Migration),
            Box::new(m20261130_000011_clv_predictions::Migration),
            Box::new(m20261130_000012_review_summaries_index::Migration),
            Box::new(m20261130_000013_store_credit::Migration),
            Box::new(m20261130_000014_order_line_categories::Migration),
            Box::new(m20261130_000015_follow_ups::Migration),
            Box::new(m20261130_000016_year_review_indexes::Migration),
            Box::new(m20261201_000017_bulk_event_positions::Migration),
            Box::new(m20261202_000018_partial_natural_key_index::Migration),
        ]
    }
}
