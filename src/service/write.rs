//! A write in progress: the caller, the store's rules, the write's time and
//! the one transaction that the write, its derived figures and its audit row
//! share. Dropped without [`Write::commit`], the transaction rolls back, so
//! a failed write leaves nothing behind.

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, DatabaseTransaction};

use super::Rules;
use crate::auth::Principal;
use crate::domain::Clock;
use crate::error::{AppError, AppResult};

pub struct Write<'a> {
    /// Who writes, already allowed to write the domain.
    pub principal: &'a Principal,
    pub rules: &'a Rules,
    /// The write's time, read once from the app's clock: every row it
    /// stamps and every time rule it applies agree.
    pub now: DateTime<Utc>,
    pub txn: DatabaseTransaction,
}

impl<'a> Write<'a> {
    /// Opens the write's transaction (`BEGIN IMMEDIATE` on SQLite).
    pub async fn begin(
        db: &DatabaseConnection,
        principal: &'a Principal,
        rules: &'a Rules,
        clock: &Clock,
    ) -> AppResult<Write<'a>> {
        let txn = crate::db::begin_write(db).await?;
        Ok(Write {
            principal,
            rules,
            now: clock.now(),
            txn,
        })
    }

    /// Commits the write and returns what the caller answers with.
    pub async fn commit<T, E: From<AppError>>(self, value: T) -> Result<T, E> {
        self.txn.commit().await.map_err(AppError::from)?;
        Ok(value)
    }
}
