//! Which customer a write may touch: a CUSTOMER token only its own record,
//! partners and staff any existing one. Checked before anything is written.
//!
//! The check also locks the customer's row. Every write recomputes derived
//! rows (metrics, tier, balances) from the customer's records, so two writes
//! to one customer must not interleave: on PostgreSQL the second waits on the
//! row lock and then reads what the first committed. SQLite needs no row
//! lock, since its write transactions already run one at a time.

use c360_entity::customer;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::auth::{CustomerScope, Principal, visible_customer_ids};
use crate::error::{AppError, AppResult};

/// The customer `id`, if it exists and the caller may write its records.
/// Another customer's id is NOT_FOUND for a CUSTOMER token, as on reads, so
/// ids cannot be probed.
pub async fn writable_customer(
    db: &impl ConnectionTrait,
    principal: &Principal,
    id: i64,
) -> AppResult<customer::Model> {
    let not_found = || AppError::NotFound(format!("no customer with id {id}"));
    if let CustomerScope::Only(own) = visible_customer_ids(principal)
        && own != id
    {
        return Err(not_found());
    }
    customer::Entity::find_by_id(id)
        .lock_exclusive()
        .one(db)
        .await?
        .ok_or_else(not_found)
}

/// Locks the rows of `ids` in id order, so that writes locking several
/// customers (a merge, a referral reward) cannot deadlock one another.
/// Unknown ids are skipped. A no-op on SQLite (see the module comment).
pub async fn lock_customers(db: &impl ConnectionTrait, ids: &[i64]) -> AppResult<()> {
    if db.get_database_backend() == DbBackend::Sqlite || ids.is_empty() {
        return Ok(());
    }
    customer::Entity::find()
        .select_only()
        .column(customer::Column::Id)
        .filter(customer::Column::Id.is_in(ids.iter().copied()))
        .order_by_asc(customer::Column::Id)
        .lock_exclusive()
        .into_tuple::<i64>()
        .all(db)
        .await?;
    Ok(())
}
