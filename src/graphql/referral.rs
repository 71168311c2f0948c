//! Referrals: who invited whom, and what it earned.

use async_graphql::{Context, ID, Object};
use c360_entity::referral;
use chrono::{DateTime, Utc};

use super::context::{begin_write, identity, loaders};
use super::customer::Customer;
use super::enums::ReferralStatus;
use super::ids::{Kind, decode, encode};
use crate::auth::{Domain, Identity, mask_email};
use crate::service::referrals;

pub struct Referral(pub referral::Model);

#[Object]
impl Referral {
    pub async fn id(&self) -> ID {
        encode(Kind::Referral, self.0.id)
    }
    /// The referrer's code used for this invitation.
    async fn code(&self) -> &str {
        &self.0.code
    }
    /// The invited address; masked without `pii:read`.
    async fn referee_email(&self, ctx: &Context<'_>) -> String {
        match identity(ctx) {
            Identity::Authenticated(p) if super::context::sees_pii(p) => {
                self.0.referee_email.clone()
            }
            _ => mask_email(&self.0.referee_email),
        }
    }
    async fn status(&self) -> ReferralStatus {
        self.0.status.into()
    }
    /// Why the referral was rejected (self-referral, existing customer, already referred).
    async fn rejection_reason(&self) -> Option<&str> {
        self.0.rejection_reason.as_deref()
    }
    async fn referrer_reward_points(&self) -> i64 {
        self.0.referrer_reward_points
    }
    async fn referee_reward_points(&self) -> i64 {
        self.0.referee_reward_points
    }
    async fn invited_at(&self) -> DateTime<Utc> {
        self.0.invited_at
    }
    async fn signed_up_at(&self) -> Option<DateTime<Utc>> {
        self.0.signed_up_at
    }
    async fn converted_at(&self) -> Option<DateTime<Utc>> {
        self.0.converted_at
    }
    async fn rewarded_at(&self) -> Option<DateTime<Utc>> {
        self.0.rewarded_at
    }
    /// The customer who invited; null when not visible to the caller.
    async fn referrer(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Customer>> {
        Customer::load(ctx, self.0.customer_id).await
    }
    /// The invited customer once signed up; null before, or when not visible to the caller.
    async fn referee(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Customer>> {
        match self.0.referee_customer_id {
            Some(id) => Customer::load(ctx, id).await,
            None => Ok(None),
        }
    }
}

/// Loads the referral that brought `customer` in.
pub async fn referred_by(
    ctx: &Context<'_>,
    customer: i64,
) -> async_graphql::Result<Option<Referral>> {
    use async_graphql::ErrorExtensions;
    Ok(loaders(ctx)?
        .referred_by
        .load_one(customer)
        .await
        .map_err(|e| e.extend())?
        .map(Referral))
}

/// Referral writes: a CUSTOMER invites for itself, a PARTNER needs
/// `referrals:write`.
#[derive(Default)]
pub struct ReferralMutation;

#[Object]
impl ReferralMutation {
    /// Invites `email` on behalf of `customerId`. A blocked invitation comes
    /// back REJECTED with `rejectionReason` SELF_REFERRAL, ALREADY_CUSTOMER
    /// or ALREADY_REFERRED.
    async fn referral_invite(
        &self,
        ctx: &Context<'_>,
        customer_id: ID,
        email: String,
    ) -> async_graphql::Result<Referral> {
        let write = begin_write(ctx, Domain::Referrals).await?;
        let referrer = decode("customerId", Kind::Customer, &customer_id)?;
        let row =
            referrals::invite(&write.txn, write.principal, referrer, &email, write.now).await?;
        write.commit(Referral(row)).await
    }
}
