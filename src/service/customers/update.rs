//! Profile updates: the given fields of one customer (a CUSTOMER token: its
//! own), never an erased one, with the names of the given fields (not
//! their values) in the audit trail and of the changed ones in a
//! `customer.updated` event.

use c360_entity::customer;
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use serde_json::json;

use super::profile::Profile;
use super::{email_taken, erased_guard, target};
use crate::auth::Principal;
use crate::error::AppResult;
use crate::events::{self, payload};
use crate::service::{audit, owner};

/// Updates the given profile fields of a customer (a CUSTOMER token: its
/// own); `customer.updated` names the fields whose values changed.
pub async fn update(
    db: &impl ConnectionTrait,
    principal: &Principal,
    id: i64,
    profile: Profile,
    now: DateTime<Utc>,
) -> AppResult<customer::Model> {
    let (customer, changed) = change_profile(db, principal, id, profile, now).await?;
    if !changed.is_empty() {
        events::emit(db, now, payload::customer_updated(id, &changed)).await?;
    }
    Ok(customer)
}

/// The profile update and its audit row, without the event: returns the
/// customer and the API names of the fields whose values changed.
pub(super) async fn change_profile(
    db: &impl ConnectionTrait,
    principal: &Principal,
    id: i64,
    profile: Profile,
    now: DateTime<Utc>,
) -> AppResult<(customer::Model, Vec<&'static str>)> {
    let profile = profile.validate(now)?;
    let current = owner::writable_customer(db, principal, id).await?;
    erased_guard(&current)?;
    if let Some(email) = &profile.email {
        email_taken(db, email, Some(id)).await?;
    }
    let now = now.trunc_subsecs(0);
    let given = profile.given_fields();
    let changed = profile.changed_fields(&current);
    let mut active: customer::ActiveModel = current.into();
    if let Some(v) = profile.email {
        active.email = Set(v);
    }
    macro_rules! set_some {
        ($($f:ident),*) => { $( if let Some(v) = profile.$f { active.$f = Set(Some(v)); } )* };
    }
    set_some!(
        first_name, last_name, phone, birthday, locale, country, city
    );
    active.updated_at = Set(now);
    let customer = active.update(db).await?;
    audit::record(
        db,
        principal,
        "customer.update",
        &target(id),
        Some(id),
        json!({ "fields": given }),
        now,
    )
    .await?;
    Ok((customer, changed))
}
