//! Customers: create, update, upsert by external reference, tags, consent
//! (email, SMS, phone) and merging. Every new customer gets its `customer_metrics` row
//! and a loyalty account with its referral code in the same transaction, so
//! reads never see a customer without them.
//!
//! This file is the face callers use (`crate::service::customers::X`) and
//! holds the checks the writes share; each kind of write lives in its own
//! file.

use c360_entity::customer;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::auth::{Principal, Role};
use crate::domain::ids::{Kind, gid};
use crate::error::{AppError, AppResult};

mod consent;
mod create;
mod merge;
mod profile;
mod tags;
mod update;

pub use consent::{set_channel_consent, set_consent, validate_consent};
pub use create::{NewCustomer, create, find_external, upsert};
pub use merge::merge;
pub use profile::{Profile, normalise_email};
pub use tags::{change_tags, normalise_tags};
pub use update::update;

/// The audit target of customer `id`.
fn target(id: i64) -> String {
    gid(Kind::Customer, id)
}

/// Customers are created (and upserted) by partners and staff only.
fn not_for_customers(principal: &Principal) -> AppResult<()> {
    if principal.role == Role::Customer {
        return Err(AppError::Forbidden(
            "customers are created by partners and staff".into(),
        ));
    }
    Ok(())
}

/// CONFLICT when a customer other than `except` already uses `email`.
async fn email_taken(db: &impl ConnectionTrait, email: &str, except: Option<i64>) -> AppResult<()> {
    let mut find = customer::Entity::find().filter(customer::Column::Email.eq(email));
    if let Some(id) = except {
        find = find.filter(customer::Column::Id.ne(id));
    }
    if find.one(db).await?.is_some() {
        return Err(AppError::Conflict(format!(
            "another customer already uses the email {email}"
        )));
    }
    Ok(())
}

/// CONFLICT for an erased customer: its profile and consent stay as erasure
/// left them.
fn erased_guard(customer: &customer::Model) -> AppResult<()> {
    if customer.erased_at.is_some() {
        return Err(AppError::Conflict(format!(
            "customer {} was erased; its profile cannot change",
            customer.id
        )));
    }
    Ok(())
}
