//! The loyalty ledger through the API: redemptions (idempotent, never
//! overdrawn, also under 50 concurrent calls), staff adjustments (one row
//! per key, also under concurrent retries), and pending points settling
//! after the return window. Time rules are tested by moving the gateway's
//! clock, never by sleeping or rewriting rows.

use c360::auth::Role;
use chrono::TimeDelta;
use futures_util::future::join_all;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::writes_orders::{
    INGEST, codes, field, first_customer, gid, order_of, partner, snapshot,
};
use crate::{both_stores, each_store};

const REDEEM: &str = r#"
mutation Redeem($c: ID!, $p: Int!, $k: String!) {
  redeemPoints(customerId: $c, points: $p, idempotencyKey: $k) { pointsAvailable pointsPending }
}"#;

const ADJUST: &str = r#"
mutation Adjust($c: ID!, $p: Int!, $r: String!) {
  adjustPoints(customerId: $c, points: $p, reason: $r) { pointsAvailable }
}"#;

const ADJUST_KEYED: &str = r#"
mutation Adjust($c: ID!, $p: Int!, $r: String!, $k: String) {
  adjustPoints(customerId: $c, points: $p, reason: $r, idempotencyKey: $k) { pointsAvailable }
}"#;

async fn available(app: &TestApp, customer: i64) -> i64 {
    app.scalar(&format!(
        "SELECT points_available FROM loyalty_accounts WHERE customer_id = {customer}"
    ))
    .await
}

async fn ledger_available(app: &TestApp, customer: i64) -> i64 {
    app.scalar(&format!(
        "SELECT CAST(COALESCE(SUM(points), 0) AS BIGINT) FROM loyalty_transactions WHERE customer_id = {customer} AND state = 'AVAILABLE'"
    ))
    .await
}

/// Settles the customer's due points, then adjusts the balance to `target`.
async fn balance_of(app: &TestApp, customer: i64, target: i64) {
    c360::service::loyalty::settle(&app.db, app.clock.now(), &[customer])
        .await
        .expect("settle");
    let delta = target - available(app, customer).await;
    if delta != 0 {
        let (_, body) = app
            .post(
                ADJUST,
                json!({ "c": gid("Customer", customer), "p": delta, "r": "test setup" }),
                Some(&app.staff()),
            )
            .await;
        assert!(body.get("errors").is_none(), "{body}");
    }
    assert_eq!(available(app, customer).await, target);
}

both_stores! {
    async fn redemptions_spend_the_available_balance_once_per_key(app: TestApp) {
        app.seed(3).await;
        let id = first_customer(&app).await;
        let other = app.scalar("SELECT MAX(id) FROM customers").await;
        balance_of(&app, id, 500).await;
        let own = app.token(Role::Customer, &id.to_string(), &[]);
        let vars = |p: i64, k: &str| json!({ "c": gid("Customer", id), "p": p, "k": k });

        let before = snapshot(&app).await;
        let (_, body) = app.post(REDEEM, vars(501, "short"), Some(&own)).await;
        assert_eq!(codes(&body), ["CONFLICT"], "{body}");
        let message = body["errors"][0]["message"].as_str().expect("message");
        assert!(message.contains("insufficient points") && message.contains("500 available"), "{message}");
        let (_, body) = app.post(REDEEM, vars(0, "zero"), Some(&own)).await;
        assert_eq!((codes(&body), field(&body)), (vec!["BAD_USER_INPUT".to_owned()], "points"), "{body}");
        let (_, body) = app.post(REDEEM, vars(10, " "), Some(&own)).await;
        assert_eq!((codes(&body), field(&body)), (vec!["BAD_USER_INPUT".to_owned()], "idempotencyKey"), "{body}");
        let (_, body) = app.post(REDEEM, json!({ "c": gid("Customer", other), "p": 1, "k": "x" }), Some(&own)).await;
        assert_eq!(codes(&body), ["NOT_FOUND"], "{body}");
        let reader = app.token(Role::Partner, "p", &["loyalty:read"]);
        let (_, body) = app.post(REDEEM, vars(1, "x"), Some(&reader)).await;
        assert_eq!(codes(&body), ["FORBIDDEN"], "{body}");
        assert_eq!(snapshot(&app).await, before);

        let (_, body) = app.post(REDEEM, vars(120, "basket-9"), Some(&own)).await;
        assert_eq!(body["data"]["redeemPoints"]["pointsAvailable"], 380, "{body}");
        let (_, body) = app.post(REDEEM, vars(120, "basket-9"), Some(&own)).await;
        assert_eq!(body["data"]["redeemPoints"]["pointsAvailable"], 380, "a retry redeems nothing: {body}");
        let (_, body) = app.post(REDEEM, vars(121, "basket-9"), Some(&own)).await;
        assert_eq!(codes(&body), ["CONFLICT"], "{body}");
        assert_eq!(app.scalar(&format!("SELECT COUNT(*) FROM loyalty_transactions WHERE customer_id = {id} AND idempotency_key = 'basket-9' AND points = -120 AND kind = 'REDEEM'")).await, 1);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM audit_events WHERE action = 'loyalty.redeem'").await, 1);

        // Staff adjustments: a reason is required, a partner may not adjust,
        // and a removal cannot overdraw.
        let staff = app.staff();
        let (_, body) = app.post(ADJUST, json!({ "c": gid("Customer", id), "p": 50, "r": "  " }), Some(&staff)).await;
        assert_eq!((codes(&body), field(&body)), (vec!["BAD_USER_INPUT".to_owned()], "reason"), "{body}");
        let writer = app.token(Role::Partner, "p", &["loyalty:write"]);
        let (_, body) = app.post(ADJUST, json!({ "c": gid("Customer", id), "p": 50, "r": "goodwill" }), Some(&writer)).await;
        assert_eq!(codes(&body), ["FORBIDDEN"], "{body}");
        let (_, body) = app.post(ADJUST, json!({ "c": gid("Customer", id), "p": -381, "r": "correction" }), Some(&staff)).await;
        assert_eq!(codes(&body), ["CONFLICT"], "{body}");
        let (_, body) = app.post(ADJUST, json!({ "c": gid("Customer", id), "p": 50, "r": "goodwill" }), Some(&staff)).await;
        assert_eq!(body["data"]["adjustPoints"]["pointsAvailable"], 430, "{body}");
        assert_eq!(ledger_available(&app, id).await, 430);
        assert_eq!(app.text(&format!("SELECT description FROM loyalty_transactions WHERE customer_id = {id} AND kind = 'ADJUST' ORDER BY id DESC LIMIT 1")).await, "goodwill");
    }
}

both_stores! {
    async fn fifty_concurrent_redemptions_never_overdraw_the_balance(app: TestApp) {
        app.seed(2).await;
        let id = first_customer(&app).await;
        balance_of(&app, id, 1_000).await;
        let token = app.token(Role::Partner, "wallet", &["loyalty:write"]);
        let calls = (0..50).map(|i| {
            let token = token.clone();
            let app = &app;
            async move {
                app.post(REDEEM, json!({ "c": gid("Customer", id), "p": 30, "k": format!("c-{i}") }), Some(&token))
                    .await
                    .1
            }
        });
        let bodies: Vec<Value> = join_all(calls).await;
        let ok = bodies.iter().filter(|b| b.get("errors").is_none()).count();
        let short = bodies.iter().filter(|b| codes(b) == ["CONFLICT"]).count();
        assert_eq!((ok, short), (33, 17), "{bodies:?}");
        assert_eq!(available(&app, id).await, 10);
        assert_eq!(ledger_available(&app, id).await, 10);
        assert_eq!(
            app.scalar(&format!("SELECT COUNT(*) FROM loyalty_transactions WHERE customer_id = {id} AND kind = 'REDEEM' AND idempotency_key LIKE 'c-%'")).await,
            33
        );
    }
}

both_stores! {
    async fn earned_points_become_available_when_the_return_window_ends(app: TestApp) {
        app.seed(2).await;
        let id = first_customer(&app).await;
        balance_of(&app, id, 0).await;
        let pending = app.scalar(&format!("SELECT points_pending FROM loyalty_accounts WHERE customer_id = {id}")).await;
        let (_, body) = app.post(INGEST, json!({ "input": order_of(id, "settle-1", "PAID", 25_000) }), Some(&partner(&app))).await;
        let order: i64 = body["data"]["orderIngest"]["id"].as_str().expect("id").rsplit('/').next().expect("n").parse().expect("int");
        let window = app.scalar(&format!(
            "SELECT COUNT(*) FROM loyalty_transactions WHERE order_id = {order} AND state = 'PENDING' AND points = 250"
        )).await;
        assert_eq!(window, 1);
        // Nothing is due yet.
        assert_eq!(c360::service::loyalty::settle(&app.db, app.clock.now(), &[id]).await.expect("settle").rows, 0);
        assert_eq!(available(&app, id).await, 0);
        // Fifteen days later the 14-day window has ended.
        app.clock.advance(TimeDelta::days(15));
        let later = app.clock.now();
        let due = c360::service::loyalty::due_accounts(&app.db, later).await.expect("due");
        assert!(due.contains(&id), "{due:?}");
        let settled = c360::service::loyalty::settle(&app.db, later, &due).await.expect("settle");
        assert!(settled.rows >= 1);
        assert_eq!(available(&app, id).await, 250);
        assert_eq!(
            app.scalar(&format!("SELECT points_pending FROM loyalty_accounts WHERE customer_id = {id}")).await,
            app.scalar(&format!("SELECT CAST(COALESCE(SUM(points), 0) AS BIGINT) FROM loyalty_transactions WHERE customer_id = {id} AND state = 'PENDING'")).await,
        );
        assert!(pending >= 0);
        // A full refund now takes the points back from the available balance.
        let (_, body) = app.post(
            crate::writes_orders::REFUND,
            json!({ "id": gid("Order", order), "amount": 25_000 }),
            Some(&partner(&app)),
        ).await;
        assert_eq!(body["data"]["orderRefund"]["status"], "REFUNDED", "{body}");
        assert_eq!(available(&app, id).await, 0);
        app.db.execute_unprepared("SELECT 1").await.expect("store still answers");
    }
}

const TIER: &str = r#"
query($id: ID!) { customer(id: $id) { loyalty { tier nextTier trailingSpend { amount currencyCode }
  spendToNextTier { amount } pointsToNextTier } } }"#;

both_stores! {
    async fn paying_the_spend_to_the_next_tier_reaches_it(app: TestApp) {
        app.seed(3).await;
        let id = first_customer(&app).await;
        let since = (app.clock.now() - TimeDelta::days(365)).format("%Y-%m-%dT%H:%M:%S+00:00");
        let spend = app.scalar(&format!(
            "SELECT CAST(COALESCE(SUM(total - refunded), 0) AS BIGINT) FROM orders WHERE customer_id = {id} \
             AND currency = 'USD' AND status IN ('PAID', 'FULFILLED', 'PARTIALLY_REFUNDED', 'REFUNDED') \
             AND placed_at >= '{since}'"
        )).await;
        let data = app.query(TIER, json!({ "id": gid("Customer", id) })).await;
        let loyalty = &data["customer"]["loyalty"];
        let shown: f64 = loyalty["trailingSpend"]["amount"].as_str().expect("amount").parse().expect("number");
        let shown = (shown * 100.0).round() as i64;
        assert_eq!(shown, spend, "{loyalty}");
        let (next, threshold) = match shown {
            s if s < 50_000 => ("SILVER", 50_000),
            s if s < 150_000 => ("GOLD", 150_000),
            s if s < 500_000 => ("PLATINUM", 500_000),
            _ => panic!("seeded customer already PLATINUM: {loyalty}"),
        };
        let gap = threshold - shown;
        assert_eq!(loyalty["nextTier"], next, "{loyalty}");
        assert_eq!(loyalty["spendToNextTier"]["amount"], format!("{}.{:02}", gap / 100, gap % 100));
        assert_eq!(loyalty["pointsToNextTier"], gap / 100);

        let (_, body) = app.post(INGEST, json!({ "input": order_of(id, "tier-up", "PAID", gap) }), Some(&partner(&app))).await;
        assert!(body.get("errors").is_none(), "{body}");
        let data = app.query(TIER, json!({ "id": gid("Customer", id) })).await;
        assert_eq!(data["customer"]["loyalty"]["tier"], next, "{data}");
        assert_eq!(
            app.text(&format!("SELECT tier FROM loyalty_accounts WHERE customer_id = {id}")).await,
            next
        );
    }
}

const LOYALTY: &str = r#"
query($id: ID!) { customer(id: $id) { loyalty { pointsAvailable pointsPending
  transactions(first: 5) { edges { node { kind state points } } } } } }"#;

async fn loyalty_of(app: &TestApp, customer: i64) -> Value {
    app.query(LOYALTY, json!({ "id": gid("Customer", customer) }))
        .await["customer"]["loyalty"]
        .clone()
}

/// Whether the account's latest ledger rows include `row`.
fn holds(loyalty: &Value, row: Value) -> bool {
    loyalty["transactions"]["edges"]
        .as_array()
        .is_some_and(|edges| edges.iter().any(|e| e["node"] == row))
}

each_store! {
    async fn pending_points_settle_when_the_profile_is_read(store: StoreKind) {
        let app = TestApp::spawn(store, |c| {
            c.loyalty_return_window = std::time::Duration::from_secs(3_600);
            c.loyalty_settle_interval = std::time::Duration::ZERO;
        })
        .await;
        app.seed(2).await;
        let id = first_customer(&app).await;
        balance_of(&app, id, 0).await;
        let before = loyalty_of(&app, id).await;
        let pending = before["pointsPending"].as_i64().expect("pending");
        let (_, body) = app.post(INGEST, json!({ "input": order_of(id, "read-settle", "PAID", 25_000) }), Some(&partner(&app))).await;
        assert!(body.get("errors").is_none(), "{body}");
        let now = loyalty_of(&app, id).await;
        assert_eq!((now["pointsAvailable"].as_i64(), now["pointsPending"].as_i64()), (Some(0), Some(pending + 250)));
        assert!(holds(&now, json!({ "kind": "EARN", "state": "PENDING", "points": 250 })), "{now}");

        // The return window ends; no job runs, the read settles.
        app.clock.advance(TimeDelta::minutes(61));
        let later = loyalty_of(&app, id).await;
        assert_eq!((later["pointsAvailable"].as_i64(), later["pointsPending"].as_i64()), (Some(250), Some(pending)));
        assert!(holds(&later, json!({ "kind": "EARN", "state": "AVAILABLE", "points": 250 })), "{later}");
        assert_eq!(available(&app, id).await, 250);
        assert_eq!(ledger_available(&app, id).await, 250);
        // The next read has nothing to settle and writes nothing.
        let statements = app.sql_statements().await;
        loyalty_of(&app, id).await;
        let reread = app.sql_statements().await - statements;
        let statements = app.sql_statements().await;
        loyalty_of(&app, id).await;
        assert_eq!(app.sql_statements().await - statements, reread);
    }
}

/// Where a request's levels go out as one statement, a profile's ledger is
/// read ahead beside the customer, before its account settles: the
/// settlement drops what was read, and the ledger shown is read after it.
#[tokio::test]
async fn a_ledger_read_ahead_of_its_settlement_is_read_again() {
    let Some(app) = TestApp::spawn_postgres_with(|c| {
        c.combine_pages = c360::config::CombinePages::Always;
        c.loyalty_return_window = std::time::Duration::from_secs(3_600);
        c.loyalty_settle_interval = std::time::Duration::ZERO;
    })
    .await
    else {
        return;
    };
    app.seed(2).await;
    let id = first_customer(&app).await;
    let pending = loyalty_of(&app, id).await["pointsPending"]
        .as_i64()
        .expect("pending");
    let (_, body) = app
        .post(
            INGEST,
            json!({ "input": order_of(id, "ahead-settle", "PAID", 25_000) }),
            Some(&partner(&app)),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let now = loyalty_of(&app, id).await;
    assert!(
        holds(
            &now,
            json!({ "kind": "EARN", "state": "PENDING", "points": 250 })
        ),
        "{now}"
    );

    app.clock.advance(TimeDelta::minutes(61));
    let later = loyalty_of(&app, id).await;
    assert_eq!(later["pointsPending"].as_i64(), Some(pending), "{later}");
    assert!(
        holds(
            &later,
            json!({ "kind": "EARN", "state": "AVAILABLE", "points": 250 })
        ),
        "{later}"
    );
    assert!(
        !holds(
            &later,
            json!({ "kind": "EARN", "state": "PENDING", "points": 250 })
        ),
        "{later}"
    );
}

async fn earn_row(app: &TestApp, external_ref: &str) -> i64 {
    app.scalar(&format!(
        "SELECT lt.id FROM loyalty_transactions lt JOIN orders o ON o.id = lt.order_id \
         WHERE o.external_ref = '{external_ref}' AND lt.kind = 'EARN'"
    ))
    .await
}

const CREATE_CUSTOMER: &str = r#"
mutation($input: CustomerCreateInput!) { customerCreate(input: $input) { id } }"#;

/// A customer created through the API at the clock's time: a loyalty
/// account with no seeded history.
async fn new_customer(app: &TestApp, email: &str) -> i64 {
    let (_, body) = app
        .post(
            CREATE_CUSTOMER,
            json!({ "input": { "profile": { "email": email, "firstName": "Exp" } } }),
            Some(&app.staff()),
        )
        .await;
    body["data"]["customerCreate"]["id"]
        .as_str()
        .and_then(|id| id.rsplit('/').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("customer created: {body}"))
}

each_store! {
    async fn points_expire_first_in_first_out_and_only_once(store: StoreKind) {
        let app = TestApp::spawn(store, |c| {
            c.loyalty_return_window = std::time::Duration::ZERO;
            c.loyalty_points_expire_after = std::time::Duration::from_secs(365 * 24 * 3600);
            c.loyalty_settle_interval = std::time::Duration::ZERO;
        })
        .await;
        app.seed(2).await;
        // The history is written 400 days ago, so that the last credit has
        // expired by the time `c360 loyalty settle` runs on the real clock.
        // A customer of its own keeps the seeded history out of the replay.
        app.clock.advance(TimeDelta::days(-400));
        let id = new_customer(&app, "loyalty-expiry@example.org").await;
        balance_of(&app, id, 0).await;
        let pos = partner(&app);
        let (_, body) = app.post(INGEST, json!({ "input": order_of(id, "exp-a", "PAID", 10_000) }), Some(&pos)).await;
        assert!(body.get("errors").is_none(), "{body}");
        let expires = app.text(&format!("SELECT CAST(expires_at AS TEXT) FROM loyalty_transactions WHERE id = {}", earn_row(&app, "exp-a").await)).await;
        assert!(!expires.is_empty(), "earned points carry their expiry");
        let own = app.token(Role::Customer, &id.to_string(), &[]);
        let (_, body) = app.post(REDEEM, json!({ "c": gid("Customer", id), "p": 30, "k": "exp-r" }), Some(&own)).await;
        assert_eq!(body["data"]["redeemPoints"]["pointsAvailable"], 70, "{body}");
        // Ten days later, 50 more points (expiring ten days after the first).
        app.clock.advance(TimeDelta::days(10));
        let (_, body) = app.post(INGEST, json!({ "input": order_of(id, "exp-b", "PAID", 5_000) }), Some(&pos)).await;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(loyalty_of(&app, id).await["pointsAvailable"], 120);

        // A year and a day after the first: the first 100 points have
        // reached their expiry, the 30 spent came out of them, so 70 expire
        // and the later 50 stay.
        app.clock.advance(TimeDelta::days(356));
        let reads = join_all((0..8).map(|_| loyalty_of(&app, id))).await;
        for read in &reads {
            assert_eq!(read["pointsAvailable"], 50, "{read}");
        }
        assert!(holds(&reads[0], json!({ "kind": "EXPIRE", "state": "AVAILABLE", "points": -70 })), "{}", reads[0]);
        assert_eq!(
            app.scalar(&format!("SELECT COUNT(*) FROM loyalty_transactions WHERE customer_id = {id} AND kind = 'EXPIRE'")).await,
            1,
            "concurrent reads expire the points once"
        );
        // A redemption cannot spend expired points.
        let (_, body) = app.post(REDEEM, json!({ "c": gid("Customer", id), "p": 60, "k": "exp-r2" }), Some(&own)).await;
        assert_eq!(codes(&body), ["CONFLICT"], "{body}");

        // Back on the real clock, 34 days later, the second credit has
        // expired in full; the CLI writes it off.
        app.clock.reset();
        let due = c360::service::loyalty::due_accounts(&app.db, app.clock.now()).await.expect("due");
        assert_eq!(due, [id]);
        let out = crate::cli::c360()
            .args(["loyalty", "settle", "--database-url", &app.db_url])
            .output()
            .expect("runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(stdout.lines().next(), Some("settled 0 loyalty transactions; expired 50 points of 1 accounts"), "{stdout}");
        assert_eq!(loyalty_of(&app, id).await["pointsAvailable"], 0);
        assert_eq!(ledger_available(&app, id).await, 0);
        assert!(c360::service::loyalty::due_accounts(&app.db, app.clock.now()).await.expect("due").is_empty());
    }
}

both_stores! {
    async fn concurrent_retries_of_one_adjustment_write_one_row(app: TestApp) {
        app.seed(2).await;
        let id = first_customer(&app).await;
        balance_of(&app, id, 100).await;
        let staff = app.staff();
        let audits = "SELECT COUNT(*) FROM audit_events WHERE action = 'loyalty.adjust'";
        let audited = app.scalar(audits).await;
        let vars = json!({ "c": gid("Customer", id), "p": 40, "r": "goodwill", "k": "adj-1" });
        let bodies: Vec<Value> = join_all(
            (0..8).map(|_| async { app.post(ADJUST_KEYED, vars.clone(), Some(&staff)).await.1 }),
        )
        .await;
        for body in &bodies {
            assert!(body.get("errors").is_none(), "every retry succeeds: {body}");
            assert_eq!(body["data"]["adjustPoints"]["pointsAvailable"], 140, "{body}");
        }
        assert_eq!(
            app.scalar(&format!("SELECT COUNT(*) FROM loyalty_transactions WHERE customer_id = {id} AND kind = 'ADJUST' AND idempotency_key = 'adj-1'")).await,
            1
        );
        assert_eq!(app.scalar(audits).await, audited + 1);
        assert_eq!(available(&app, id).await, 140);
        assert_eq!(ledger_available(&app, id).await, 140);
        // The key asked for something else is a CONFLICT, not a second row.
        let (_, body) = app
            .post(ADJUST_KEYED, json!({ "c": gid("Customer", id), "p": 41, "r": "goodwill", "k": "adj-1" }), Some(&staff))
            .await;
        assert_eq!(codes(&body), ["CONFLICT"], "{body}");
    }
}

both_stores! {
    async fn concurrent_retries_of_one_redemption_write_one_row(app: TestApp) {
        app.seed(2).await;
        let id = first_customer(&app).await;
        balance_of(&app, id, 100).await;
        let token = app.token(Role::Partner, "wallet", &["loyalty:write"]);
        let vars = json!({ "c": gid("Customer", id), "p": 30, "k": "basket-1" });
        let bodies: Vec<Value> = join_all(
            (0..8).map(|_| async { app.post(REDEEM, vars.clone(), Some(&token)).await.1 }),
        )
        .await;
        for body in &bodies {
            assert!(body.get("errors").is_none(), "every retry succeeds: {body}");
            assert_eq!(body["data"]["redeemPoints"]["pointsAvailable"], 70, "{body}");
        }
        assert_eq!(
            app.scalar(&format!("SELECT COUNT(*) FROM loyalty_transactions WHERE customer_id = {id} AND kind = 'REDEEM' AND idempotency_key = 'basket-1'")).await,
            1
        );
        assert_eq!(app.scalar("SELECT COUNT(*) FROM audit_events WHERE action = 'loyalty.redeem'").await, 1);
        assert_eq!(available(&app, id).await, 70);
        assert_eq!(ledger_available(&app, id).await, 70);
    }
}

/// Writes, uncommitted, the row of a first call holding `key`: `points`
/// of `kind`, with the account's balances refreshed.
async fn hold_key(
    app: &TestApp,
    customer: i64,
    kind: c360_entity::enums::LoyaltyTransactionKind,
    points: i64,
    key: &str,
) -> sea_orm::DatabaseTransaction {
    use c360_entity::enums::LoyaltyTransactionState;
    use sea_orm::{ActiveModelTrait, DbBackend, Set, TransactionTrait};
    let first = app.db.begin().await.expect("begin");
    if app.db.get_database_backend() == DbBackend::Postgres {
        // Without the foreign-key check, the row does not lock the customer,
        // which would queue the retry before its lookup (and let it find
        // the row): the retry gets to its insert and loses the unique index.
        first
            .execute_unprepared("SET LOCAL session_replication_role = replica")
            .await
            .expect("skip foreign-key triggers");
    }
    let now = app.clock.now();
    c360_entity::loyalty_transaction::ActiveModel {
        customer_id: Set(customer),
        kind: Set(kind),
        points: Set(points),
        state: Set(LoyaltyTransactionState::Available),
        idempotency_key: Set(Some(key.into())),
        description: Set(Some("first call".into())),
        available_at: Set(Some(now)),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&first)
    .await
    .expect("the first call's row");
    c360::service::loyalty::refresh_balances(&first, Some(&[customer]), now)
        .await
        .expect("the first call's balances");
    first
}

both_stores! {
    async fn a_retry_that_loses_the_unique_index_answers_as_a_replay(app: TestApp) {
        use c360_entity::enums::LoyaltyTransactionKind;
        app.seed(2).await;
        let id = first_customer(&app).await;
        balance_of(&app, id, 100).await;
        let audits = "SELECT COUNT(*) FROM audit_events WHERE action LIKE 'loyalty.%'";
        let audited = app.scalar(audits).await;
        let staff = app.staff();
        let cases = [
            (LoyaltyTransactionKind::Adjust, 40, "race-adjust", ADJUST_KEYED, json!({ "c": gid("Customer", id), "p": 40, "r": "goodwill", "k": "race-adjust" }), "adjustPoints", 140),
            (LoyaltyTransactionKind::Redeem, -30, "race-redeem", REDEEM, json!({ "c": gid("Customer", id), "p": 30, "k": "race-redeem" }), "redeemPoints", 110),
        ];
        for (kind, points, key, mutation, vars, field, balance) in cases {
            // The first call holds the key, not yet committed: the retry
            // finds no row under it, then waits (on PostgreSQL at the unique
            // index or the account's row, on SQLite for the write lock).
            let first = hold_key(&app, id, kind, points, key).await;
            let (retry, ()) = tokio::join!(app.post(mutation, vars, Some(&staff)), async {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                first.commit().await.expect("the first call commits");
            });
            let body = retry.1;
            assert!(body.get("errors").is_none(), "the retry answers as a replay: {body}");
            assert_eq!(body["data"][field]["pointsAvailable"], balance, "{body}");
            assert_eq!(
                app.scalar(&format!("SELECT COUNT(*) FROM loyalty_transactions WHERE customer_id = {id} AND idempotency_key = '{key}'")).await,
                1
            );
            assert_eq!(ledger_available(&app, id).await, balance);
        }
        assert_eq!(app.scalar(audits).await, audited, "a retry that lost writes no audit row");
    }
}
