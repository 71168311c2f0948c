//! Loyalty accounts and their ledger.

use async_graphql::{Context, ID, Object};
use c360_entity::{loyalty_account, loyalty_transaction};
use chrono::{DateTime, Utc};

use super::connection::{Conn, Total, child_page};
use super::context::loaders;
use super::enums::{LoyaltyTier, LoyaltyTransactionKind, LoyaltyTransactionState};
use super::ids::{Kind, encode};
use super::limits::page_cost;

pub struct LoyaltyAccount(pub loyalty_account::Model);

#[Object]
impl LoyaltyAccount {
    async fn tier(&self) -> LoyaltyTier {
        self.0.tier.into()
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
    /// The ledger, newest first. Balances always equal its sums.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn transactions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<LoyaltyTransaction>> {
        let customer = self.0.customer_id;
        child_page(
            &loaders(ctx)?.loyalty_transactions,
            customer,
            first,
            after,
            Total::LoyaltyTransactions(customer),
            LoyaltyTransaction,
        )
        .await
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
