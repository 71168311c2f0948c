//! New customers: `create` (with tags, consent, a referral, the metrics row
//! and the loyalty account with its referral code, in one transaction), the
//! lookup by external reference, and `upsert` for partners syncing their
//! customer base. A new customer is `customer.created` (with
//! `referral.signed_up` when it came with a code); an upsert of a known one
//! is `customer.updated` for the fields it changed and
//! `customer.consent_changed` for a new consent.

use c360_entity::enums::{EmailMarketingState, LoyaltyTier};
use c360_entity::{customer, loyalty_account};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;

use super::consent::change_consent;
use super::profile::Profile;
use super::tags::{insert_tags, normalise_tags};
use super::update::change_profile;
use super::{email_taken, not_for_customers, target, validate_consent};
use crate::auth::Principal;
use crate::domain::referral::code as referral_code;
use crate::error::{AppError, AppResult};
use crate::events::{self, payload};
use crate::service::{Rules, audit, metrics, referrals};

/// A new customer as a caller sends it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewCustomer {
    pub profile: Profile,
    /// The system the customer comes from and its id there.
    pub external: Option<(String, String)>,
    pub consent: Option<EmailMarketingState>,
    pub tags: Vec<String>,
    /// A referral code the customer signed up with.
    pub referral_code: Option<String>,
}

/// Creates a customer with its tags, metrics row and loyalty account.
pub async fn create(
    db: &impl ConnectionTrait,
    rules: &Rules,
    principal: &Principal,
    new: NewCustomer,
    now: DateTime<Utc>,
) -> AppResult<customer::Model> {
    not_for_customers(principal)?;
    let profile = new.profile.validate(now)?;
    let email = profile
        .email
        .clone()
        .ok_or_else(|| AppError::bad_input("email", "a new customer needs an email"))?;
    let tags = normalise_tags(&new.tags)?;
    if let Some(state) = new.consent {
        validate_consent(state)?;
    }
    email_taken(db, &email, None).await?;
    let referrer = match new.referral_code.as_deref() {
        Some(code) => Some(referrals::referrer_of_code(db, code).await?),
        None => None,
    };
    if let Some((source, reference)) = &new.external
        && find_external(db, source, reference).await?.is_some()
    {
        return Err(AppError::Conflict(format!(
            "a customer with externalRef `{reference}` from `{source}` already exists"
        )));
    }
    let now = now.trunc_subsecs(0);
    let (source, reference) = new.external.clone().unzip();
    let customer = customer::ActiveModel {
        external_source: Set(source),
        external_ref: Set(reference),
        email: Set(email),
        first_name: Set(profile.first_name),
        last_name: Set(profile.last_name),
        phone: Set(profile.phone),
        birthday: Set(profile.birthday),
        locale: Set(profile.locale),
        country: Set(profile.country),
        city: Set(profile.city),
        email_marketing_state: Set(new.consent.unwrap_or(EmailMarketingState::NotSubscribed)),
        consent_updated_at: Set(new.consent.map(|_| now)),
        created_at: Set(now),
        updated_at: Set(now),
        erased_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    insert_tags(db, customer.id, &tags).await?;
    loyalty_account::ActiveModel {
        customer_id: Set(customer.id),
        referral_code: Set(referral_code(customer.id)),
        tier: Set(LoyaltyTier::Bronze),
        points_available: Set(0),
        points_pending: Set(0),
        points_lifetime_earned: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    let mut events = vec![payload::customer_created(&customer)];
    if let Some(referrer) = referrer {
        events.push(referrals::attribute(db, referrer, &customer, now).await?);
    }
    metrics::refresh_for(db, &rules.base_currency, &[customer.id], now).await?;
    audit::record(
        db,
        principal,
        "customer.create",
        &target(customer.id),
        Some(customer.id),
        json!({ "externalRef": customer.external_ref, "tags": tags }),
        now,
    )
    .await?;
    events::emit_all(db, now, events).await?;
    Ok(customer)
}

/// The customer `source` knows as `reference`, if any.
pub async fn find_external(
    db: &impl ConnectionTrait,
    source: &str,
    reference: &str,
) -> AppResult<Option<customer::Model>> {
    Ok(customer::Entity::find()
        .filter(customer::Column::ExternalSource.eq(source))
        .filter(customer::Column::ExternalRef.eq(reference))
        .one(db)
        .await?)
}

/// Creates the customer `source`/`reference` or updates its profile; returns
/// the customer and whether it was created. For partners syncing their
/// customer base: the same call twice is one customer.
pub async fn upsert(
    db: &impl ConnectionTrait,
    rules: &Rules,
    principal: &Principal,
    new: NewCustomer,
    now: DateTime<Utc>,
) -> AppResult<(customer::Model, bool)> {
    not_for_customers(principal)?;
    let Some((source, reference)) = new.external.clone() else {
        return Err(AppError::bad_input(
            "externalRef",
            "an upsert needs externalRef",
        ));
    };
    match find_external(db, &source, &reference).await? {
        None => create(db, rules, principal, new, now)
            .await
            .map(|c| (c, true)),
        Some(existing) => {
            let tags = normalise_tags(&new.tags)?;
            if let Some(state) = new.consent {
                validate_consent(state)?;
            }
            let id = existing.id;
            // One `customer.updated` naming every changed field, tags
            // included, and the consent change, in one insert.
            let (mut customer, mut changed) =
                change_profile(db, principal, id, new.profile, now).await?;
            if insert_tags(db, id, &tags).await? {
                changed.push("tags");
            }
            let mut events = Vec::new();
            if !changed.is_empty() {
                events.push(payload::customer_updated(id, &changed));
            }
            if let Some(state) = new.consent {
                let (consented, event) = change_consent(db, principal, id, state, now).await?;
                customer = consented;
                events.extend(event);
            }
            events::emit_all(db, now, events).await?;
            Ok((customer, false))
        }
    }
}
