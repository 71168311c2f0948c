//! Referrals: who invited whom, and what it earned.

use async_graphql::{Context, ID, Object};
use c360_entity::referral;
use chrono::{DateTime, Utc};

use async_graphql::InputType as _;

use super::context::{begin_write, identity, loaders};
use super::customer::Customer;
use super::customer::joins_of;
use super::enums::ReferralStatus;
use super::ids::{Kind, decode, encode};
use super::leaves::{Env, JsonText, Leaf, Scalar, objects_below};
use crate::auth::{Domain, Identity, mask_email};
use crate::read::columns::Columns;
use crate::read::loaders::CustomerKey;
use crate::service::referrals;
use async_graphql::parser::types::Field;
use async_graphql::{ContextSelectionSet, Positioned};
use futures_util::future::BoxFuture;

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

/// The fields of a referral that are values of its row.
#[derive(Clone, Copy)]
pub enum ReferralField {
    Id,
    Code,
    RefereeEmail,
    Status,
    RejectionReason,
    ReferrerRewardPoints,
    RefereeRewardPoints,
    InvitedAt,
    SignedUpAt,
    ConvertedAt,
    RewardedAt,
}

impl ReferralField {
    pub fn of(name: &str) -> Option<ReferralField> {
        use ReferralField as F;
        Some(match name {
            "id" => F::Id,
            "code" => F::Code,
            "refereeEmail" => F::RefereeEmail,
            "status" => F::Status,
            "rejectionReason" => F::RejectionReason,
            "referrerRewardPoints" => F::ReferrerRewardPoints,
            "refereeRewardPoints" => F::RefereeRewardPoints,
            "invitedAt" => F::InvitedAt,
            "signedUpAt" => F::SignedUpAt,
            "convertedAt" => F::ConvertedAt,
            "rewardedAt" => F::RewardedAt,
            _ => return None,
        })
    }
}

/// The columns of `referrals` the `Referral` field `name` reads, with its
/// id (`read::joined`); `None` for a field not listed here, which reads
/// every column.
pub fn referral_columns(name: &str) -> Option<Columns> {
    use referral::Column as C;
    let read = match name {
        "referrer" => Columns::of::<referral::Entity>([C::CustomerId]),
        "referee" => Columns::of::<referral::Entity>([C::RefereeCustomerId]),
        _ => Referral::columns(&[ReferralField::of(name)?]),
    };
    Some(read.with::<referral::Entity>(C::Id))
}

/// A referral's value as the caller sees it (the invited address is masked
/// without `pii:read`, and, as in the executor, not audited).
pub fn referral_value<'a>(
    r: &'a referral::Model,
    env: &Env<'_>,
    field: ReferralField,
) -> Scalar<'a> {
    use ReferralField as F;
    match field {
        F::Id => Scalar::Id(Kind::Referral, r.id),
        F::Code => Scalar::Str(&r.code),
        F::RefereeEmail if env.pii.is_some() => Scalar::Str(&r.referee_email),
        F::RefereeEmail => Scalar::Value(mask_email(&r.referee_email).to_value()),
        F::Status => Scalar::name_of(ReferralStatus::from(r.status)),
        F::RejectionReason => r.rejection_reason.as_deref().into(),
        F::ReferrerRewardPoints => Scalar::Int(r.referrer_reward_points),
        F::RefereeRewardPoints => Scalar::Int(r.referee_reward_points),
        F::InvitedAt => Scalar::Time(r.invited_at),
        F::SignedUpAt => Scalar::time(r.signed_up_at),
        F::ConvertedAt => Scalar::time(r.converted_at),
        F::RewardedAt => Scalar::time(r.rewarded_at),
    }
}

impl Leaf for Referral {
    type Field = ReferralField;
    fn field(name: &str) -> Option<ReferralField> {
        ReferralField::of(name)
    }
    fn value<'a>(&'a self, env: &'a Env<'_>, field: ReferralField) -> Scalar<'a> {
        referral_value(&self.0, env, field)
    }
    fn columns(fields: &[ReferralField]) -> Columns {
        use ReferralField as F;
        use referral::Column as C;
        let each = |field: &ReferralField| match field {
            F::Id => C::Id,
            F::Code => C::Code,
            F::RefereeEmail => C::RefereeEmail,
            F::Status => C::Status,
            F::RejectionReason => C::RejectionReason,
            F::ReferrerRewardPoints => C::ReferrerRewardPoints,
            F::RefereeRewardPoints => C::RefereeRewardPoints,
            F::InvitedAt => C::InvitedAt,
            F::SignedUpAt => C::SignedUpAt,
            F::ConvertedAt => C::ConvertedAt,
            F::RewardedAt => C::RewardedAt,
        };
        Columns::of::<referral::Entity>(fields.iter().map(each))
    }
    fn has_children(name: &str) -> bool {
        matches!(name, "referrer" | "referee")
    }
    /// The customers at either end, loaded within the caller's scope (null
    /// when not visible), with the to-one rows their selection reads.
    fn children<'a>(
        ctx: &'a ContextSelectionSet<'a>,
        field: &'a Positioned<Field>,
        referrals: Vec<&'a Referral>,
    ) -> BoxFuture<'a, Option<Vec<JsonText>>> {
        Box::pin(async move {
            let loaders = ctx.data::<crate::read::loaders::Loaders>().ok()?;
            let ids: Vec<Option<i64>> = match field.node.name.node.as_str() {
                "referrer" => referrals.iter().map(|r| Some(r.0.customer_id)).collect(),
                _ => referrals.iter().map(|r| r.0.referee_customer_id).collect(),
            };
            let joins = joins_of(ctx, &ctx.with_field(field).look_ahead());
            let key = |id| CustomerKey { id, joins };
            let found = loaders
                .customers
                .load_many(ids.iter().flatten().map(|&id| key(id)))
                .await
                .ok()?;
            let customers: Vec<Option<Customer>> = ids
                .iter()
                .map(|id| {
                    let (row, joined) = found.get(&key((*id)?))?;
                    Some(Customer(row.clone(), joined.clone()))
                })
                .collect();
            let customers: Vec<Option<&Customer>> = customers.iter().map(Option::as_ref).collect();
            objects_below(ctx, field, &customers).await
        })
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
