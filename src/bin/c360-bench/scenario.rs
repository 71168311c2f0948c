//! The requests each scenario sends, with a random customer each time.

use clap::ValueEnum;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// The README's profile page: one customer with orders and lines,
    /// tickets and messages, reviews, loyalty and its ledger, referrals, stats.
    Profile,
    /// `customers(first: 50)` with the same nesting one level shallower.
    List,
}

const PROFILE: &str = r#"query Profile($id: ID!) {
  customer(id: $id) {
    id email firstName lastName tags
    stats { ordersCount lifetimeValue { amount currencyCode } averageOrderValue { amount } lastOrderAt openTickets lastNpsScore }
    loyalty { tier pointsAvailable pointsPending transactions(first: 10) { edges { node { kind points state createdAt } } } }
    orders(first: 10) { edges { node { orderNumber status placedAt total { amount currencyCode }
      lines { edges { node { sku productName quantity unitPrice { amount } } } } } } }
    tickets(first: 5) { edges { node { subject status firstReplyMinutes satisfaction { score comment }
      messages { edges { node { authorKind body } } } } } }
    reviews(first: 5) { edges { node { productSku rating title verifiedPurchase } } }
    referralsMade(first: 5) { edges { node { refereeEmail status } } }
    referredBy { code referrer { email } }
    npsResponses(first: 3) { edges { node { score category comment } } }
  }
}"#;

const LIST: &str = r#"query List($before: DateTime!) {
  customers(first: 50, filter: { createdBefore: $before }) { edges { node {
    id email firstName lastName tags
    stats { ordersCount lifetimeValue { amount } lastOrderAt }
    loyalty { tier pointsAvailable }
    orders(first: 5) { edges { node { orderNumber status total { amount } } } }
    tickets(first: 3) { edges { node { subject status } } }
    reviews(first: 3) { edges { node { rating } } }
    referralsMade(first: 3) { edges { node { status } } }
    referredBy { code }
    npsResponses(first: 1) { edges { node { score } } }
  } } }
}"#;

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Profile => "profile",
            Scenario::List => "list",
        }
    }

    /// The request body for customer number `pick` (1-based) of `customers`.
    pub fn body(self, pick: u64, customers: u64) -> Value {
        match self {
            Scenario::Profile => json!({
                "query": PROFILE,
                "variables": { "id": format!("gid://c360/Customer/{pick}") },
            }),
            Scenario::List => {
                // Customers were added over about three years; a random
                // instant in that span starts a random page.
                let span_secs = 3 * 365 * 24 * 3600;
                let back = (pick * span_secs) / customers.max(1);
                let before = chrono::Utc::now() - chrono::Duration::seconds(back as i64);
                json!({ "query": LIST, "variables": { "before": before.to_rfc3339() } })
            }
        }
    }
}
