//! Store credit through the API: issuing and redeeming with balances and
//! history by hand, idempotent redemptions and key conflicts, 20 concurrent
//! redemptions that never overdraw, refunds to store credit, referral
//! rewards in credit, expiry by moving the clock (soonest-expiring credit
//! spent first, told once, the unspent rest written off), every bad input
//! and who may read and write. Values are worked out by hand.

use c360::auth::Role;
use c360::config::ReferralReward;
use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::writes_orders::{INGEST, STATUS, codes, field, first_customer, gid, order_of, partner};
use crate::{both_stores, each_store};

const ISSUE: &str = r#"
mutation Issue($c: ID!, $a: Int!, $cur: String!, $r: String, $exp: DateTime, $k: String) {
  issueStoreCredit(customerId: $c, amount: $a, currency: $cur, reason: $r, expiresAt: $exp, idempotencyKey: $k) {
    id kind amount { amount currencyCode } balanceAfter { amount currencyCode } expiresAt orderId reason
  }
}"#;

const REDEEM: &str = r#"
mutation Redeem($c: ID!, $a: Int!, $cur: String!, $k: String!) {
  redeemStoreCredit(customerId: $c, amount: $a, currency: $cur, idempotencyKey: $k) {
    id kind amount { amount currencyCode } balanceAfter { amount currencyCode }
  }
}"#;

const CREDIT: &str = r#"
query Credit($id: ID!, $first: Int, $after: String) {
  customer(id: $id) { storeCredit {
    balances { available { amount currencyCode } currencyCode nextExpiry { at amount { amount } } }
    history(first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { kind amount { amount currencyCode } balanceAfter { amount } expiresAt orderId reason } }
    }
  } }
}"#;

const REFUND: &str = r#"
mutation Refund($id: ID!, $amount: Int!, $to: RefundDestination) {
  orderRefund(id: $id, amount: $amount, refundTo: $to) { status refunded { amount } }
}"#;

const EVENTS: &str = r#"
query($types: [String!], $customer: ID) {
  events(first: 100, types: $types, customerId: $customer) { edges { node { type data } } }
}"#;

const SIGN_UP: &str = r#"
mutation($input: CustomerCreateInput!) { customerCreate(input: $input) { id } }"#;

fn issue_vars(customer: i64, amount: i64, currency: &str, reason: Option<&str>) -> Value {
    json!({ "c": gid("Customer", customer), "a": amount, "cur": currency, "r": reason })
}

fn redeem_vars(customer: i64, amount: i64, currency: &str, key: &str) -> Value {
    json!({ "c": gid("Customer", customer), "a": amount, "cur": currency, "k": key })
}

/// Issues as staff, failing on any error; the entry.
async fn issue(app: &TestApp, vars: Value) -> Value {
    let (_, body) = app.post(ISSUE, vars, Some(&app.staff())).await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["issueStoreCredit"].clone()
}

/// `Customer.storeCredit` as staff.
async fn credit_of(app: &TestApp, customer: i64) -> Value {
    app.query(
        CREDIT,
        json!({ "id": gid("Customer", customer), "first": 50 }),
    )
    .await["customer"]["storeCredit"]
        .clone()
}

/// The available balances, as `(amount, currency)`.
fn balances(credit: &Value) -> Vec<(String, String)> {
    credit["balances"]
        .as_array()
        .expect("balances")
        .iter()
        .map(|b| {
            (
                b["available"]["amount"]
                    .as_str()
                    .expect("amount")
                    .to_owned(),
                b["currencyCode"].as_str().expect("currency").to_owned(),
            )
        })
        .collect()
}

/// The history, newest first, as `(kind, amount, balance after)`.
fn history(credit: &Value) -> Vec<(String, String, String)> {
    credit["history"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| {
            let n = &e["node"];
            (
                n["kind"].as_str().expect("kind").to_owned(),
                n["amount"]["amount"].as_str().expect("amount").to_owned(),
                n["balanceAfter"]["amount"]
                    .as_str()
                    .expect("after")
                    .to_owned(),
            )
        })
        .collect()
}

fn h(kind: &str, amount: &str, after: &str) -> (String, String, String) {
    (kind.to_owned(), amount.to_owned(), after.to_owned())
}

/// The data of the customer's events of `types`, oldest first.
async fn events_of(app: &TestApp, customer: i64, types: &[&str]) -> Vec<Value> {
    let data = app
        .query(
            EVENTS,
            json!({ "types": types, "customer": gid("Customer", customer) }),
        )
        .await;
    data["events"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| {
            let mut d = e["node"]["data"].clone();
            d["type"] = e["node"]["type"].clone();
            d
        })
        .collect()
}

/// Rows of the store credit tables and the writes around them, to show a
/// refused write left nothing behind.
async fn footprint(app: &TestApp) -> Vec<i64> {
    let mut out = Vec::new();
    for sql in [
        "SELECT COUNT(*) FROM store_credit_entries",
        "SELECT CAST(COALESCE(SUM(balance), 0) AS BIGINT) FROM store_credit_balances",
        "SELECT COUNT(*) FROM store_credit_balances",
        "SELECT COUNT(*) FROM events",
        "SELECT COUNT(*) FROM audit_events",
        "SELECT CAST(COALESCE(SUM(refunded), 0) AS BIGINT) FROM orders",
    ] {
        out.push(app.scalar(sql).await);
    }
    out
}

/// What the ledger sums to, per customer and currency, against the cache.
async fn assert_cache_matches_ledger(app: &TestApp) {
    let off = app
        .scalar(
            "SELECT COUNT(*) FROM store_credit_balances b WHERE b.balance <> \
             (SELECT COALESCE(SUM(e.amount), 0) FROM store_credit_entries e \
              WHERE e.customer_id = b.customer_id AND e.currency = b.currency)",
        )
        .await;
    assert_eq!(off, 0, "every balance equals its ledger");
}

both_stores! {
    async fn issued_and_redeemed_credit_shows_in_balances_history_and_events(app: TestApp) {
        app.seed(2).await;
        let id = first_customer(&app).await;
        let own = app.token(Role::Customer, &id.to_string(), &[]);
        let wallet = app.token(Role::Partner, "wallet", &["loyalty:write"]);

        let usd = issue(&app, issue_vars(id, 10_000, "USD", Some("late delivery"))).await;
        assert_eq!(usd["kind"], "ISSUE");
        assert_eq!(usd["amount"], json!({ "amount": "100.00", "currencyCode": "USD" }));
        assert_eq!(usd["balanceAfter"]["amount"], "100.00");
        assert_eq!(usd["reason"], "late delivery");
        assert_eq!(usd["expiresAt"], Value::Null);
        // A partner may issue without a reason.
        let (_, body) = app.post(ISSUE, issue_vars(id, 2_500, "EUR", None), Some(&wallet)).await;
        assert_eq!(body["data"]["issueStoreCredit"]["balanceAfter"]["amount"], "25.00", "{body}");
        let (_, body) = app.post(REDEEM, redeem_vars(id, 3_050, "USD", "basket-1"), Some(&own)).await;
        let redeemed = &body["data"]["redeemStoreCredit"];
        assert_eq!(redeemed["kind"], "REDEEM", "{body}");
        assert_eq!(redeemed["amount"]["amount"], "-30.50");
        assert_eq!(redeemed["balanceAfter"]["amount"], "69.50");
        let (_, body) = app.post(ISSUE, issue_vars(id, 50, "JPY", None), Some(&wallet)).await;
        assert_eq!(body["data"]["issueStoreCredit"]["balanceAfter"]["amount"], "50", "{body}");

        let credit = credit_of(&app, id).await;
        assert_eq!(
            balances(&credit),
            [("25.00".to_owned(), "EUR".to_owned()), ("50".to_owned(), "JPY".to_owned()), ("69.50".to_owned(), "USD".to_owned())]
        );
        assert!(credit["balances"].as_array().expect("b").iter().all(|b| b["nextExpiry"].is_null()));
        assert_eq!(
            history(&credit),
            [h("ISSUE", "50", "50"), h("REDEEM", "-30.50", "69.50"), h("ISSUE", "25.00", "25.00"), h("ISSUE", "100.00", "100.00")]
        );
        assert_eq!(credit["history"]["totalCount"], 4);

        // Keyset pages of two.
        let page = |after: Value| {
            let app = &app;
            async move {
                app.query(CREDIT, json!({ "id": gid("Customer", id), "first": 2, "after": after }))
                    .await["customer"]["storeCredit"]
                    .clone()
            }
        };
        let first = page(Value::Null).await;
        assert_eq!(history(&first), [h("ISSUE", "50", "50"), h("REDEEM", "-30.50", "69.50")]);
        assert_eq!(first["history"]["pageInfo"]["hasNextPage"], true);
        let second = page(first["history"]["pageInfo"]["endCursor"].clone()).await;
        assert_eq!(history(&second), [h("ISSUE", "25.00", "25.00"), h("ISSUE", "100.00", "100.00")]);
        assert_eq!(second["history"]["pageInfo"]["hasNextPage"], false);

        let events = events_of(&app, id, &["store_credit.issued", "store_credit.redeemed"]).await;
        assert_eq!(events.len(), 4, "{events:?}");
        assert_eq!(events[0]["type"], "store_credit.issued");
        assert_eq!(events[0]["kind"], "ISSUE");
        assert_eq!(events[0]["amount"], json!({ "amount": "100.00", "currencyCode": "USD" }));
        assert_eq!(events[0]["balanceAfter"]["amount"], "100.00");
        assert_eq!(events[0]["entry"]["id"], usd["id"]);
        assert_eq!(events[2]["type"], "store_credit.redeemed");
        assert_eq!(events[2]["amount"], json!({ "amount": "30.50", "currencyCode": "USD" }));
        assert_eq!(events[2]["balanceAfter"]["amount"], "69.50");
        assert!(!events[0].to_string().contains("late delivery"), "no free text in events");
        assert_eq!(app.scalar("SELECT COUNT(*) FROM audit_events WHERE action = 'store_credit.issue'").await, 3);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM audit_events WHERE action = 'store_credit.redeem'").await, 1);
        assert_cache_matches_ledger(&app).await;
    }
}

both_stores! {
    async fn a_retried_redemption_returns_the_first_result_and_a_reused_key_is_a_conflict(app: TestApp) {
        app.seed(1).await;
        let id = first_customer(&app).await;
        issue(&app, issue_vars(id, 5_000, "USD", Some("goodwill"))).await;
        let issued = issue(&app, json!({ "c": gid("Customer", id), "a": 700, "cur": "EUR", "r": "x", "k": "grant-1" })).await;
        let wallet = app.token(Role::Partner, "wallet", &["loyalty:write"]);

        let (_, first) = app.post(REDEEM, redeem_vars(id, 1_200, "USD", "order-77"), Some(&wallet)).await;
        let first = first["data"]["redeemStoreCredit"].clone();
        assert_eq!(first["balanceAfter"]["amount"], "38.00", "{first}");
        let before = footprint(&app).await;
        let (_, again) = app.post(REDEEM, redeem_vars(id, 1_200, "USD", " order-77 "), Some(&wallet)).await;
        assert_eq!(again["data"]["redeemStoreCredit"], first, "a retry answers with the first result");
        assert_eq!(footprint(&app).await, before, "and writes nothing");
        // The same key for another amount, or another currency, is refused.
        for vars in [redeem_vars(id, 1_300, "USD", "order-77"), redeem_vars(id, 1_200, "EUR", "order-77")] {
            let (_, body) = app.post(REDEEM, vars, Some(&wallet)).await;
            assert_eq!(codes(&body), ["CONFLICT"], "{body}");
            assert!(body["errors"][0]["message"].as_str().expect("m").contains("idempotencyKey"), "{body}");
        }
        // An issue retried with its key is one entry too.
        let again = issue(&app, json!({ "c": gid("Customer", id), "a": 700, "cur": "EUR", "r": "x", "k": "grant-1" })).await;
        assert_eq!(again["id"], issued["id"]);
        assert_eq!(footprint(&app).await, before);
        assert_eq!(balances(&credit_of(&app, id).await), [("7.00".to_owned(), "EUR".to_owned()), ("38.00".to_owned(), "USD".to_owned())]);
    }
}

both_stores! {
    async fn twenty_concurrent_redemptions_never_overdraw(app: TestApp) {
        app.seed(1).await;
        let id = first_customer(&app).await;
        issue(&app, issue_vars(id, 100, "USD", Some("test balance"))).await;
        let wallet = app.token(Role::Partner, "wallet", &["loyalty:write"]);
        let calls = (0..20).map(|i| {
            let (app, wallet) = (&app, wallet.clone());
            async move { app.post(REDEEM, redeem_vars(id, 30, "USD", &format!("c-{i}")), Some(&wallet)).await.1 }
        });
        let bodies: Vec<Value> = join_all(calls).await;
        let ok = bodies.iter().filter(|b| b.get("errors").is_none()).count();
        let short = bodies.iter().filter(|b| codes(b) == ["CONFLICT"]).count();
        assert_eq!((ok, short), (3, 17), "{bodies:?}");
        let mut after: Vec<&str> = bodies
            .iter()
            .filter_map(|b| b["data"]["redeemStoreCredit"]["balanceAfter"]["amount"].as_str())
            .collect();
        after.sort_unstable();
        assert_eq!(after, ["0.10", "0.40", "0.70"]);
        assert_eq!(balances(&credit_of(&app, id).await), [("0.10".to_owned(), "USD".to_owned())]);
        assert_eq!(app.scalar("SELECT balance FROM store_credit_balances").await, 10);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM store_credit_entries WHERE kind = 'REDEEM'").await, 3);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM events WHERE event_type = 'store_credit.redeemed'").await, 3);
        assert_cache_matches_ledger(&app).await;
    }
}

both_stores! {
    async fn every_bad_input_is_one_clear_error_and_writes_nothing(app: TestApp) {
        app.seed(2).await;
        let id = first_customer(&app).await;
        let staff = app.staff();
        let own = app.token(Role::Customer, &id.to_string(), &[]);
        let reader = app.token(Role::Partner, "crm", &["loyalty:read"]);
        issue(&app, issue_vars(id, 100, "USD", Some("test balance"))).await;
        let before = footprint(&app).await;

        let (_, body) = app.post(REDEEM, redeem_vars(id, 101, "USD", "k1"), Some(&own)).await;
        assert_eq!(codes(&body), ["CONFLICT"], "{body}");
        let message = body["errors"][0]["message"].as_str().expect("message");
        assert!(message.contains("insufficient store credit") && message.contains("1.00 USD available"), "{message}");
        let (_, body) = app.post(REDEEM, redeem_vars(id, 10, "EUR", "k2"), Some(&own)).await;
        assert_eq!((codes(&body), field(&body)), (vec!["BAD_USER_INPUT".to_owned()], "currency"), "{body}");
        for bad in ["usd", "US", "DOLLAR"] {
            let (_, body) = app.post(REDEEM, redeem_vars(id, 10, bad, "k3"), Some(&own)).await;
            assert_eq!((codes(&body), field(&body)), (vec!["BAD_USER_INPUT".to_owned()], "currency"), "{body}");
            let (_, body) = app.post(ISSUE, issue_vars(id, 10, bad, Some("r")), Some(&staff)).await;
            assert_eq!((codes(&body), field(&body)), (vec!["BAD_USER_INPUT".to_owned()], "currency"), "{body}");
        }
        for amount in [0, -5] {
            let (_, body) = app.post(REDEEM, redeem_vars(id, amount, "USD", "k4"), Some(&own)).await;
            assert_eq!((codes(&body), field(&body)), (vec!["BAD_USER_INPUT".to_owned()], "amount"), "{body}");
            let (_, body) = app.post(ISSUE, issue_vars(id, amount, "USD", Some("r")), Some(&staff)).await;
            assert_eq!((codes(&body), field(&body)), (vec!["BAD_USER_INPUT".to_owned()], "amount"), "{body}");
        }
        let (_, body) = app.post(REDEEM, redeem_vars(id, 10, "USD", "  "), Some(&own)).await;
        assert_eq!((codes(&body), field(&body)), (vec!["BAD_USER_INPUT".to_owned()], "idempotencyKey"), "{body}");
        // Unknown customers, and another customer's credit for a customer.
        let (_, body) = app.post(ISSUE, issue_vars(999_999, 10, "USD", Some("r")), Some(&staff)).await;
        assert_eq!(codes(&body), ["NOT_FOUND"], "{body}");
        let (_, body) = app.post(REDEEM, redeem_vars(999_999, 10, "USD", "k5"), Some(&staff)).await;
        assert_eq!(codes(&body), ["NOT_FOUND"], "{body}");
        let other = app.scalar("SELECT MAX(id) FROM customers").await;
        let theirs = app.token(Role::Customer, &other.to_string(), &[]);
        let (_, body) = app.post(REDEEM, redeem_vars(id, 10, "USD", "k6"), Some(&theirs)).await;
        assert_eq!(codes(&body), ["NOT_FOUND"], "{body}");
        // Staff say why; a reason is text of 1 to 500 characters.
        for reason in [None, Some("   "), Some(&*"x".repeat(501))] {
            let (_, body) = app.post(ISSUE, issue_vars(id, 10, "USD", reason), Some(&staff)).await;
            assert_eq!((codes(&body), field(&body)), (vec!["BAD_USER_INPUT".to_owned()], "reason"), "{body}");
        }
        let past = (app.clock.now() - TimeDelta::minutes(1)).to_rfc3339();
        let (_, body) = app.post(ISSUE, json!({ "c": gid("Customer", id), "a": 10, "cur": "USD", "r": "r", "exp": past }), Some(&staff)).await;
        assert_eq!((codes(&body), field(&body)), (vec!["BAD_USER_INPUT".to_owned()], "expiresAt"), "{body}");
        // Who may write: not a partner without `loyalty:write`, not a
        // customer issuing to itself, not anonymous callers.
        let (_, body) = app.post(ISSUE, issue_vars(id, 10, "USD", None), Some(&reader)).await;
        assert_eq!(codes(&body), ["FORBIDDEN"], "{body}");
        let (_, body) = app.post(REDEEM, redeem_vars(id, 10, "USD", "k7"), Some(&reader)).await;
        assert_eq!(codes(&body), ["FORBIDDEN"], "{body}");
        let (_, body) = app.post(ISSUE, issue_vars(id, 10, "USD", Some("mine")), Some(&own)).await;
        assert_eq!(codes(&body), ["FORBIDDEN"], "{body}");
        let (_, body) = app.post(REDEEM, redeem_vars(id, 10, "USD", "k8"), None).await;
        assert_eq!(codes(&body), ["UNAUTHENTICATED"], "{body}");
        assert_eq!(footprint(&app).await, before, "nothing half-written");
        let text = format!("{}", app.post(REDEEM, redeem_vars(id, 101, "USD", "k9"), Some(&own)).await.1);
        assert!(!text.contains("SELECT") && !text.contains("store_credit_"), "no SQL in an answer: {text}");
    }
}

both_stores! {
    async fn store_credit_is_read_by_staff_the_customer_itself_and_loyalty_readers(app: TestApp) {
        app.seed(2).await;
        let id = first_customer(&app).await;
        let other = app.scalar("SELECT MAX(id) FROM customers").await;
        issue(&app, issue_vars(id, 1_234, "USD", Some("test balance"))).await;
        let query = "query($id: ID!) { customer(id: $id) { storeCredit { balances { available { amount } } } } }";
        let read = |token: String, who: i64| {
            let app = &app;
            async move { app.post(query, json!({ "id": gid("Customer", who) }), Some(&token)).await.1 }
        };
        for token in [
            app.staff(),
            app.token(Role::Customer, &id.to_string(), &[]),
            app.token(Role::Partner, "crm", &["customers:read", "loyalty:read"]),
        ] {
            let body = read(token, id).await;
            assert_eq!(body["data"]["customer"]["storeCredit"]["balances"][0]["available"]["amount"], "12.34", "{body}");
        }
        // Without `loyalty:read` the field is null and FORBIDDEN.
        let body = read(app.token(Role::Partner, "crm", &["customers:read"]), id).await;
        assert_eq!(codes(&body), ["FORBIDDEN"], "{body}");
        assert_eq!(body["data"]["customer"]["storeCredit"], Value::Null, "{body}");
        // Another customer's record is not visible to a customer at all.
        let body = read(app.token(Role::Customer, &other.to_string(), &[]), id).await;
        assert_eq!(body["data"]["customer"], Value::Null, "{body}");
    }
}

both_stores! {
    async fn balances_and_history_cost_the_same_statements_for_2_and_20_customers(app: TestApp) {
        app.seed(20).await;
        let ids = app.ids("SELECT id FROM customers ORDER BY id").await;
        for (n, &id) in ids.iter().enumerate() {
            issue(&app, issue_vars(id, 1_000 + n as i64, "USD", Some("test balance"))).await;
            issue(&app, issue_vars(id, 500, "EUR", Some("test balance"))).await;
        }
        let q = r#"query($n: Int!) { customers(first: $n) { edges { node { id storeCredit {
            balances { available { amount } nextExpiry { at } }
            history(first: 5) { totalCount edges { node { kind amount { amount } } } } } } } } }"#;
        let mut costs = Vec::new();
        for n in [2, 20] {
            let before = app.sql_statements().await;
            let data = app.query(q, json!({ "n": n })).await;
            costs.push(app.sql_statements().await - before);
            let edges = data["customers"]["edges"].as_array().expect("edges");
            assert_eq!(edges.len(), n as usize);
            for e in edges {
                let credit = &e["node"]["storeCredit"];
                assert_eq!(credit["balances"].as_array().expect("b").len(), 2, "{credit}");
                assert_eq!(credit["history"]["totalCount"], 2, "{credit}");
            }
        }
        assert_eq!(costs[0], costs[1], "{costs:?}");
    }
}

/// A paid order of `total` cents; its id.
async fn paid_order(app: &TestApp, customer: i64, reference: &str, total: i64) -> Value {
    let (_, body) = app
        .post(
            INGEST,
            json!({ "input": order_of(customer, reference, "PAID", total) }),
            Some(&partner(app)),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["orderIngest"]["id"].clone()
}

both_stores! {
    async fn a_refund_to_store_credit_credits_the_refunded_amount_in_the_orders_currency(app: TestApp) {
        app.seed(1).await;
        let id = first_customer(&app).await;
        let order = paid_order(&app, id, "sc-1", 5_000).await;
        let clawbacks_sql = format!(
            "SELECT COUNT(*) FROM loyalty_transactions WHERE customer_id = {id} AND kind = 'CLAWBACK'"
        );
        let clawbacks = || app.scalar(&clawbacks_sql);
        let clawed_before = clawbacks().await;

        // A partner needs `loyalty:write` as well as `orders:write`.
        let pos = partner(&app);
        let before = footprint(&app).await;
        let (_, body) = app.post(REFUND, json!({ "id": order, "amount": 2_000, "to": "STORE_CREDIT" }), Some(&pos)).await;
        assert_eq!(codes(&body), ["FORBIDDEN"], "{body}");
        assert_eq!(footprint(&app).await, before);
        // The refund's own rules still apply.
        let both = app.token(Role::Partner, "pos-2", &["orders:write", "loyalty:write"]);
        let (_, body) = app.post(REFUND, json!({ "id": order, "amount": 6_000, "to": "STORE_CREDIT" }), Some(&both)).await;
        assert_eq!((codes(&body), field(&body)), (vec!["BAD_USER_INPUT".to_owned()], "amount"), "{body}");
        assert_eq!(footprint(&app).await, before);

        let (_, body) = app.post(REFUND, json!({ "id": order, "amount": 2_000, "to": "STORE_CREDIT" }), Some(&both)).await;
        assert_eq!(body["data"]["orderRefund"], json!({ "status": "PARTIALLY_REFUNDED", "refunded": { "amount": "20.00" } }), "{body}");
        assert_eq!(clawbacks().await, clawed_before + 1, "points are taken back as for any refund");
        // A refund to the payment method adds no credit.
        let (_, body) = app.post(REFUND, json!({ "id": order, "amount": 500 }), Some(&pos)).await;
        assert_eq!(body["data"]["orderRefund"]["refunded"]["amount"], "25.00", "{body}");
        let (_, body) = app.post(REFUND, json!({ "id": order, "amount": 2_500, "to": "STORE_CREDIT" }), Some(&app.staff())).await;
        assert_eq!(body["data"]["orderRefund"]["status"], "REFUNDED", "{body}");

        let credit = credit_of(&app, id).await;
        assert_eq!(balances(&credit), [("45.00".to_owned(), "USD".to_owned())]);
        assert_eq!(history(&credit), [h("REFUND_TO_CREDIT", "25.00", "45.00"), h("REFUND_TO_CREDIT", "20.00", "20.00")]);
        assert_eq!(credit["history"]["edges"][0]["node"]["orderId"], order);
        let events = events_of(&app, id, &["store_credit.issued"]).await;
        assert_eq!(events.len(), 2);
        assert_eq!(events[0]["kind"], "REFUND_TO_CREDIT");
        assert_eq!(events[0]["amount"], json!({ "amount": "20.00", "currencyCode": "USD" }));
        assert_eq!(events[1]["balanceAfter"]["amount"], "45.00");
        assert_eq!(events[1]["entry"]["orderId"], order);
        assert_cache_matches_ledger(&app).await;
    }
}

/// Signs a new customer up with `referrer`'s code and pays its first order
/// of 30.00 USD; the referee's id.
async fn referred_first_order(app: &TestApp, referrer: i64) -> i64 {
    let code = app
        .text(&format!(
            "SELECT referral_code FROM loyalty_accounts WHERE customer_id = {referrer}"
        ))
        .await;
    let crm = app.token(
        Role::Partner,
        "shop",
        &["customers:write", "customers:read"],
    );
    let (_, body) = app
        .post(SIGN_UP, json!({ "input": { "profile": { "email": "friend@example.com" }, "referralCode": code } }), Some(&crm))
        .await;
    let referee: i64 = body["data"]["customerCreate"]["id"]
        .as_str()
        .expect("id")
        .rsplit('/')
        .next()
        .expect("n")
        .parse()
        .expect("int");
    let (_, body) = app
        .post(
            INGEST,
            json!({ "input": order_of(referee, "ref-1", "PENDING", 3_000) }),
            Some(&partner(app)),
        )
        .await;
    let order = body["data"]["orderIngest"]["id"].clone();
    let (_, body) = app
        .post(
            STATUS,
            json!({ "id": order, "status": "PAID" }),
            Some(&partner(app)),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    // A second paid order rewards nothing more.
    paid_order(app, referee, "ref-2", 9_000).await;
    referee
}

async fn points_of(app: &TestApp, customer: i64) -> i64 {
    app.scalar(&format!(
        "SELECT points_available FROM loyalty_accounts WHERE customer_id = {customer}"
    ))
    .await
}

each_store! {
    async fn referral_rewards_can_be_credit_for_one_side_and_both_for_the_other(store: StoreKind) {
        let app = TestApp::spawn(store, |c| {
            c.referral_referrer_reward = ReferralReward::Credit;
            c.referral_referrer_credit = 1_500;
            c.referral_referee_reward = ReferralReward::Both;
            c.referral_referee_credit = 500;
            c.loyalty_return_window = std::time::Duration::ZERO;
        })
        .await;
        app.seed(1).await;
        let referrer = first_customer(&app).await;
        let points_before = points_of(&app, referrer).await;
        let referee = referred_first_order(&app, referrer).await;

        // The referrer: credit only, no referral points.
        assert_eq!(points_of(&app, referrer).await, points_before);
        assert_eq!(history(&credit_of(&app, referrer).await), [h("REFERRAL_REWARD", "15.00", "15.00")]);
        // The referee: 500 points and 5.00 USD (plus the points its own
        // orders earned: 30 + 90 at one point per dollar).
        assert_eq!(points_of(&app, referee).await, 500 + 30 + 90);
        assert_eq!(history(&credit_of(&app, referee).await), [h("REFERRAL_REWARD", "5.00", "5.00")]);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM store_credit_entries WHERE kind = 'REFERRAL_REWARD'").await, 2);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM loyalty_transactions WHERE kind = 'REFERRAL_BONUS'").await, 1);
        let referral = app.scalar(&format!("SELECT id FROM referrals WHERE referee_customer_id = {referee}")).await;
        assert_eq!(app.text(&format!("SELECT status FROM referrals WHERE id = {referral}")).await, "REWARDED");
        assert_eq!(app.scalar(&format!("SELECT referrer_reward_points FROM referrals WHERE id = {referral}")).await, 0);
        let told = events_of(&app, referrer, &["store_credit.issued", "referral.rewarded"]).await;
        assert_eq!(told.len(), 2, "{told:?}");
        assert_eq!(told[0]["type"], "referral.rewarded");
        assert_eq!(told[1]["kind"], "REFERRAL_REWARD");
        assert_eq!(told[1]["amount"], json!({ "amount": "15.00", "currencyCode": "USD" }));
    }
}

each_store! {
    async fn referral_rewards_stay_points_only_by_default(store: StoreKind) {
        let app = TestApp::spawn(store, |c| c.loyalty_return_window = std::time::Duration::ZERO).await;
        app.seed(1).await;
        let referrer = first_customer(&app).await;
        let before = points_of(&app, referrer).await;
        let referee = referred_first_order(&app, referrer).await;
        assert_eq!(points_of(&app, referrer).await, before + 1_000);
        assert_eq!(points_of(&app, referee).await, 500 + 30 + 90);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM store_credit_entries").await, 0);
    }
}

fn at(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().expect("a time"))
        .expect("rfc3339")
        .with_timezone(&Utc)
}

both_stores! {
    async fn credit_expiring_first_is_spent_first_told_once_and_written_off_when_it_expires(app: TestApp) {
        app.seed(1).await;
        let id = first_customer(&app).await;
        let t0 = app.clock.now().trunc_subsecs(0);
        let in_days = |d: i64| (t0 + TimeDelta::days(d)).to_rfc3339();
        let grant = |amount: i64, exp: Option<String>| json!({ "c": gid("Customer", id), "a": amount, "cur": "USD", "r": "promo", "exp": exp });
        // A: 50.00 expiring in 30 days; B: 30.00 in 10 days; C: 20.00 never.
        let a = issue(&app, grant(5_000, Some(in_days(30)))).await;
        let b = issue(&app, grant(3_000, Some(in_days(10)))).await;
        issue(&app, grant(2_000, None)).await;
        assert_eq!(at(&a["expiresAt"]), t0 + TimeDelta::days(30));
        // Spending 40.00 takes all of B (soonest) and 10.00 of A.
        let own = app.token(Role::Customer, &id.to_string(), &[]);
        let (_, body) = app.post(REDEEM, redeem_vars(id, 4_000, "USD", "r-1"), Some(&own)).await;
        assert_eq!(body["data"]["redeemStoreCredit"]["balanceAfter"]["amount"], "60.00", "{body}");
        let credit = credit_of(&app, id).await;
        let next = &credit["balances"][0]["nextExpiry"];
        assert_eq!((at(&next["at"]), next["amount"]["amount"].clone()), (t0 + TimeDelta::days(30), json!("40.00")));

        // Nothing expires within the 14-day notice yet (B is spent).
        assert_eq!(app.tick().await.credit_expiring, 0);
        app.clock.advance(TimeDelta::days(20));
        let ticked = app.tick().await;
        assert_eq!((ticked.credit_expiring, ticked.credit_expired), (1, 0));
        assert_eq!(app.tick().await.credit_expiring, 0, "each entry is told once");
        let expiring = events_of(&app, id, &["store_credit.expiring"]).await;
        assert_eq!(expiring.len(), 1);
        assert_eq!(expiring[0]["amount"], json!({ "amount": "40.00", "currencyCode": "USD" }));
        assert_eq!(expiring[0]["entry"]["id"], a["id"]);
        assert_eq!(at(&expiring[0]["expiresAt"]), t0 + TimeDelta::days(30));
        assert_ne!(expiring[0]["entry"]["id"], b["id"]);

        // At A's expiry its unspent 40.00 is written off, and only that.
        app.clock.advance(TimeDelta::days(10));
        let ticked = app.tick().await;
        assert_eq!(ticked.credit_expired, 1);
        assert_eq!(app.tick().await.credit_expired, 0, "nothing expires twice");
        let credit = credit_of(&app, id).await;
        assert_eq!(balances(&credit), [("20.00".to_owned(), "USD".to_owned())]);
        assert!(credit["balances"][0]["nextExpiry"].is_null());
        assert_eq!(history(&credit)[0], h("EXPIRE", "-40.00", "20.00"));
        let expired = events_of(&app, id, &["store_credit.expired"]).await;
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0]["amount"]["amount"], "40.00");
        assert_eq!(expired[0]["balanceAfter"]["amount"], "20.00");
        assert_eq!(expired[0]["expiredEntryIds"], json!([a["id"]]));

        // Credit past its expiry is never spent or shown, even before a
        // pass: a redemption cannot reach it, a read writes it off.
        issue(&app, grant(1_000, Some((app.clock.now() + TimeDelta::days(1)).to_rfc3339()))).await;
        app.clock.advance(TimeDelta::days(2));
        let (_, body) = app.post(REDEEM, redeem_vars(id, 2_500, "USD", "r-2"), Some(&own)).await;
        assert_eq!(codes(&body), ["CONFLICT"], "{body}");
        assert!(body["errors"][0]["message"].as_str().expect("m").contains("20.00 USD available"), "{body}");
        assert_eq!(balances(&credit_of(&app, id).await), [("20.00".to_owned(), "USD".to_owned())]);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM store_credit_entries WHERE kind = 'EXPIRE'").await, 2);
        assert_eq!(app.tick().await.credit_expired, 0);
        assert_cache_matches_ledger(&app).await;
    }
}

both_stores! {
    async fn a_merged_customers_credit_moves_to_the_kept_one(app: TestApp) {
        app.seed(2).await;
        let keep = first_customer(&app).await;
        let merge = app.scalar("SELECT MAX(id) FROM customers").await;
        issue(&app, issue_vars(keep, 1_000, "USD", Some("goodwill"))).await;
        issue(&app, issue_vars(merge, 2_500, "USD", Some("goodwill"))).await;
        issue(&app, issue_vars(merge, 700, "EUR", Some("goodwill"))).await;
        let (_, body) = app
            .post(REDEEM, redeem_vars(merge, 500, "USD", "shared-key"), Some(&app.staff()))
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        app.query(
            "mutation($k: ID!, $m: ID!) { customerMerge(keep: $k, merge: $m) { id } }",
            json!({ "k": gid("Customer", keep), "m": gid("Customer", merge) }),
        )
        .await;
        let credit = credit_of(&app, keep).await;
        assert_eq!(
            balances(&credit),
            [("7.00".to_owned(), "EUR".to_owned()), ("30.00".to_owned(), "USD".to_owned())]
        );
        assert_eq!(credit["history"]["totalCount"], 4);
        // The merged customer's keys stay apart from the kept one's.
        let (_, body) = app
            .post(REDEEM, redeem_vars(keep, 500, "USD", "shared-key"), Some(&app.staff()))
            .await;
        assert_eq!(body["data"]["redeemStoreCredit"]["balanceAfter"]["amount"], "25.00", "{body}");
        assert_eq!(app.scalar(&format!("SELECT COUNT(*) FROM store_credit_balances WHERE customer_id = {merge}")).await, 0);
        assert_cache_matches_ledger(&app).await;
    }
}
