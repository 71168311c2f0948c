//! Customers: create, update, upsert by external reference, tags and email
//! consent. Every new customer gets its `customer_metrics` row and a loyalty
//! account with its referral code in the same transaction, so reads never see
//! a customer without them.

use c360_entity::enums::{EmailMarketingState, LoyaltyTier};
use c360_entity::{customer, customer_tag, loyalty_account};
use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;

use super::{Rules, audit, metrics, owner};
use crate::auth::{Principal, Role};
use crate::domain::ids::{Kind, gid};
use crate::domain::referral::code as referral_code;
use crate::error::{AppError, AppResult};

/// Profile fields; `None` leaves a field as it is (on create: unset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub birthday: Option<NaiveDate>,
    pub locale: Option<String>,
    pub country: Option<String>,
    pub city: Option<String>,
}

/// The address in its normal form (`domain::email`).
pub fn normalise_email(email: &str) -> AppResult<String> {
    crate::domain::email::normalise("email", email)
}

fn optional_text(field: &str, value: Option<String>, max: usize) -> AppResult<Option<String>> {
    match value.map(|v| v.trim().to_owned()) {
        None => Ok(None),
        Some(v) if v.is_empty() || v.len() > max => Err(AppError::bad_input(
            field,
            format!("{field} must be 1 to {max} characters"),
        )),
        Some(v) => Ok(Some(v)),
    }
}

impl Profile {
    /// Checks and normalises every given field; nothing is read or written.
    pub fn validate(self, now: DateTime<Utc>) -> AppResult<Profile> {
        let country = optional_text("country", self.country, 2)?;
        if let Some(c) = &country
            && !(c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()))
        {
            return Err(AppError::bad_input(
                "country",
                format!("`{c}` is not an ISO 3166-1 alpha-2 code such as US or FR"),
            ));
        }
        if let Some(b) = self.birthday
            && b > now.date_naive()
        {
            return Err(AppError::bad_input("birthday", "birthday is in the future"));
        }
        Ok(Profile {
            email: self.email.as_deref().map(normalise_email).transpose()?,
            first_name: optional_text("firstName", self.first_name, 100)?,
            last_name: optional_text("lastName", self.last_name, 100)?,
            phone: optional_text("phone", self.phone, 32)?,
            birthday: self.birthday,
            locale: optional_text("locale", self.locale, 35)?,
            country,
            city: optional_text("city", self.city, 100)?,
        })
    }
}

/// Lower-cased, trimmed, 1 to 50 characters, at most 50 per call.
pub fn normalise_tags(tags: &[String]) -> AppResult<Vec<String>> {
    if tags.len() > 50 {
        return Err(AppError::bad_input("tags", "at most 50 tags per call"));
    }
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for (i, tag) in tags.iter().enumerate() {
        let tag = tag.trim().to_lowercase();
        if tag.is_empty() || tag.len() > 50 {
            return Err(AppError::bad_input(
                format!("tags[{i}]"),
                "a tag is 1 to 50 characters",
            ));
        }
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    Ok(out)
}

/// A consent state a caller may set: NOT_SUBSCRIBED means never asked.
pub fn validate_consent(state: EmailMarketingState) -> AppResult<()> {
    if state == EmailMarketingState::NotSubscribed {
        return Err(AppError::bad_input(
            "state",
            "set SUBSCRIBED, UNSUBSCRIBED or PENDING; NOT_SUBSCRIBED means consent was never asked",
        ));
    }
    Ok(())
}

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

fn not_for_customers(principal: &Principal) -> AppResult<()> {
    if principal.role == Role::Customer {
        return Err(AppError::Forbidden(
            "customers are created by partners and staff".into(),
        ));
    }
    Ok(())
}

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
        Some(code) => Some(super::referrals::referrer_of_code(db, code).await?),
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
    if let Some(referrer) = referrer {
        super::referrals::attribute(db, referrer, &customer, now).await?;
    }
    metrics::refresh_for(db, &rules.base_currency, &[customer.id]).await?;
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
    Ok(customer)
}

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

/// Updates the given profile fields of a customer (a CUSTOMER token: its own).
pub async fn update(
    db: &impl ConnectionTrait,
    principal: &Principal,
    id: i64,
    profile: Profile,
    now: DateTime<Utc>,
) -> AppResult<customer::Model> {
    let profile = profile.validate(now)?;
    let current = owner::writable_customer(db, principal, id).await?;
    erased_guard(&current)?;
    if let Some(email) = &profile.email {
        email_taken(db, email, Some(id)).await?;
    }
    let now = now.trunc_subsecs(0);
    let changed = changed_fields(&current, &profile);
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
        json!({ "fields": changed }),
        now,
    )
    .await?;
    Ok(customer)
}

/// The API names of the fields a patch sets (values stay out of the audit
/// trail, which must not hold PII).
fn changed_fields(_current: &customer::Model, p: &Profile) -> Vec<&'static str> {
    let mut out = Vec::new();
    let given = [
        ("email", p.email.is_some()),
        ("firstName", p.first_name.is_some()),
        ("lastName", p.last_name.is_some()),
        ("phone", p.phone.is_some()),
        ("birthday", p.birthday.is_some()),
        ("locale", p.locale.is_some()),
        ("country", p.country.is_some()),
        ("city", p.city.is_some()),
    ];
    for (name, set) in given {
        if set {
            out.push(name);
        }
    }
    out
}

fn erased_guard(customer: &customer::Model) -> AppResult<()> {
    if customer.erased_at.is_some() {
        return Err(AppError::Conflict(format!(
            "customer {} was erased; its profile cannot change",
            customer.id
        )));
    }
    Ok(())
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
            let mut customer = update(db, principal, id, new.profile, now).await?;
            insert_tags(db, id, &tags).await?;
            if let Some(state) = new.consent {
                customer = set_consent(db, principal, id, state, now).await?;
            }
            Ok((customer, false))
        }
    }
}

async fn insert_tags(db: &impl ConnectionTrait, id: i64, tags: &[String]) -> AppResult<()> {
    if tags.is_empty() {
        return Ok(());
    }
    customer_tag::Entity::insert_many(tags.iter().map(|t| customer_tag::ActiveModel {
        customer_id: Set(id),
        tag: Set(t.clone()),
    }))
    .on_conflict_do_nothing_on([customer_tag::Column::CustomerId, customer_tag::Column::Tag])
    .exec(db)
    .await?;
    Ok(())
}

/// Adds (`add = true`) or removes tags; adding a present tag or removing an
/// absent one changes nothing.
pub async fn change_tags(
    db: &impl ConnectionTrait,
    principal: &Principal,
    id: i64,
    tags: &[String],
    add: bool,
    now: DateTime<Utc>,
) -> AppResult<customer::Model> {
    let tags = normalise_tags(tags)?;
    if tags.is_empty() {
        return Err(AppError::bad_input("tags", "give at least one tag"));
    }
    let customer = owner::writable_customer(db, principal, id).await?;
    if principal.role == Role::Customer {
        return Err(AppError::Forbidden(
            "tags are set by partners and staff".into(),
        ));
    }
    if add {
        insert_tags(db, id, &tags).await?;
    } else {
        customer_tag::Entity::delete_many()
            .filter(customer_tag::Column::CustomerId.eq(id))
            .filter(customer_tag::Column::Tag.is_in(tags.clone()))
            .exec(db)
            .await?;
    }
    audit::record(
        db,
        principal,
        if add {
            "customer.tags.add"
        } else {
            "customer.tags.remove"
        },
        &target(id),
        Some(id),
        json!({ "tags": tags }),
        now,
    )
    .await?;
    Ok(customer)
}

/// Records an email marketing consent change with its time; setting the
/// current state again changes nothing (and keeps the original time).
pub async fn set_consent(
    db: &impl ConnectionTrait,
    principal: &Principal,
    id: i64,
    state: EmailMarketingState,
    now: DateTime<Utc>,
) -> AppResult<customer::Model> {
    validate_consent(state)?;
    let current = owner::writable_customer(db, principal, id).await?;
    erased_guard(&current)?;
    if current.email_marketing_state == state {
        return Ok(current);
    }
    let from = current.email_marketing_state;
    let now: DateTime<Utc> = now.trunc_subsecs(0);
    let mut active: customer::ActiveModel = current.into();
    active.email_marketing_state = Set(state);
    active.consent_updated_at = Set(Some(now));
    active.updated_at = Set(now);
    let customer = active.update(db).await?;
    audit::record(
        db,
        principal,
        "customer.consent",
        &target(id),
        Some(id),
        json!({ "from": from, "to": state }),
        now,
    )
    .await?;
    Ok(customer)
}

fn target(id: i64) -> String {
    gid(Kind::Customer, id)
}

/// Moves every record of customer `merge` to `keep` (orders and lines,
/// tickets and messages, reviews, referrals both ways, the loyalty ledger,
/// NPS answers, tags and the audit trail), deletes `merge`, and recomputes
/// `keep`'s metrics, balances and tier: one transaction, staff only.
///
/// Where both customers hold a row the store allows once, the kept
/// customer's wins: `merge`'s review of an sku `keep` also reviewed is
/// dropped, and `merge`'s ledger idempotency keys are prefixed with
/// `merged:<id>:` so they cannot collide with `keep`'s.
pub async fn merge(
    db: &impl ConnectionTrait,
    rules: &Rules,
    principal: &Principal,
    keep: i64,
    merge: i64,
    now: DateTime<Utc>,
) -> AppResult<customer::Model> {
    if principal.role != Role::Staff {
        return Err(AppError::Forbidden("only staff merge customers".into()));
    }
    if keep == merge {
        return Err(AppError::bad_input(
            "merge",
            "merge and keep are the same customer",
        ));
    }
    // In id order, so two merges of one pair cannot deadlock.
    owner::lock_customers(db, &[keep, merge]).await?;
    let kept = owner::writable_customer(db, principal, keep).await?;
    let gone = owner::writable_customer(db, principal, merge).await?;
    // Both ids are integers parsed by the API, never caller text, so they
    // are written into the statements directly.
    let (k, m) = (keep, merge);
    let statements = [
        format!(
            "DELETE FROM reviews WHERE customer_id = {m} AND product_sku IN \
             (SELECT product_sku FROM reviews WHERE customer_id = {k})"
        ),
        format!(
            "DELETE FROM customer_tags WHERE customer_id = {m} AND tag IN \
             (SELECT tag FROM customer_tags WHERE customer_id = {k})"
        ),
        format!(
            "UPDATE loyalty_transactions SET idempotency_key = 'merged:' || CAST({m} AS TEXT) || ':' || idempotency_key, \
             customer_id = {k} WHERE customer_id = {m} AND idempotency_key IS NOT NULL"
        ),
        format!("UPDATE loyalty_transactions SET customer_id = {k} WHERE customer_id = {m}"),
        format!("UPDATE referrals SET referee_customer_id = {k} WHERE referee_customer_id = {m}"),
    ]
    .into_iter()
    .chain(
        [
            "orders",
            "order_lines",
            "tickets",
            "ticket_messages",
            "reviews",
            "referrals",
            "nps_responses",
            "customer_tags",
            "audit_events",
        ]
        .map(|table| format!("UPDATE {table} SET customer_id = {k} WHERE customer_id = {m}")),
    );
    for sql in statements {
        db.execute_unprepared(&sql).await?;
    }
    // The merged customer's account, metrics row and profile go; its
    // points live on in the moved ledger.
    db.execute_unprepared(&format!(
        "DELETE FROM loyalty_accounts WHERE customer_id = {m}"
    ))
    .await?;
    db.execute_unprepared(&format!("DELETE FROM customers WHERE id = {m}"))
        .await?;
    let now = now.trunc_subsecs(0);
    metrics::refresh_for(db, &rules.base_currency, &[keep, merge]).await?;
    super::loyalty::refresh_balances(db, Some(&[keep])).await?;
    super::loyalty::refresh_tier(db, rules, keep, now).await?;
    audit::record(
        db,
        principal,
        "customer.merge",
        &target(keep),
        Some(keep),
        json!({ "merged": target(gone.id) }),
        now,
    )
    .await?;
    Ok(kept)
}
