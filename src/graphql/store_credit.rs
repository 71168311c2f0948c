//! Store credit: a customer's balances per currency and the ledger behind
//! them (`Customer.storeCredit`), and the mutations that issue and redeem
//! credit. Rules live in `service::store_credit`.

use async_graphql::{Context, Enum, ErrorExtensions, ID, Object};
use c360_entity::store_credit_balance;
use c360_entity::store_credit_entry::{self, StoreCreditKind as EntityKind};
use chrono::{DateTime, Utc};

use super::connection::{Conn, Total, child_page};
use super::context::{begin_write, loaders, state};
use super::ids::{Kind, decode, encode};
use super::limits::page_cost;
use super::money::Money;
use crate::auth::Domain;
use crate::read::columns::Columns;
use crate::service::orders::RefundTo;
use crate::service::store_credit;

/// What a store credit entry records.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreCreditKind {
    /// Credit given by staff (with a reason) or a partner.
    Issue,
    /// A refund taken as credit instead of to the payment method.
    RefundToCredit,
    /// A referral's reward in credit.
    ReferralReward,
    /// Credit spent.
    Redeem,
    /// Unspent credit written off at its expiry.
    Expire,
}

impl From<EntityKind> for StoreCreditKind {
    fn from(kind: EntityKind) -> StoreCreditKind {
        match kind {
            EntityKind::Issue => StoreCreditKind::Issue,
            EntityKind::RefundToCredit => StoreCreditKind::RefundToCredit,
            EntityKind::ReferralReward => StoreCreditKind::ReferralReward,
            EntityKind::Redeem => StoreCreditKind::Redeem,
            EntityKind::Expire => StoreCreditKind::Expire,
        }
    }
}

/// Where the money of a refund goes.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RefundDestination {
    /// Back to the payment method, outside c360 (the default).
    #[default]
    PaymentMethod,
    /// To the customer's store credit, in the order's currency; needs
    /// `loyalty:write` of a partner.
    StoreCredit,
}

impl From<RefundDestination> for RefundTo {
    fn from(to: RefundDestination) -> RefundTo {
        match to {
            RefundDestination::PaymentMethod => RefundTo::PaymentMethod,
            RefundDestination::StoreCredit => RefundTo::StoreCredit,
        }
    }
}

/// A customer's store credit.
pub struct StoreCredit(pub i64);

#[Object]
impl StoreCredit {
    /// One balance per currency the customer ever held credit in, by
    /// currency code; expired credit is written off before it is shown.
    async fn balances(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<StoreCreditBalance>> {
        Ok(loaders(ctx)?
            .store_credit_balances
            .load_one(self.0)
            .await
            .map_err(|e| e.extend())?
            .unwrap_or_default()
            .into_iter()
            .map(StoreCreditBalance)
            .collect())
    }

    /// The ledger, newest first. Each balance equals its entries' sum.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn history(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<StoreCreditEntry>> {
        child_page(
            &loaders(ctx)?.store_credit_entries,
            self.0,
            (first, after),
            Columns::ALL,
            Total::StoreCreditEntries(self.0),
            StoreCreditEntry,
        )
        .await
    }
}

/// Store credit in one currency.
pub struct StoreCreditBalance(pub store_credit_balance::Model);

#[Object]
impl StoreCreditBalance {
    /// What can be spent now.
    async fn available(&self) -> Money {
        Money::from_minor(self.0.balance, &self.0.currency)
    }
    /// ISO 4217.
    async fn currency_code(&self) -> &str {
        &self.0.currency
    }
    /// The soonest expiry of unspent credit and how much expires then;
    /// null when none of it expires. Spending takes that credit first.
    async fn next_expiry(&self) -> Option<StoreCreditExpiry> {
        self.0.next_expiry_at.map(|at| StoreCreditExpiry {
            at,
            amount: Money::from_minor(self.0.next_expiry_amount, &self.0.currency),
        })
    }
}

/// Credit that expires at one instant unless spent first.
#[derive(async_graphql::SimpleObject)]
pub struct StoreCreditExpiry {
    pub at: DateTime<Utc>,
    pub amount: Money,
}

/// One entry of the store credit ledger.
pub struct StoreCreditEntry(pub store_credit_entry::Model);

#[Object]
impl StoreCreditEntry {
    pub async fn id(&self) -> ID {
        encode(Kind::StoreCreditEntry, self.0.id)
    }
    async fn kind(&self) -> StoreCreditKind {
        self.0.kind.into()
    }
    /// Signed: redemptions and expiries are negative.
    async fn amount(&self) -> Money {
        Money::from_minor(self.0.amount, &self.0.currency)
    }
    /// The balance in this currency once the entry was written.
    async fn balance_after(&self) -> Money {
        Money::from_minor(self.0.balance_after, &self.0.currency)
    }
    /// When what is unspent of this credit expires; null: never.
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at
    }
    /// The order a refund credit or a referral reward came from.
    async fn order_id(&self) -> Option<ID> {
        self.0.order_id.map(|id| encode(Kind::Order, id))
    }
    /// Why it was issued (staff give one), or what it came from.
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// Store credit writes: issuing (staff with a reason, partners with
/// `loyalty:write`) and redeeming (the customer itself, partners with
/// `loyalty:write`, staff).
#[derive(Default)]
pub struct StoreCreditMutation;

#[Object]
impl StoreCreditMutation {
    /// Adds store credit in `currency`. A reason is required of staff; the
    /// same `idempotencyKey` again returns the first entry without issuing
    /// twice.
    #[allow(clippy::too_many_arguments)]
    async fn issue_store_credit(
        &self,
        ctx: &Context<'_>,
        customer_id: ID,
        #[graphql(desc = "Minor units of `currency`, positive.")] amount: i64,
        #[graphql(desc = "ISO 4217, e.g. `USD`.")] currency: String,
        #[graphql(desc = "Why the credit is given; required of staff.")] reason: Option<String>,
        #[graphql(desc = "When what is unspent of it expires; null: never.")] expires_at: Option<
            DateTime<Utc>,
        >,
        #[graphql(desc = "Makes a retried issue one entry.")] idempotency_key: Option<String>,
    ) -> async_graphql::Result<StoreCreditEntry> {
        let write = begin_write(ctx, Domain::Loyalty).await?;
        let customer = decode("customerId", Kind::Customer, &customer_id)?;
        let db = &state(ctx)?.store.conn;
        let issue = store_credit::Issue {
            customer_id: customer,
            amount,
            currency: &currency,
            reason: reason.as_deref(),
            expires_at,
            idempotency_key: idempotency_key.as_deref(),
        };
        Ok(StoreCreditEntry(
            store_credit::issue(db, write, issue).await?,
        ))
    }

    /// Spends `amount` of the customer's credit in `currency`, the credit
    /// expiring soonest first. CONFLICT when the balance is short; the same
    /// `idempotencyKey` again returns the first redemption without spending
    /// twice.
    async fn redeem_store_credit(
        &self,
        ctx: &Context<'_>,
        customer_id: ID,
        #[graphql(desc = "Minor units of `currency`, positive.")] amount: i64,
        #[graphql(desc = "ISO 4217, e.g. `USD`.")] currency: String,
        idempotency_key: String,
    ) -> async_graphql::Result<StoreCreditEntry> {
        let write = begin_write(ctx, Domain::Loyalty).await?;
        let customer = decode("customerId", Kind::Customer, &customer_id)?;
        let db = &state(ctx)?.store.conn;
        let entry =
            store_credit::redeem(db, write, customer, amount, &currency, &idempotency_key).await?;
        Ok(StoreCreditEntry(entry))
    }
}
