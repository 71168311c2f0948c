//! Order writes through the API: idempotent ingest, validation that writes
//! nothing, status transitions, refunds, and the points, tier and stats they
//! move.

use c360::auth::Role;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::both_stores;
use crate::helpers::TestApp;
pub use crate::helpers::{codes, gid};

pub const INGEST: &str = r#"
mutation Ingest($input: OrderIngestInput!) {
  orderIngest(input: $input) {
    id orderNumber externalRef status currencyCode
    total { amount currencyCode } refunded { amount } net { amount }
    lines(first: 10) { edges { node { sku quantity unitPrice { amount } total { amount } } } }
  }
}"#;

pub const STATUS: &str = r#"
mutation Status($id: ID!, $status: OrderStatus!) {
  orderUpdateStatus(id: $id, status: $status) { id status refunded { amount } }
}"#;

pub const REFUND: &str = r#"
mutation Refund($id: ID!, $amount: Int!) {
  orderRefund(id: $id, amount: $amount) { id status refunded { amount } net { amount } }
}"#;

pub fn field(body: &Value) -> &str {
    body["errors"][0]["extensions"]["field"]
        .as_str()
        .unwrap_or("<none>")
}

pub fn partner(app: &TestApp) -> String {
    app.token(
        Role::Partner,
        "pos-1",
        &[
            "orders:write",
            "orders:read",
            "customers:read",
            "loyalty:read",
        ],
    )
}

/// An order of two lines: 2 × 2,500.00 + 1 × 1,000.00 - 50.00 + 50.00 = 6,000.00 USD.
pub fn big_order(customer: i64, external_ref: &str, status: &str) -> Value {
    json!({
        "customerId": gid("Customer", customer),
        "externalRef": external_ref,
        "status": status,
        "channel": "POS",
        "currencyCode": "USD",
        "discount": 5000,
        "tax": 5000,
        "total": 600000,
        "lines": [
            { "sku": "LIP-001", "productName": "Lipstick", "quantity": 2, "unitPrice": 250000 },
            { "sku": "EYE-002", "productName": "Mascara", "quantity": 1, "unitPrice": 100000 }
        ]
    })
}

/// One order of `total` cents on one line.
pub fn order_of(customer: i64, external_ref: &str, status: &str, total: i64) -> Value {
    json!({
        "customerId": gid("Customer", customer),
        "externalRef": external_ref,
        "status": status,
        "currencyCode": "USD",
        "total": total,
        "lines": [{ "sku": "SKU-1", "productName": "Thing", "quantity": 1, "unitPrice": total }]
    })
}

/// Row counts and sums that any write would change.
pub async fn snapshot(app: &TestApp) -> Vec<i64> {
    let mut out = Vec::new();
    for sql in [
        "SELECT COUNT(*) FROM orders",
        "SELECT COUNT(*) FROM order_lines",
        "SELECT COUNT(*) FROM loyalty_transactions",
        "SELECT COUNT(*) FROM audit_events",
        "SELECT CAST(COALESCE(SUM(net_spend), 0) AS BIGINT) FROM customer_metrics",
        "SELECT CAST(COALESCE(SUM(orders_count), 0) AS BIGINT) FROM customer_metrics",
        "SELECT CAST(COALESCE(SUM(points_available + points_pending), 0) AS BIGINT) FROM loyalty_accounts",
        "SELECT CAST(COALESCE(SUM(refunded), 0) AS BIGINT) FROM orders",
        "SELECT COUNT(*) FROM orders WHERE status = 'PAID'",
    ] {
        out.push(app.scalar(sql).await);
    }
    out
}

pub async fn first_customer(app: &TestApp) -> i64 {
    app.scalar("SELECT MIN(id) FROM customers").await
}

async fn metric(app: &TestApp, column: &str, customer: i64) -> i64 {
    app.scalar(&format!(
        "SELECT {column} FROM customer_metrics WHERE customer_id = {customer}"
    ))
    .await
}

async fn account(app: &TestApp, column: &str, customer: i64) -> i64 {
    app.scalar(&format!(
        "SELECT {column} FROM loyalty_accounts WHERE customer_id = {customer}"
    ))
    .await
}

both_stores! {
    async fn ingesting_the_same_order_twice_is_one_order(app: TestApp) {
        app.seed(3).await;
        let id = first_customer(&app).await;
        let token = partner(&app);
        let orders_before = metric(&app, "orders_count", id).await;
        let spend_before = metric(&app, "net_spend", id).await;
        let pending_before = account(&app, "points_pending", id).await;

        let (status, first) = app.post(INGEST, json!({ "input": big_order(id, "pos-77", "PAID") }), Some(&token)).await;
        assert_eq!(status, 200, "{first}");
        assert!(first.get("errors").is_none(), "{first}");
        let order = &first["data"]["orderIngest"];
        assert_eq!(order["status"], "PAID");
        assert_eq!(order["total"], json!({ "amount": "6000.00", "currencyCode": "USD" }));
        assert_eq!(order["lines"]["edges"][0]["node"]["total"]["amount"], "5000.00");
        let number = order["orderNumber"].as_str().expect("number");
        let order_id: i64 = order["id"].as_str().expect("id").rsplit('/').next().expect("num").parse().expect("int");
        assert_eq!(number, format!("C360-{order_id:06}"));

        // The same post again: the first order, nothing new written.
        let counts = snapshot(&app).await;
        let (_, again) = app.post(INGEST, json!({ "input": big_order(id, "pos-77", "PAID") }), Some(&token)).await;
        assert!(again.get("errors").is_none(), "{again}");
        assert_eq!(again["data"]["orderIngest"]["id"], order["id"]);
        assert_eq!(snapshot(&app).await, counts);

        // A different payload under the same externalRef.
        let mut changed = big_order(id, "pos-77", "PAID");
        changed["tax"] = json!(5001);
        changed["total"] = json!(600001);
        let (_, conflict) = app.post(INGEST, json!({ "input": changed }), Some(&token)).await;
        assert_eq!(codes(&conflict), ["CONFLICT"], "{conflict}");
        let message = conflict["errors"][0]["message"].as_str().expect("message");
        assert!(message.contains("pos-77") && message.contains("total"), "{message}");
        assert_eq!(snapshot(&app).await, counts);

        // Stats, points (1 per dollar, pending for the return window) and tier moved.
        assert_eq!(metric(&app, "orders_count", id).await, orders_before + 1);
        assert_eq!(metric(&app, "net_spend", id).await, spend_before + 600_000);
        assert_eq!(account(&app, "points_pending", id).await, pending_before + 6_000);
        assert_eq!(app.scalar(&format!("SELECT COUNT(*) FROM loyalty_transactions WHERE order_id = {order_id}")).await, 1);
        assert_eq!(app.scalar(&format!("SELECT COUNT(*) FROM audit_events WHERE action = 'order.ingest' AND target = 'gid://c360/Order/{order_id}'")).await, 1);
        let profile = app.query(
            "query($id: ID!) { customer(id: $id) { stats { ordersCount } loyalty { tier pointsPending } } }",
            json!({ "id": gid("Customer", id) }),
        ).await;
        assert_eq!(profile["customer"]["loyalty"]["tier"], "PLATINUM");
        assert_eq!(profile["customer"]["loyalty"]["pointsPending"], pending_before + 6_000);
        assert_eq!(profile["customer"]["stats"]["ordersCount"], orders_before + 1);
    }
}

both_stores! {
    async fn invalid_orders_are_rejected_and_write_nothing(app: TestApp) {
        app.seed(3).await;
        let id = first_customer(&app).await;
        let other = app.scalar("SELECT MAX(id) FROM customers").await;
        let token = partner(&app);
        let before = snapshot(&app).await;

        let mut cases: Vec<(Value, &str, &str)> = Vec::new();
        let mut wrong_total = big_order(id, "bad-1", "PAID");
        wrong_total["total"] = json!(599_999);
        cases.push((wrong_total, "BAD_USER_INPUT", "total"));
        let mut currency = big_order(id, "bad-2", "PAID");
        currency["currencyCode"] = json!("usd");
        cases.push((currency, "BAD_USER_INPUT", "currency"));
        let mut quantity = big_order(id, "bad-3", "PAID");
        quantity["lines"][1]["quantity"] = json!(0);
        cases.push((quantity, "BAD_USER_INPUT", "lines[1].quantity"));
        let mut negative = big_order(id, "bad-4", "PAID");
        negative["discount"] = json!(-1);
        cases.push((negative, "BAD_USER_INPUT", "discount"));
        let mut no_lines = big_order(id, "bad-5", "PAID");
        no_lines["lines"] = json!([]);
        cases.push((no_lines, "BAD_USER_INPUT", "lines"));
        let mut fulfilled = big_order(id, "bad-6", "PAID");
        fulfilled["status"] = json!("FULFILLED");
        cases.push((fulfilled, "BAD_USER_INPUT", "status"));
        cases.push((big_order(999_999, "bad-7", "PAID"), "NOT_FOUND", "<none>"));
        let mut malformed = big_order(id, "bad-8", "PAID");
        malformed["customerId"] = json!("gid://c360/Order/1");
        cases.push((malformed, "BAD_USER_INPUT", "input.customerId"));
        for (input, code, name) in cases {
            let (status, body) = app.post(INGEST, json!({ "input": input }), Some(&token)).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(codes(&body), [code], "{body}");
            assert_eq!(field(&body), name, "{body}");
            assert!(body["data"].is_null(), "{body}");
        }

        // Access: no scope, another customer's record, a customer claiming payment.
        let reader = app.token(Role::Partner, "p", &["orders:read"]);
        let (_, body) = app.post(INGEST, json!({ "input": big_order(id, "acc-1", "PAID") }), Some(&reader)).await;
        assert_eq!(codes(&body), ["FORBIDDEN"], "{body}");
        let own = app.token(Role::Customer, &id.to_string(), &[]);
        let (_, body) = app.post(INGEST, json!({ "input": big_order(other, "acc-2", "PENDING") }), Some(&own)).await;
        assert_eq!(codes(&body), ["NOT_FOUND"], "{body}");
        let (_, body) = app.post(INGEST, json!({ "input": big_order(id, "acc-3", "PAID") }), Some(&own)).await;
        assert_eq!(codes(&body), ["FORBIDDEN"], "{body}");
        let (_, body) = app.post(INGEST, json!({ "input": big_order(id, "acc-4", "PAID") }), None).await;
        assert_eq!(codes(&body), ["UNAUTHENTICATED"], "{body}");
        assert_eq!(snapshot(&app).await, before);

        // A failure after the order row is written (its generated number is
        // taken) rolls the whole write back. Blockers hold the numbers of the
        // next few ids, whatever gaps the id sequence has.
        for _ in 0..3 {
            app.db.execute_unprepared(&format!(
                "INSERT INTO orders (customer_id, order_number, status, channel, currency, subtotal, discount, tax, total, refunded, placed_at, created_at, updated_at) \
                 VALUES ({id}, 'blocker-' || (SELECT COUNT(*) FROM orders), 'CANCELLED', 'POS', 'USD', 0, 0, 0, 0, 0, '2024-01-01T00:00:00+00:00', '2024-01-01T00:00:00+00:00', '2024-01-01T00:00:00+00:00')"
            )).await.expect("insert blocker");
        }
        let blockers = app.ids("SELECT id FROM orders ORDER BY id DESC LIMIT 3").await;
        for (k, blocker) in blockers.iter().enumerate() {
            app.db.execute_unprepared(&format!(
                "UPDATE orders SET order_number = 'C360-{:06}' WHERE id = {blocker}", blockers[0] + 1 + k as i64
            )).await.expect("take the next numbers");
        }
        c360::service::metrics::refresh_for(&app.db, "USD", &[id], app.clock.now()).await.expect("metrics");
        let before = snapshot(&app).await;
        let (_, body) = app.post(INGEST, json!({ "input": big_order(id, "late-fail", "PAID") }), Some(&token)).await;
        assert_eq!(codes(&body), ["CONFLICT"], "{body}");
        assert_eq!(snapshot(&app).await, before);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM orders WHERE external_ref = 'late-fail'").await, 0);
    }
}

both_stores! {
    async fn orders_move_through_payment_fulfilment_and_refunds(app: TestApp) {
        app.seed(3).await;
        let id = first_customer(&app).await;
        let token = partner(&app);
        let (_, body) = app.post(INGEST, json!({ "input": order_of(id, "flow-1", "PENDING", 10_000) }), Some(&token)).await;
        let order = body["data"]["orderIngest"]["id"].as_str().expect("id").to_owned();
        let order_id: i64 = order.rsplit('/').next().expect("num").parse().expect("int");
        let ledger = |sql: &str| format!("SELECT CAST(COALESCE(SUM(points), 0) AS BIGINT) FROM loyalty_transactions WHERE order_id = {order_id}{sql}");
        assert_eq!(app.scalar(&ledger("")).await, 0, "a PENDING order earns nothing");
        let pending = account(&app, "points_pending", id).await;
        let spend = metric(&app, "net_spend", id).await;

        let post = |q: &'static str, v: Value| {
            let token = token.clone();
            let app = &app;
            async move { app.post(q, v, Some(&token)).await.1 }
        };
        let body = post(STATUS, json!({ "id": order, "status": "PAID" })).await;
        assert_eq!(body["data"]["orderUpdateStatus"]["status"], "PAID", "{body}");
        assert_eq!(account(&app, "points_pending", id).await, pending + 100);
        let body = post(STATUS, json!({ "id": order, "status": "PAID" })).await;
        assert_eq!(codes(&body), ["CONFLICT"], "{body}");
        assert!(body["errors"][0]["message"].as_str().expect("m").contains("is PAID"), "{body}");
        let body = post(STATUS, json!({ "id": order, "status": "FULFILLED" })).await;
        assert_eq!(body["data"]["orderUpdateStatus"]["status"], "FULFILLED", "{body}");
        let before = snapshot(&app).await;
        for status in ["CANCELLED", "PENDING", "PAID"] {
            let body = post(STATUS, json!({ "id": order, "status": status })).await;
            assert_eq!(codes(&body), ["CONFLICT"], "{body}");
            assert!(body["errors"][0]["message"].as_str().expect("m").contains("is FULFILLED"), "{body}");
        }
        let body = post(STATUS, json!({ "id": order, "status": "REFUNDED" })).await;
        assert_eq!((codes(&body), field(&body)), (vec!["BAD_USER_INPUT".to_owned()], "status"), "{body}");
        let body = post(REFUND, json!({ "id": order, "amount": 0 })).await;
        assert_eq!((codes(&body), field(&body)), (vec!["BAD_USER_INPUT".to_owned()], "amount"), "{body}");
        let body = post(REFUND, json!({ "id": order, "amount": 10_001 })).await;
        assert_eq!((codes(&body), field(&body)), (vec!["BAD_USER_INPUT".to_owned()], "amount"), "{body}");
        let body = post(REFUND, json!({ "id": gid("Order", 999_999), "amount": 1 })).await;
        assert_eq!(codes(&body), ["NOT_FOUND"], "{body}");
        assert_eq!(snapshot(&app).await, before);

        // A partial refund claws back its points from the still-pending earn.
        let body = post(REFUND, json!({ "id": order, "amount": 2_500 })).await;
        assert_eq!(body["data"]["orderRefund"]["status"], "PARTIALLY_REFUNDED", "{body}");
        assert_eq!(body["data"]["orderRefund"]["net"]["amount"], "75.00");
        assert_eq!(app.scalar(&ledger(" AND state = 'PENDING'")).await, 75);
        assert_eq!(metric(&app, "net_spend", id).await, spend - 2_500);
        let body = post(REFUND, json!({ "id": order, "amount": 7_501 })).await;
        assert_eq!(codes(&body), ["BAD_USER_INPUT"], "{body}");
        let body = post(REFUND, json!({ "id": order, "amount": 7_500 })).await;
        assert_eq!(body["data"]["orderRefund"]["status"], "REFUNDED", "{body}");
        assert_eq!(body["data"]["orderRefund"]["refunded"]["amount"], "100.00");
        assert_eq!(app.scalar(&ledger("")).await, 0);
        assert_eq!(account(&app, "points_pending", id).await, pending);
        assert_eq!(metric(&app, "net_spend", id).await, spend - 10_000);
        let body = post(REFUND, json!({ "id": order, "amount": 1 })).await;
        assert_eq!(codes(&body), ["CONFLICT"], "{body}");
        assert!(body["errors"][0]["message"].as_str().expect("m").contains("is REFUNDED"), "{body}");

        // Cancelling a paid order takes its points back; a cancelled order is not spend.
        let (_, body) = app.post(INGEST, json!({ "input": order_of(id, "flow-2", "PAID", 4_000) }), Some(&token)).await;
        let second = body["data"]["orderIngest"]["id"].as_str().expect("id").to_owned();
        let orders = metric(&app, "orders_count", id).await;
        assert_eq!(account(&app, "points_pending", id).await, pending + 40);
        let body = post(STATUS, json!({ "id": second, "status": "CANCELLED" })).await;
        assert_eq!(body["data"]["orderUpdateStatus"]["status"], "CANCELLED", "{body}");
        assert_eq!(account(&app, "points_pending", id).await, pending);
        assert_eq!(metric(&app, "orders_count", id).await, orders - 1);
        assert_eq!(app.scalar(&format!("SELECT COUNT(*) FROM audit_events WHERE target = '{second}'")).await, 2);

        // Only partners and staff report payment.
        let own = app.token(Role::Customer, &id.to_string(), &[]);
        let (_, body) = app.post(STATUS, json!({ "id": second, "status": "PAID" }), Some(&own)).await;
        assert_eq!(codes(&body), ["FORBIDDEN"], "{body}");
    }
}

both_stores! {
    async fn concurrent_orders_for_many_customers_all_land(app: TestApp) {
        app.seed(5).await;
        let ids = app.ids("SELECT id FROM customers ORDER BY id").await;
        let pos = partner(&app);
        let mut before = Vec::new();
        for &id in &ids {
            before.push((metric(&app, "orders_count", id).await, account(&app, "points_pending", id).await));
        }
        let posts = (0..24).map(|i| {
            let input = order_of(ids[i % ids.len()], &format!("burst-{i}"), "PAID", 1_000 + i as i64);
            let (app, pos) = (&app, &pos);
            async move { app.post(INGEST, json!({ "input": input }), Some(pos)).await }
        });
        for (status, body) in futures_util::future::join_all(posts).await {
            assert_eq!(status, 200);
            assert!(body.get("errors").is_none(), "every write waits its turn: {body}");
        }
        assert_eq!(app.scalar("SELECT COUNT(*) FROM orders WHERE external_ref LIKE 'burst-%'").await, 24);
        // Writes to one customer queue, so none of them computes the
        // customer's derived rows from a view that misses another's order.
        for (k, &id) in ids.iter().enumerate() {
            let mine: Vec<i64> = (0..24).filter(|i| i % ids.len() == k).map(|i| 1_000 + i as i64).collect();
            let points: i64 = mine.iter().map(|cents| cents / 100).sum();
            let (orders, pending) = before[k];
            assert_eq!(metric(&app, "orders_count", id).await, orders + mine.len() as i64, "customer {id}");
            assert_eq!(account(&app, "points_pending", id).await, pending + points, "customer {id}");
        }
    }
}

/// Another transaction holds the customer's metrics row while orders for
/// that customer arrive. All must land once it commits, one after another,
/// with metrics that count each order once: writers of one customer that
/// interleaved would each re-insert the metrics row, and all but one fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_behind_another_writer_queue_on_the_customer() {
    use sea_orm::TransactionTrait;
    let Some(app) = TestApp::spawn_postgres().await else {
        return;
    };
    app.seed(2).await;
    let id = first_customer(&app).await;
    let orders = metric(&app, "orders_count", id).await;
    let pos = partner(&app);

    let other = app.db.begin().await.expect("begin");
    other
        .execute_unprepared(&format!(
            "DELETE FROM customer_metrics WHERE customer_id = {id}"
        ))
        .await
        .expect("hold the metrics row");
    // The same order posted twice (a retry racing the original), and another.
    let posts = futures_util::future::join_all(["queued-1", "queued-1", "queued-2"].map(|r| {
        let input = order_of(id, r, "PAID", 2_000);
        let (app, pos) = (&app, &pos);
        async move { app.post(INGEST, json!({ "input": input }), Some(pos)).await }
    }));
    // Commits once all three posts wait on a lock (the first on the metrics
    // row, the others on the customer it holds), so they queue rather than
    // run after the commit; a guessed pause would not know when that is.
    let release = async {
        let waiting = "SELECT COUNT(*) FROM pg_stat_activity \
                       WHERE datname = current_database() AND wait_event_type = 'Lock'";
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while app.scalar(waiting).await < 3 && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        other.commit().await.expect("commit");
    };
    let (answers, ()) = futures_util::future::join(posts, release).await;
    let ids: Vec<&str> = answers
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 200);
            assert!(body.get("errors").is_none(), "{body}");
            body["data"]["orderIngest"]["id"].as_str().expect("id")
        })
        .collect();
    assert_eq!(ids[0], ids[1], "a retry is the same order");
    assert_ne!(ids[0], ids[2]);
    assert_eq!(metric(&app, "orders_count", id).await, orders + 2);
}

const TIMES: &str = r#"
mutation Ingest($input: OrderIngestInput!) { orderIngest(input: $input) { id placedAt updatedAt } }"#;

const TIMED_STATUS: &str = r#"
mutation Status($id: ID!, $status: OrderStatus!) {
  orderUpdateStatus(id: $id, status: $status) { status placedAt updatedAt }
}"#;

fn instant(value: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(value.as_str().expect("a time"))
        .expect("RFC 3339")
        .to_utc()
}

both_stores! {
    async fn order_times_are_the_gateway_clocks(app: TestApp) {
        use chrono::{SubsecRound, TimeDelta};
        app.seed(2).await;
        let id = first_customer(&app).await;
        let token = partner(&app);
        let placed = (chrono::Utc::now() + TimeDelta::days(2)).trunc_subsecs(0);
        app.clock.set(placed);
        let (_, body) = app.post(TIMES, json!({ "input": order_of(id, "clock-1", "PENDING", 5_000) }), Some(&token)).await;
        let order = &body["data"]["orderIngest"];
        assert_eq!(instant(&order["placedAt"]), placed, "placed now by the clock: {body}");
        assert_eq!(instant(&order["updatedAt"]), placed, "{body}");
        let order_id = order["id"].clone();

        // Paid a month later: the change is dated then, the placement is not.
        app.clock.advance(TimeDelta::days(31));
        let (_, body) = app.post(TIMED_STATUS, json!({ "id": order_id, "status": "PAID" }), Some(&token)).await;
        let order = &body["data"]["orderUpdateStatus"];
        assert_eq!(order["status"], "PAID", "{body}");
        assert_eq!(instant(&order["placedAt"]), placed, "{body}");
        assert_eq!(instant(&order["updatedAt"]), placed + TimeDelta::days(31), "{body}");
        app.clock.reset();
    }
}
