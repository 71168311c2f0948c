//! Batched loading: a list with every relation nested costs the same number
//! of SQL statements whatever its length.

use serde_json::json;

use crate::both_stores;
use crate::helpers::TestApp;

pub const NESTED: &str = r#"query($n: Int!) {
  customers(first: $n) { edges { node {
    id
    orders(first: 5) { edges { node { orderNumber lines { edges { node { sku } } } } } }
    tickets(first: 3) { edges { node { subject messages { edges { node { body } } } } } }
    reviews { edges { node { rating } } }
    loyalty { pointsAvailable transactions(first: 5) { edges { node { points } } } }
    referralsMade { edges { node { status } } }
    referredBy { code }
    npsResponses { edges { node { score } } }
    stats { ordersCount lifetimeValue { amount } }
  } } }
}"#;

/// Statements one request costs, measured from the server's own counter.
pub async fn statements_for(app: &TestApp, n: i64) -> u64 {
    let before = app.sql_statements().await;
    let data = app.query(NESTED, json!({ "n": n })).await;
    let after = app.sql_statements().await;
    let edges = data["customers"]["edges"].as_array().expect("edges");
    assert_eq!(edges.len() as i64, n);
    after - before
}

both_stores! {
    async fn a_nested_list_costs_the_same_statements_for_5_and_50_customers(app: TestApp) {
        app.seed(60).await;
        let five = statements_for(&app, 5).await;
        let fifty = statements_for(&app, 50).await;
        assert_eq!(five, fifty, "statements must not grow with the list");
        // One per relation level: customers, orders, lines, tickets, messages,
        // reviews, loyalty, transactions, referrals, referred-by, NPS, stats.
        assert_eq!(fifty, 12, "statement budget of the nested list");
        // Repeated runs cost the same: batching does not depend on timing.
        for _ in 0..3 {
            assert_eq!(statements_for(&app, 50).await, 12);
        }
    }
}
