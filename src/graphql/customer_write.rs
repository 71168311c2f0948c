//! Customer writes: create, update, upsert by external reference, tags and
//! consent (email marketing, SMS, phone calls). Each runs in one
//! transaction with its audit row.

use async_graphql::{Context, ID, InputObject, Object};
use chrono::NaiveDate;

use super::context::begin_write;
use super::customer::Customer;
use super::enums::EmailMarketingState;
use super::follow_ups::ContactChannel;
use super::ids::{Kind, decode};
use crate::auth::Domain;
use crate::service::customers;

/// Profile fields; an omitted field is left as it is.
#[derive(InputObject, Default)]
pub struct CustomerProfileInput {
    /// Trimmed and lower-cased; unique.
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub birthday: Option<NaiveDate>,
    pub locale: Option<String>,
    /// ISO 3166-1 alpha-2, e.g. `US`.
    pub country: Option<String>,
    pub city: Option<String>,
}

impl From<CustomerProfileInput> for customers::Profile {
    fn from(i: CustomerProfileInput) -> Self {
        customers::Profile {
            email: i.email,
            first_name: i.first_name,
            last_name: i.last_name,
            phone: i.phone,
            birthday: i.birthday,
            locale: i.locale,
            country: i.country,
            city: i.city,
        }
    }
}

/// A new customer (or, for `customerUpsert`, its current state at the source).
#[derive(InputObject)]
pub struct CustomerCreateInput {
    pub profile: CustomerProfileInput,
    /// The customer's id in the caller's system; unique per source.
    pub external_ref: Option<String>,
    /// The system `externalRef` belongs to; defaults to the token's subject.
    pub external_source: Option<String>,
    pub email_marketing_state: Option<EmailMarketingState>,
    #[graphql(default)]
    pub tags: Vec<String>,
    /// The referral code the customer signed up with: attributes the
    /// referral (BAD_USER_INPUT when unknown).
    pub referral_code: Option<String>,
}

fn new_customer(input: CustomerCreateInput, subject: &str) -> customers::NewCustomer {
    customers::NewCustomer {
        external: input.external_ref.map(|r| {
            (
                input
                    .external_source
                    .map_or_else(|| subject.to_owned(), |s| s.trim().to_owned()),
                r.trim().to_owned(),
            )
        }),
        profile: input.profile.into(),
        consent: input.email_marketing_state.map(Into::into),
        tags: input.tags,
        referral_code: input.referral_code,
    }
}

/// Customer writes: PARTNER tokens need `customers:write`; a CUSTOMER token
/// may update its own profile and consent.
#[derive(Default)]
pub struct CustomerMutation;

#[Object]
impl CustomerMutation {
    /// Creates a customer with its loyalty account (and referral code).
    async fn customer_create(
        &self,
        ctx: &Context<'_>,
        input: CustomerCreateInput,
    ) -> async_graphql::Result<Customer> {
        let write = begin_write(ctx, Domain::Customers).await?;
        let customer = customers::create(
            &write.txn,
            write.rules,
            write.principal,
            new_customer(input, &write.principal.subject),
            write.now,
        )
        .await?;
        write.commit(Customer::from(customer)).await
    }

    /// Creates the customer with this `externalRef` or updates it: the same
    /// call twice is one customer.
    async fn customer_upsert(
        &self,
        ctx: &Context<'_>,
        input: CustomerCreateInput,
    ) -> async_graphql::Result<Customer> {
        let write = begin_write(ctx, Domain::Customers).await?;
        let (customer, _) = customers::upsert(
            &write.txn,
            write.rules,
            write.principal,
            new_customer(input, &write.principal.subject),
            write.now,
        )
        .await?;
        write.commit(Customer::from(customer)).await
    }

    /// Changes the given profile fields.
    async fn customer_update(
        &self,
        ctx: &Context<'_>,
        id: ID,
        profile: CustomerProfileInput,
    ) -> async_graphql::Result<Customer> {
        let write = begin_write(ctx, Domain::Customers).await?;
        let id = decode("id", Kind::Customer, &id)?;
        let customer =
            customers::update(&write.txn, write.principal, id, profile.into(), write.now).await?;
        write.commit(Customer::from(customer)).await
    }

    /// Adds tags (lower-cased); present ones are kept once.
    async fn customer_tags_add(
        &self,
        ctx: &Context<'_>,
        id: ID,
        tags: Vec<String>,
    ) -> async_graphql::Result<Customer> {
        tags_change(ctx, id, tags, true).await
    }

    /// Removes tags; absent ones are ignored.
    async fn customer_tags_remove(
        &self,
        ctx: &Context<'_>,
        id: ID,
        tags: Vec<String>,
    ) -> async_graphql::Result<Customer> {
        tags_change(ctx, id, tags, false).await
    }

    /// Records email marketing consent (SUBSCRIBED, UNSUBSCRIBED or PENDING)
    /// and when it changed.
    async fn customer_set_email_consent(
        &self,
        ctx: &Context<'_>,
        id: ID,
        state: EmailMarketingState,
    ) -> async_graphql::Result<Customer> {
        let write = begin_write(ctx, Domain::Customers).await?;
        let id = decode("id", Kind::Customer, &id)?;
        let customer =
            customers::set_consent(&write.txn, write.principal, id, state.into(), write.now)
                .await?;
        write.commit(Customer::from(customer)).await
    }

    /// Records the consent of one channel: EMAIL (email marketing, as
    /// `customerSetEmailConsent`), SMS or PHONE (calls), each SUBSCRIBED,
    /// UNSUBSCRIBED or PENDING, with when it changed and a
    /// `customer.consent_changed` event naming the channel.
    async fn customer_set_consent(
        &self,
        ctx: &Context<'_>,
        id: ID,
        channel: ContactChannel,
        state: EmailMarketingState,
    ) -> async_graphql::Result<Customer> {
        let write = begin_write(ctx, Domain::Customers).await?;
        let id = decode("id", Kind::Customer, &id)?;
        let customer = customers::set_channel_consent(
            &write.txn,
            write.principal,
            id,
            channel.into(),
            state.into(),
            write.now,
        )
        .await?;
        write.commit(Customer::from(customer)).await
    }

    /// Moves every record of `merge` to `keep`, deletes `merge`, and
    /// recomputes `keep`'s metrics, balances and tier (staff only).
    async fn customer_merge(
        &self,
        ctx: &Context<'_>,
        keep: ID,
        merge: ID,
    ) -> async_graphql::Result<Customer> {
        let write = begin_write(ctx, Domain::Customers).await?;
        let keep = decode("keep", Kind::Customer, &keep)?;
        let merge = decode("merge", Kind::Customer, &merge)?;
        let customer = customers::merge(
            &write.txn,
            write.rules,
            write.principal,
            keep,
            merge,
            write.now,
        )
        .await?;
        write.commit(Customer::from(customer)).await
    }
}

async fn tags_change(
    ctx: &Context<'_>,
    id: ID,
    tags: Vec<String>,
    add: bool,
) -> async_graphql::Result<Customer> {
    let write = begin_write(ctx, Domain::Customers).await?;
    let id = decode("id", Kind::Customer, &id)?;
    let customer =
        customers::change_tags(&write.txn, write.principal, id, &tags, add, write.now).await?;
    write.commit(Customer::from(customer)).await
}
