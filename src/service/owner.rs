//! Which customer a write may touch: a CUSTOMER token only its own record,
//! partners and staff any existing one. Checked before anything is written.

use c360_entity::customer;
use sea_orm::{ConnectionTrait, EntityTrait};

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
        .one(db)
        .await?
        .ok_or_else(not_found)
}
