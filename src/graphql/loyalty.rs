//! Loyalty accounts and their ledger.

use async_graphql::{Context, ErrorExtensions, ID, Object};
use c360_entity::enums::LoyaltyTier as EntityTier;
use c360_entity::{loyalty_account, loyalty_transaction};
use chrono::{DateTime, Utc};

use super::connection::{Total, child_page};
use super::context::{begin_write, loaders, state};
use super::enums::{LoyaltyTier, LoyaltyTransactionKind, LoyaltyTransactionState};
use super::ids::{Kind, decode, encode};
use super::leaves::{Env, JsonText, Leaf, Leaves, Scalar, page_columns, pages_below};
use super::limits::page_cost;
use super::money::Money;
use crate::auth::Domain;
use crate::domain::tiers::next_tier;
use crate::read::columns::Columns;
use crate::service::loyalty;
use async_graphql::parser::types::Field;
use async_graphql::{ContextSelectionSet, Positioned};
use futures_util::future::BoxFuture;

pub struct LoyaltyAccount(pub loyalty_account::Model);

impl LoyaltyAccount {
    /// Trailing spend in the base currency, the tier above the one held with
    /// its threshold, and the base currency: batched over every account of
    /// the request by the trailing-spend loader. The tier held may be above
    /// what the spend reaches (kept until its review under the tier
    /// policy); the next tier is always the one above it.
    async fn progress(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<(i64, Option<(EntityTier, i64)>, String)> {
        let rules = &state(ctx)?.rules;
        let spend = loaders(ctx)?
            .trailing_spend
            .load_one(self.0.customer_id)
            .await
            .map_err(|e| e.extend())?
            .unwrap_or_default()
            .into_iter()
            .find(|(currency, _)| *currency == rules.base_currency)
            .map_or(0, |(_, spend)| spend);
        Ok((
            spend,
            next_tier(self.0.tier, &rules.tiers),
            rules.base_currency.clone(),
        ))
    }
}

#[Object]
impl LoyaltyAccount {
    /// The tier held: reached by trailing spend, and kept or lost as that
    /// spend ages under the tier policy (`--tier-policy`).
    async fn tier(&self) -> LoyaltyTier {
        self.0.tier.into()
    }
    /// When the tier is next checked against trailing spend: the end of its
    /// retention period (retain policy) or the moment trailing spend falls
    /// below it (rolling). Null at BRONZE.
    async fn tier_review_at(&self) -> Option<DateTime<Utc>> {
        self.0.tier_review_at
    }
    /// When the tier ends if nothing more is spent: the first review whose
    /// trailing spend would not keep it. Null at BRONZE.
    async fn tier_expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.tier_expires_at
    }
    /// Base-currency spend still needed, in the 365 days before
    /// `tierReviewAt`, for the review to keep the tier; zero when the spend
    /// so far keeps it. Null at BRONZE.
    async fn spend_to_keep_tier(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Money>> {
        if self.0.tier == EntityTier::Bronze {
            return Ok(None);
        }
        let currency = &state(ctx)?.rules.base_currency;
        Ok(Some(Money::from_minor(self.0.tier_spend_to_keep, currency)))
    }
    /// Whether the account is inside the downgrade notice
    /// (`--tier-downgrade-notice`) before a review its spend so far would
    /// not keep its tier at.
    async fn tier_at_risk(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        let now = state(ctx)?.clock.now();
        Ok(self.0.tier_notice_at.is_some_and(|at| at <= now))
    }
    /// The code this customer shares to refer friends.
    async fn referral_code(&self) -> &str {
        &self.0.referral_code
    }
    /// Points that can be redeemed now.
    async fn points_available(&self) -> i64 {
        self.0.points_available
    }
    /// Points earned but still inside the return window.
    async fn points_pending(&self) -> i64 {
        self.0.points_pending
    }
    /// Every point ever earned, redeemed or not.
    async fn points_lifetime_earned(&self) -> i64 {
        self.0.points_lifetime_earned
    }
    /// Net spend of paid orders in the last 12 months, in the base currency:
    /// what the tier is computed from.
    async fn trailing_spend(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        let (spend, _, currency) = self.progress(ctx).await?;
        Ok(Money::from_minor(spend, &currency))
    }
    /// The tier above the one held; null at PLATINUM.
    async fn next_tier(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<LoyaltyTier>> {
        let (_, next, _) = self.progress(ctx).await?;
        Ok(next.map(|(tier, _)| tier.into()))
    }
    /// Base-currency spend still needed, on top of the trailing spend, for
    /// the next tier; null at PLATINUM.
    async fn spend_to_next_tier(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Money>> {
        let (spend, next, currency) = self.progress(ctx).await?;
        Ok(next.map(|(_, at)| Money::from_minor((at - spend).max(0), &currency)))
    }
    /// Points that spending `spendToNextTier` would earn at the configured
    /// rate (tiers follow spend, so this is the points-side view of the gap);
    /// null at PLATINUM.
    async fn points_to_next_tier(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<i64>> {
        let (spend, next, currency) = self.progress(ctx).await?;
        let rules = &state(ctx)?.rules;
        Ok(next.map(|(_, at)| loyalty::points_for(rules, (at - spend).max(0), &currency)))
    }
    /// The ledger, newest first. Balances always equal its sums.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn transactions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Leaves<LoyaltyTransaction>> {
        let customer = self.0.customer_id;
        child_page(
            &loaders(ctx)?.loyalty_transactions,
            customer,
            (first, after),
            page_columns::<LoyaltyTransaction>(ctx),
            Total::LoyaltyTransactions(customer),
            LoyaltyTransaction,
        )
        .await
        .map(Leaves)
    }
}

/// The columns of `loyalty_accounts` the `LoyaltyAccount` field `name`
/// reads (`read::joined`), with those every account is read with: its
/// customer, and when it settles (an account due to settle is read again
/// whole by `LoyaltyLoader`). `None` for a field not listed here, which
/// reads every column.
pub fn account_columns(name: &str) -> Option<Columns> {
    use loyalty_account::Column as C;
    let read: &[C] = match name {
        "tier" => &[C::Tier],
        "tierReviewAt" => &[C::TierReviewAt],
        "tierExpiresAt" => &[C::TierExpiresAt],
        "spendToKeepTier" => &[C::Tier, C::TierSpendToKeep],
        "tierAtRisk" => &[C::TierNoticeAt],
        "referralCode" => &[C::ReferralCode],
        "pointsAvailable" => &[C::PointsAvailable],
        "pointsPending" => &[C::PointsPending],
        "pointsLifetimeEarned" => &[C::PointsLifetimeEarned],
        // The trailing spend and the ledger are read by customer.
        "trailingSpend" | "nextTier" | "spendToNextTier" | "pointsToNextTier" => &[C::Tier],
        "transactions" => &[],
        _ => return None,
    };
    let always = [C::CustomerId, C::SettleDueAt, C::TierDueAt];
    Some(Columns::of::<loyalty_account::Entity>(
        always.into_iter().chain(read.iter().copied()),
    ))
}

/// The fields of a loyalty account that are values of its row; the rest
/// read the trailing spend.
#[derive(Clone, Copy)]
pub enum LoyaltyAccountField {
    Tier,
    TierReviewAt,
    TierExpiresAt,
    SpendToKeepTier,
    TierAtRisk,
    ReferralCode,
    PointsAvailable,
    PointsPending,
    PointsLifetimeEarned,
}

impl Leaf for LoyaltyAccount {
    type Field = LoyaltyAccountField;
    fn field(name: &str) -> Option<LoyaltyAccountField> {
        use LoyaltyAccountField as F;
        Some(match name {
            "tier" => F::Tier,
            "tierReviewAt" => F::TierReviewAt,
            "tierExpiresAt" => F::TierExpiresAt,
            "spendToKeepTier" => F::SpendToKeepTier,
            "tierAtRisk" => F::TierAtRisk,
            "referralCode" => F::ReferralCode,
            "pointsAvailable" => F::PointsAvailable,
            "pointsPending" => F::PointsPending,
            "pointsLifetimeEarned" => F::PointsLifetimeEarned,
            _ => return None,
        })
    }
    fn value<'a>(&'a self, env: &'a Env<'_>, field: LoyaltyAccountField) -> Scalar<'a> {
        use LoyaltyAccountField as F;
        let a = &self.0;
        match field {
            F::Tier => Scalar::name_of(LoyaltyTier::from(a.tier)),
            F::TierReviewAt => Scalar::time(a.tier_review_at),
            F::TierExpiresAt => Scalar::time(a.tier_expires_at),
            F::SpendToKeepTier if a.tier == EntityTier::Bronze => Scalar::Null,
            F::SpendToKeepTier => {
                Scalar::Minor(a.tier_spend_to_keep, &env.state.rules.base_currency)
            }
            F::TierAtRisk => Scalar::Bool(a.tier_notice_at.is_some_and(|at| at <= env.now)),
            F::ReferralCode => Scalar::Str(&a.referral_code),
            F::PointsAvailable => Scalar::Int(a.points_available),
            F::PointsPending => Scalar::Int(a.points_pending),
            F::PointsLifetimeEarned => Scalar::Int(a.points_lifetime_earned),
        }
    }
    fn has_children(name: &str) -> bool {
        name == "transactions"
    }
    fn children<'a>(
        ctx: &'a ContextSelectionSet<'a>,
        field: &'a Positioned<Field>,
        accounts: Vec<&'a LoyaltyAccount>,
    ) -> BoxFuture<'a, Option<Vec<JsonText>>> {
        Box::pin(async move {
            let loaders = ctx.data::<crate::read::loaders::Loaders>().ok()?;
            let ids: Vec<i64> = accounts.iter().map(|a| a.0.customer_id).collect();
            let total = Total::LoyaltyTransactions;
            let node = |_, row| LoyaltyTransaction(row);
            pages_below(ctx, field, &loaders.loyalty_transactions, &ids, total, node).await
        })
    }
}

pub struct LoyaltyTransaction(pub loyalty_transaction::Model);

#[Object]
impl LoyaltyTransaction {
    pub async fn id(&self) -> ID {
        encode(Kind::LoyaltyTransaction, self.0.id)
    }
    async fn kind(&self) -> LoyaltyTransactionKind {
        self.0.kind.into()
    }
    /// Signed: redemptions, expiries and clawbacks are negative.
    async fn points(&self) -> i64 {
        self.0.points
    }
    async fn state(&self) -> LoyaltyTransactionState {
        self.0.state.into()
    }
    async fn order_id(&self) -> Option<ID> {
        self.0.order_id.map(|id| encode(Kind::Order, id))
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// When pending points become available.
    async fn available_at(&self) -> Option<DateTime<Utc>> {
        self.0.available_at
    }
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

#[derive(Clone, Copy)]
pub enum LoyaltyTransactionField {
    Id,
    Kind,
    Points,
    State,
    OrderId,
    Description,
    AvailableAt,
    ExpiresAt,
    CreatedAt,
}

impl Leaf for LoyaltyTransaction {
    type Field = LoyaltyTransactionField;
    fn field(name: &str) -> Option<LoyaltyTransactionField> {
        use LoyaltyTransactionField as F;
        Some(match name {
            "id" => F::Id,
            "kind" => F::Kind,
            "points" => F::Points,
            "state" => F::State,
            "orderId" => F::OrderId,
            "description" => F::Description,
            "availableAt" => F::AvailableAt,
            "expiresAt" => F::ExpiresAt,
            "createdAt" => F::CreatedAt,
            _ => return None,
        })
    }
    fn value<'a>(&'a self, _env: &'a Env<'_>, field: LoyaltyTransactionField) -> Scalar<'a> {
        use LoyaltyTransactionField as F;
        let t = &self.0;
        match field {
            F::Id => Scalar::Id(Kind::LoyaltyTransaction, t.id),
            F::Kind => Scalar::name_of(LoyaltyTransactionKind::from(t.kind)),
            F::Points => Scalar::Int(t.points),
            F::State => Scalar::name_of(LoyaltyTransactionState::from(t.state)),
            F::OrderId => t
                .order_id
                .map_or(Scalar::Null, |id| Scalar::Id(Kind::Order, id)),
            F::Description => t.description.as_deref().into(),
            F::AvailableAt => Scalar::time(t.available_at),
            F::ExpiresAt => Scalar::time(t.expires_at),
            F::CreatedAt => Scalar::Time(t.created_at),
        }
    }
    fn columns(fields: &[LoyaltyTransactionField]) -> Columns {
        use LoyaltyTransactionField as F;
        use loyalty_transaction::Column as C;
        let each = |field: &LoyaltyTransactionField| match field {
            F::Id => C::Id,
            F::Kind => C::Kind,
            F::Points => C::Points,
            F::State => C::State,
            F::OrderId => C::OrderId,
            F::Description => C::Description,
            F::AvailableAt => C::AvailableAt,
            F::ExpiresAt => C::ExpiresAt,
            F::CreatedAt => C::CreatedAt,
        };
        Columns::of::<loyalty_transaction::Entity>(fields.iter().map(each))
    }
}

/// Loyalty writes: redemptions (the customer itself, a partner with
/// `loyalty:write`, staff) and manual adjustments (staff only).
#[derive(Default)]
pub struct LoyaltyMutation;

#[Object]
impl LoyaltyMutation {
    /// Spends `points` of the AVAILABLE balance. CONFLICT when the balance is
    /// short; the same `idempotencyKey` again returns the account without
    /// redeeming twice.
    async fn redeem_points(
        &self,
        ctx: &Context<'_>,
        customer_id: ID,
        points: i64,
        idempotency_key: String,
    ) -> async_graphql::Result<LoyaltyAccount> {
        let write = begin_write(ctx, Domain::Loyalty).await?;
        let customer = decode("customerId", Kind::Customer, &customer_id)?;
        let db = &state(ctx)?.store.conn;
        let account = loyalty::redeem_points(db, write, customer, points, &idempotency_key).await?;
        Ok(LoyaltyAccount(account))
    }

    /// A manual correction by staff, positive or negative, with a reason.
    async fn adjust_points(
        &self,
        ctx: &Context<'_>,
        customer_id: ID,
        points: i64,
        reason: String,
        #[graphql(desc = "Makes a retried adjustment one ledger row.")] idempotency_key: Option<
            String,
        >,
    ) -> async_graphql::Result<LoyaltyAccount> {
        let write = begin_write(ctx, Domain::Loyalty).await?;
        let customer = decode("customerId", Kind::Customer, &customer_id)?;
        let db = &state(ctx)?.store.conn;
        let account = loyalty::adjust_points(
            db,
            write,
            customer,
            points,
            &reason,
            idempotency_key.as_deref(),
        )
        .await?;
        Ok(LoyaltyAccount(account))
    }
}
