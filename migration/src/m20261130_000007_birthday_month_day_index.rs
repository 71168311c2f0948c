//! An index on the month and day of `customers.birthday`, so the events
//! scheduler (and segments using `anniversary(birthday)` on SQLite) finds
//! the birthdays of a few days among all customers without reading them
//! all.
//!
//! `birthday` is a DATE, stored as `YYYY-MM-DD` text on SQLite. Each store
//! indexes the expression its queries use, word for word, since a planner
//! uses an expression index only for the very expression it holds:
//! - SQLite: [`SQLITE_MONTH_DAY`], the `MM-DD` of the text, the expression
//!   the segment compiler already writes for `anniversary(birthday)`;
//! - PostgreSQL: [`POSTGRES_MONTH_DAY`], `month * 100 + day` (a date's text
//!   depends on the session's `DateStyle`, so PostgreSQL refuses to index
//!   `CAST(birthday AS TEXT)`; `EXTRACT` is immutable).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const NAME: &str = "idx_customers_birthday_month_day";

/// A birthday's `MM-DD` on SQLite (compared with `'02-29'` and the like).
pub const SQLITE_MONTH_DAY: &str = r#"SUBSTR(CAST("birthday" AS TEXT), 6, 5)"#;

/// A birthday's `month * 100 + day` on PostgreSQL (compared with `229`).
pub const POSTGRES_MONTH_DAY: &str =
    r#"(EXTRACT(MONTH FROM "birthday") * 100 + EXTRACT(DAY FROM "birthday"))"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let expression = match manager.get_database_backend() {
            DbBackend::Postgres => POSTGRES_MONTH_DAY,
            _ => SQLITE_MONTH_DAY,
        };
        // Customers without a birthday are never looked up by it.
        manager
            .get_connection()
            .execute_unprepared(&format!(
                r#"CREATE INDEX "{NAME}" ON "customers" (({expression})) WHERE "birthday" IS NOT NULL"#
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(&format!(r#"DROP INDEX "{NAME}""#))
            .await?;
        Ok(())
    }
}
