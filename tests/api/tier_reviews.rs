//! Tiers that follow spend over time, through the public interface: a tier
//! is reviewed as its spend ages (by a read of the due account, the
//! scheduler's pass and `c360 loyalty settle`), kept until its review under
//! the retaining policy and lowered at once under the rolling one, told at
//! risk once inside the downgrade notice; the segment attributes select the
//! right customers; bad settings are refused by name; and on the demo seed
//! every tier, once reviewed, is the one the policy allows, consistent with
//! `nextTier` and `spendToNextTier`. Time moves by setting the gateway's
//! clock (the CLI runs on the real one, so its data is placed relative to
//! it).

use std::collections::BTreeMap;
use std::time::Duration;

use c360::config::TierPolicyKind;
use c360::db::{Store, StoreOptions};
use c360::domain::tiers::{TierThresholds, WINDOW, next_tier, tier_for_spend};
use c360_entity::enums::LoyaltyTier;
use chrono::{DateTime, Datelike, NaiveDate, SubsecRound, TimeDelta, Utc};
use sea_orm::{ActiveEnum, ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::cli::{c360, tier_reviews_settled};
use crate::helpers::{TestApp, gid};
use crate::writes_orders::{INGEST, REFUND, order_of, partner};
use crate::{both_stores, each_store};

const CREATE: &str = r#"
mutation($input: CustomerCreateInput!) { customerCreate(input: $input) { id } }"#;

const LOYALTY: &str = r#"
query($id: ID!) { customer(id: $id) { loyalty {
    tier nextTier spendToNextTier { amount } trailingSpend { amount }
    tierReviewAt tierExpiresAt spendToKeepTier { amount currencyCode } tierAtRisk } } }"#;

const EVENTS: &str = r#"
query($types: [String!]) {
  events(first: 100, types: $types) { edges { node { type customer { id } data } } }
}"#;

const MEMBERS: &str = r#"
query($q: String!) { segmentMembers(query: $q, first: 100) { edges { node { id } } } }"#;

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .expect("a time")
        .to_utc()
}

/// A `DateTime` field as an instant (`null` as `None`).
fn instant(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str().map(at)
}

async fn customer(app: &TestApp, email: &str) -> i64 {
    let data = app
        .query(
            CREATE,
            json!({ "input": { "profile": { "email": email } } }),
        )
        .await;
    data["customerCreate"]["id"]
        .as_str()
        .and_then(|id| id.rsplit('/').next())
        .and_then(|n| n.parse().ok())
        .expect("an id")
}

/// Posts a PAID order of `total` minor units at the clock's time; its id.
async fn paid(app: &TestApp, customer: i64, external_ref: &str, total: i64) -> String {
    let (_, body) = app
        .post(
            INGEST,
            json!({ "input": order_of(customer, external_ref, "PAID", total) }),
            Some(&partner(app)),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["orderIngest"]["id"]
        .as_str()
        .expect("order id")
        .to_owned()
}

async fn loyalty(app: &TestApp, customer: i64) -> Value {
    let data = app
        .query(LOYALTY, json!({ "id": gid("Customer", customer) }))
        .await;
    data["customer"]["loyalty"].clone()
}

async fn tier(app: &TestApp, customer: i64) -> String {
    loyalty(app, customer).await["tier"]
        .as_str()
        .expect("tier")
        .to_owned()
}

/// The tier as stored, read without going through the API (which reviews
/// a due account before showing it).
async fn stored_tier(app: &TestApp, customer: i64) -> String {
    app.text(&format!(
        "SELECT tier FROM loyalty_accounts WHERE customer_id = {customer}"
    ))
    .await
}

/// `data` of the events of `event_type`, with the customer's id, oldest first.
async fn events(app: &TestApp, event_type: &str) -> Vec<(String, Value)> {
    let data = app.query(EVENTS, json!({ "types": [event_type] })).await;
    data["events"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| {
            let customer = e["node"]["customer"]["id"].as_str().unwrap_or_default();
            (customer.to_owned(), e["node"]["data"].clone())
        })
        .collect()
}

/// The `loyalty.tier_changed` DOWN events, as `(customer, from, to, reason)`.
async fn lowered(app: &TestApp) -> Vec<(String, String, String, String)> {
    events(app, "loyalty.tier_changed")
        .await
        .into_iter()
        .filter(|(_, d)| d["direction"] == "DOWN")
        .map(|(c, d)| {
            let s = |k: &str| d[k].as_str().unwrap_or_default().to_owned();
            (c, s("from"), s("to"), s("reason"))
        })
        .collect()
}

async fn members(app: &TestApp, query: &str) -> Vec<String> {
    let data = app.query(MEMBERS, json!({ "q": query })).await;
    let mut ids: Vec<String> = data["segmentMembers"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["id"].as_str().expect("id").to_owned())
        .collect();
    ids.sort();
    ids
}

fn ids(customers: &[i64]) -> Vec<String> {
    let mut ids: Vec<String> = customers.iter().map(|c| gid("Customer", *c)).collect();
    ids.sort();
    ids
}

both_stores! {
    async fn a_retained_tier_is_kept_until_its_review_then_set_from_spend(app: TestApp) {
        // The default policy: kept through the next calendar year.
        app.clock.set(at("2026-03-10T14:00:00Z"));
        let lapsed = customer(&app, "lapsed@example.com").await;
        let kept = customer(&app, "kept@example.com").await;
        // 600.00 reaches SILVER (500.00) in 2026: kept through 2027.
        paid(&app, lapsed, "ret-1", 60_000).await;
        paid(&app, kept, "ret-2", 60_000).await;
        let review = at("2028-01-01T00:00:00Z");
        let l = loyalty(&app, lapsed).await;
        assert_eq!(l["tier"], "SILVER", "{l}");
        assert_eq!((instant(&l["tierReviewAt"]), instant(&l["tierExpiresAt"])), (Some(review), Some(review)));
        // Nothing counted yet in the year before the review.
        assert_eq!(l["spendToKeepTier"], json!({ "amount": "500.00", "currencyCode": "USD" }));
        assert_eq!((&l["nextTier"], &l["spendToNextTier"]["amount"]), (&json!("GOLD"), &json!("900.00")));
        assert_eq!(l["tierAtRisk"], false);

        // The other keeps buying at SILVER's level in 2027.
        app.clock.set(at("2027-05-01T10:00:00Z"));
        paid(&app, kept, "ret-3", 55_000).await;

        // A year on, the first order has left the window: the tier is kept,
        // above its spend, and shown consistently.
        app.clock.set(at("2027-06-01T00:00:00Z"));
        let l = loyalty(&app, lapsed).await;
        assert_eq!((&l["tier"], &l["trailingSpend"]["amount"]), (&json!("SILVER"), &json!("0.00")), "{l}");
        assert_eq!((&l["nextTier"], &l["spendToNextTier"]["amount"]), (&json!("GOLD"), &json!("1500.00")));
        let k = loyalty(&app, kept).await;
        assert_eq!(instant(&k["tierReviewAt"]), Some(review));
        assert_eq!(instant(&k["tierExpiresAt"]), Some(at("2029-01-01T00:00:00Z")), "{k}");
        assert_eq!(k["spendToKeepTier"]["amount"], "0.00");
        let quiet = app.tick().await;
        assert_eq!((quiet.tiers_lowered, quiet.tiers_at_risk), (0, 0), "{quiet:?}");

        // The notice starts 30 days before the review, at midnight: told
        // once, to the account its spend would not keep.
        app.clock.set(at("2027-12-01T23:59:59Z"));
        assert_eq!(app.tick().await.tiers_at_risk, 0);
        assert_eq!(loyalty(&app, lapsed).await["tierAtRisk"], false);
        app.clock.set(at("2027-12-02T00:00:00Z"));
        assert_eq!(app.tick().await.tiers_at_risk, 1);
        assert_eq!(loyalty(&app, lapsed).await["tierAtRisk"], true);
        assert_eq!(app.tick().await.total(), 0, "told once");
        app.clock.set(at("2027-12-20T00:00:00Z"));
        assert_eq!(app.tick().await.total(), 0, "told once per review");
        let told = events(&app, "loyalty.tier_at_risk").await;
        assert_eq!(
            told,
            [(gid("Customer", lapsed), json!({
                "customerId": gid("Customer", lapsed),
                "tier": "SILVER",
                "tierAfterReview": "BRONZE",
                "reviewAt": "2028-01-01T00:00:00+00:00",
                "spendToKeep": { "amount": "500.00", "currencyCode": "USD" },
            }))]
        );
        assert_eq!(loyalty(&app, kept).await["tierAtRisk"], false);

        // Kept to the last second of 2027; at the review a read of the due
        // account lowers it before showing it.
        app.clock.set(at("2027-12-31T23:59:59Z"));
        assert_eq!(tier(&app, lapsed).await, "SILVER");
        app.clock.set(review);
        let l = loyalty(&app, lapsed).await;
        assert_eq!(l["tier"], "BRONZE", "{l}");
        assert!(l["tierReviewAt"].is_null() && l["spendToKeepTier"].is_null(), "{l}");
        assert_eq!(l["tierAtRisk"], false);
        assert_eq!(
            lowered(&app).await,
            [(gid("Customer", lapsed), "SILVER".into(), "BRONZE".into(), "REVIEW".into())]
        );

        // Spend that still qualifies changes nothing but the next review.
        assert_eq!(app.tick().await.total(), 0);
        let k = loyalty(&app, kept).await;
        assert_eq!(k["tier"], "SILVER");
        assert_eq!(instant(&k["tierReviewAt"]), Some(at("2029-01-01T00:00:00Z")), "{k}");
        assert_eq!(lowered(&app).await.len(), 1);
        assert_eq!(events(&app, "loyalty.tier_at_risk").await.len(), 1);
    }
}

both_stores! {
    async fn a_refund_takes_back_the_tier_its_order_reached_and_only_that(app: TestApp) {
        app.clock.set(at("2025-06-01T12:00:00Z"));
        let c = customer(&app, "refund@example.com").await;
        paid(&app, c, "rf-1", 60_000).await;
        app.clock.set(at("2026-03-01T12:00:00Z"));
        let big = paid(&app, c, "rf-2", 100_000).await;
        let l = loyalty(&app, c).await;
        assert_eq!(l["tier"], "GOLD", "{l}");
        assert_eq!(instant(&l["tierReviewAt"]), Some(at("2028-01-01T00:00:00Z")));
        // 900.00 of the 1,000.00 order comes back: GOLD was never reached,
        // but SILVER, reached in 2025, is kept through 2026.
        let (_, body) = app
            .post(REFUND, json!({ "id": big, "amount": 90_000 }), Some(&partner(&app)))
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        let l = loyalty(&app, c).await;
        assert_eq!(l["tier"], "SILVER", "{l}");
        assert_eq!(instant(&l["tierReviewAt"]), Some(at("2027-01-01T00:00:00Z")));
        assert_eq!(
            lowered(&app).await,
            [(gid("Customer", c), "GOLD".into(), "SILVER".into(), "REFUND".into())]
        );
    }
}

both_stores! {
    async fn a_merge_keeps_the_tier_the_merged_customer_still_holds(app: TestApp) {
        app.clock.set(at("2026-02-01T12:00:00Z"));
        let gold = customer(&app, "was-gold@example.com").await;
        let kept = customer(&app, "kept-record@example.com").await;
        paid(&app, gold, "mg-1", 160_000).await;
        // A year and a half on, GOLD's spend has left the window; it is
        // kept through 2027.
        app.clock.set(at("2027-08-01T12:00:00Z"));
        paid(&app, kept, "mg-2", 10_000).await;
        assert_eq!(tier(&app, gold).await, "GOLD");
        assert_eq!(tier(&app, kept).await, "BRONZE");
        app.query(
            "mutation($k: ID!, $m: ID!) { customerMerge(keep: $k, merge: $m) { id } }",
            json!({ "k": gid("Customer", kept), "m": gid("Customer", gold) }),
        )
        .await;
        let l = loyalty(&app, kept).await;
        assert_eq!(l["tier"], "GOLD", "{l}");
        assert_eq!(instant(&l["tierReviewAt"]), Some(at("2028-01-01T00:00:00Z")));
        let up: Vec<Value> = events(&app, "loyalty.tier_changed")
            .await
            .into_iter()
            .filter(|(c, d)| *c == gid("Customer", kept) && d["reason"] == "MERGE")
            .map(|(_, d)| d)
            .collect();
        assert_eq!(up.len(), 1, "{up:?}");
        assert_eq!((&up[0]["from"], &up[0]["to"], &up[0]["direction"]), (&json!("BRONZE"), &json!("GOLD"), &json!("UP")));
    }
}

each_store! {
    async fn aged_out_spend_is_lowered_by_a_read_and_by_loyalty_settle(store: StoreKind) {
        let app = TestApp::spawn(store, |c| c.tier_policy = TierPolicyKind::Rolling).await;
        // The CLI runs on the real clock: the orders are placed a year and
        // two hours before it, and one 200 days before.
        let real = Utc::now().trunc_subsecs(0);
        app.clock.set(real - WINDOW - TimeDelta::hours(2));
        let read = customer(&app, "read@example.com").await;
        let swept = customer(&app, "swept@example.com").await;
        let buying = customer(&app, "buying@example.com").await;
        paid(&app, read, "age-1", 60_000).await;
        paid(&app, swept, "age-2", 60_000).await;
        app.clock.set(real - TimeDelta::days(200));
        paid(&app, buying, "age-3", 60_000).await;
        app.clock.reset();

        // A read of the due account reviews it before showing it.
        let l = loyalty(&app, read).await;
        assert_eq!((&l["tier"], &l["nextTier"]), (&json!("BRONZE"), &json!("SILVER")), "{l}");
        assert_eq!(stored_tier(&app, read).await, "BRONZE");
        assert_eq!(stored_tier(&app, swept).await, "SILVER");

        assert_eq!(
            tier_reviews_settled(&app.db_url, &["--tier-policy", "rolling"]),
            "reviewed 1 loyalty tiers; lowered 1; told 0 at risk"
        );
        assert_eq!(stored_tier(&app, swept).await, "BRONZE");
        // Spend that still qualifies: untouched, reviewed when it leaves.
        let b = loyalty(&app, buying).await;
        assert_eq!(b["tier"], "SILVER");
        let leaves = real - TimeDelta::days(200) + WINDOW + TimeDelta::seconds(1);
        assert!(
            instant(&b["tierReviewAt"]).is_some_and(|r| (r - leaves).num_seconds().abs() <= 5),
            "{b}"
        );
        let mut down = lowered(&app).await;
        down.sort();
        assert_eq!(
            down,
            [read, swept].map(|c| (gid("Customer", c), "SILVER".into(), "BRONZE".into(), "SPEND_WINDOW".into()))
        );
        // A second run finds nothing due.
        assert_eq!(
            tier_reviews_settled(&app.db_url, &["--tier-policy", "rolling"]),
            "reviewed 0 loyalty tiers; lowered 0; told 0 at risk"
        );
    }
}

each_store! {
    async fn changed_tier_rules_have_every_tier_reviewed_again(store: StoreKind) {
        let app = TestApp::spawn(store, |c| c.tier_policy = TierPolicyKind::Rolling).await;
        let real = Utc::now().trunc_subsecs(0);
        app.clock.set(real - TimeDelta::days(200));
        let c = customer(&app, "rules@example.com").await;
        paid(&app, c, "rules-1", 60_000).await;
        app.clock.reset();
        let settle = |extra: &[&str]| {
            let args = [&["--tier-policy", "rolling"], extra].concat();
            tier_reviews_settled(&app.db_url, &args)
        };
        // Same rules: the account is not due for months.
        assert_eq!(settle(&[]), "reviewed 0 loyalty tiers; lowered 0; told 0 at risk");
        // SILVER now starts at 700.00: every tier is reviewed under it at once.
        assert_eq!(settle(&["--tier-silver", "70000"]), "reviewed 1 loyalty tiers; lowered 1; told 0 at risk");
        assert_eq!(stored_tier(&app, c).await, "BRONZE");
        assert_eq!(settle(&["--tier-silver", "70000"]), "reviewed 0 loyalty tiers; lowered 0; told 0 at risk");
    }
}

each_store! {
    async fn a_rolling_tier_is_told_at_risk_inside_the_notice_then_lowered(store: StoreKind) {
        let app = TestApp::spawn(store, |c| {
            c.tier_policy = TierPolicyKind::Rolling;
            c.tier_downgrade_notice = Duration::from_secs(10 * 86_400);
        })
        .await;
        let t0 = at("2026-01-10T09:00:00Z");
        app.clock.set(t0);
        let c = customer(&app, "rolling@example.com").await;
        // 1,600.00: GOLD; the first 300.00 leaving leaves SILVER.
        paid(&app, c, "roll-1", 30_000).await;
        app.clock.set(at("2026-03-01T09:00:00Z"));
        paid(&app, c, "roll-2", 130_000).await;
        let lost = at("2027-01-10T09:00:01Z");
        let l = loyalty(&app, c).await;
        assert_eq!(l["tier"], "GOLD");
        assert_eq!((instant(&l["tierReviewAt"]), instant(&l["tierExpiresAt"])), (Some(lost), Some(lost)));
        assert_eq!(l["spendToKeepTier"]["amount"], "200.00");

        // Ten days before the day it would be lost, from midnight.
        app.clock.set(at("2026-12-30T23:59:59Z"));
        assert_eq!(app.tick().await.tiers_at_risk, 0);
        app.clock.set(at("2026-12-31T00:00:00Z"));
        assert_eq!(app.tick().await.tiers_at_risk, 1);
        assert_eq!(app.tick().await.tiers_at_risk, 0, "told once");
        let told = events(&app, "loyalty.tier_at_risk").await;
        assert_eq!(told.len(), 1);
        assert_eq!(told[0].1["tierAfterReview"], "SILVER");
        assert_eq!(told[0].1["spendToKeep"]["amount"], "200.00");
        assert_eq!(members(&app, "tier_at_risk = true").await, ids(&[c]));

        // The last second the order counts, then the tier follows spend.
        app.clock.set(lost - TimeDelta::seconds(1));
        assert_eq!(app.tick().await.tiers_lowered, 0);
        assert_eq!(tier(&app, c).await, "GOLD");
        app.clock.set(lost);
        assert_eq!(app.tick().await.tiers_lowered, 1);
        let l = loyalty(&app, c).await;
        assert_eq!(l["tier"], "SILVER", "{l}");
        assert_eq!(instant(&l["tierReviewAt"]), Some(at("2027-03-01T09:00:01Z")));
        assert_eq!(l["tierAtRisk"], false);
        assert_eq!(
            lowered(&app).await,
            [(gid("Customer", c), "GOLD".into(), "SILVER".into(), "SPEND_WINDOW".into())]
        );
    }
}

both_stores! {
    async fn the_segment_attributes_select_by_review_spend_to_keep_and_risk(app: TestApp) {
        app.clock.set(at("2026-03-10T14:00:00Z"));
        let risky = customer(&app, "risky@example.com").await;
        let safe = customer(&app, "safe@example.com").await;
        let gold = customer(&app, "gold@example.com").await;
        let bronze = customer(&app, "bronze@example.com").await;
        paid(&app, risky, "seg-1", 60_000).await;
        paid(&app, safe, "seg-2", 60_000).await;
        app.clock.set(at("2027-05-01T10:00:00Z"));
        paid(&app, safe, "seg-3", 55_000).await;
        app.clock.set(at("2027-10-01T10:00:00Z"));
        paid(&app, gold, "seg-4", 200_000).await;
        // Inside the notice of the 2028 review that `risky` would not pass.
        app.clock.set(at("2027-12-10T00:00:00Z"));
        app.tick().await;

        let cases: [(&str, Vec<i64>); 10] = [
            ("tier_at_risk = true", vec![risky]),
            ("tier_at_risk != true", vec![safe, gold, bronze]),
            ("tier_at_risk = false AND loyalty_tier = 'SILVER'", vec![safe]),
            ("tier_review_at = 2028-01-01", vec![risky, safe]),
            ("tier_review_at > 2028-06-30", vec![gold]),
            ("tier_review_at BETWEEN today AND +30d", vec![risky, safe]),
            ("tier_review_at IS NULL", vec![bronze]),
            ("spend_to_keep_tier >= 1000", vec![gold]),
            ("spend_to_keep_tier BETWEEN 400 AND 600", vec![risky]),
            ("spend_to_keep_tier = 0", vec![safe, bronze]),
        ];
        for (query, expected) in cases {
            assert_eq!(members(&app, query).await, ids(&expected), "{query}");
        }
        let filters = app.query("{ segmentFilters { name valueType } }", json!({})).await;
        let type_of = |name: &str| {
            filters["segmentFilters"]
                .as_array()
                .expect("filters")
                .iter()
                .find(|f| f["name"] == name)
                .map(|f| f["valueType"].clone())
        };
        assert_eq!(type_of("tier_review_at"), Some(json!("DATE")));
        assert_eq!(type_of("spend_to_keep_tier"), Some(json!("MONEY")));
        assert_eq!(type_of("tier_at_risk"), Some(json!("BOOLEAN")));
        // What the attributes filter on is indexed, as is the sweep's due instant.
        let indexes = match app.db.get_database_backend() {
            sea_orm::DbBackend::Postgres => "SELECT indexname FROM pg_indexes WHERE tablename = 'loyalty_accounts'",
            _ => "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'loyalty_accounts'",
        };
        let names: Vec<String> = app
            .db
            .query_all_raw(Statement::from_string(app.db.get_database_backend(), indexes))
            .await
            .expect("indexes")
            .iter()
            .map(|r| r.try_get_by_index::<String>(0).expect("name"))
            .collect();
        for column in ["tier_due_at", "tier_review_at", "tier_notice_at", "tier_spend_to_keep"] {
            let name = format!("idx_loyalty_accounts_{column}");
            assert!(names.contains(&name), "{name} missing from {names:?}");
        }
        // A boolean takes true or false.
        let (_, body) = app.post(MEMBERS, json!({ "q": "tier_at_risk = 'yes'" }), Some(&app.staff())).await;
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains("true or false"), "{body}");
    }
}

each_store! {
    async fn a_sweep_reviews_every_due_account_in_a_fixed_number_of_statements(store: StoreKind) {
        let app = TestApp::spawn(store, |c| c.tier_policy = TierPolicyKind::Rolling).await;
        let seeded = at("2026-03-10T15:20:07Z");
        app.clock.set(seeded);
        app.seed(1_000).await;
        let above = app.scalar("SELECT COUNT(*) FROM loyalty_accounts WHERE tier <> 'BRONZE'").await;
        assert!(above >= 50, "{above} accounts above BRONZE");
        // A year and a day on, every order seeded has left the window.
        let later = seeded + WINDOW + TimeDelta::days(1);
        let store = Store::connect(&StoreOptions::new(app.db_url.clone())).await.expect("store");
        let (reviewed, statements) = c360::db::count_statements(
            c360::service::loyalty::review_due(&store.conn, &app.rules, later),
        )
        .await;
        let reviewed = reviewed.expect("review");
        assert_eq!((reviewed.accounts, reviewed.lowered), (above as u64, above as u64));
        // Find, lock and read again (PostgreSQL), the orders, one UPDATE,
        // one insert of events: whatever the number of accounts.
        assert!(statements <= 6, "{statements} statements for {above} accounts");
        assert_eq!(app.scalar("SELECT COUNT(*) FROM loyalty_accounts WHERE tier <> 'BRONZE'").await, 0);
        let (again, statements) = c360::db::count_statements(
            c360::service::loyalty::review_due(&store.conn, &app.rules, later),
        )
        .await;
        assert_eq!(again.expect("review").accounts, 0);
        assert_eq!(statements, 1, "nothing due: one indexed look-up");
        store.conn.close().await.ok();
    }
}

#[test]
fn bad_tier_settings_are_refused_by_name() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("c360.db").display());
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = c360();
        cmd.args(["loyalty", "settle", "--database-url", &url])
            .args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stderr) = run(&[], &[("C360_TIER_RETENTION", "forever")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--tier-retention") && stderr.contains("`next-year` or whole days"),
        "{stderr}"
    );
    let (code, stderr) = run(&["--tier-retention", "36h"], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("not a tier retention"), "{stderr}");
    let (code, stderr) = run(&["--tier-policy", "sometimes"], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("retain") && stderr.contains("rolling"),
        "{stderr}"
    );
    let (code, stderr) = run(
        &["--tier-policy", "rolling", "--tier-retention", "90d"],
        &[],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("C360_TIER_RETENTION") && stderr.contains("rolling policy keeps no tier"),
        "{stderr}"
    );
    let (code, stderr) = run(&[], &[("C360_TIER_DOWNGRADE_NOTICE", "36h")]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("C360_TIER_DOWNGRADE_NOTICE") && stderr.contains("whole days"),
        "{stderr}"
    );
    let (code, stderr) = run(&["--tier-downgrade-notice", "400d"], &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("shorter than a year"), "{stderr}");
    let (code, stderr) = run(
        &["--tier-retention", "180d", "--tier-downgrade-notice", "14d"],
        &[],
    );
    assert_eq!(code, Some(0), "{stderr}");
}

// ---------- the demo seed, reviewed ----------

fn rank(tier: &str) -> usize {
    ["BRONZE", "SILVER", "GOLD", "PLATINUM"]
        .iter()
        .position(|t| *t == tier)
        .unwrap_or_else(|| panic!("{tier} is not a tier"))
}

fn name(tier: LoyaltyTier) -> String {
    tier.to_value()
}

/// Paid orders (placed, net) per customer, in the base currency.
async fn spend_histories(app: &TestApp) -> BTreeMap<i64, Vec<(DateTime<Utc>, i64)>> {
    let sql = "SELECT customer_id, placed_at, total - refunded FROM orders
               WHERE currency = 'USD' AND status IN ('PAID', 'FULFILLED', 'PARTIALLY_REFUNDED', 'REFUNDED')";
    let mut out: BTreeMap<i64, Vec<(DateTime<Utc>, i64)>> = BTreeMap::new();
    for row in app
        .db
        .query_all_raw(Statement::from_string(app.db.get_database_backend(), sql))
        .await
        .expect("orders")
    {
        let customer: i64 = row.try_get_by_index(0).expect("customer");
        out.entry(customer).or_default().push((
            row.try_get_by_index(1).expect("placed_at"),
            row.try_get_by_index(2).expect("net"),
        ));
    }
    out
}

fn spend_at(orders: &[(DateTime<Utc>, i64)], t: DateTime<Utc>) -> i64 {
    orders
        .iter()
        .filter(|(placed, _)| *placed <= t && *placed >= t - WINDOW)
        .map(|(_, net)| net)
        .sum()
}

/// The retaining policy's tier at `now`, replayed the long way: every
/// order and every 1 January (UTC) since the first order, in time order; an
/// order whose trailing spend reaches above the tier held reaches that tier
/// (reviewed on the 1 January two years on), a review on its 1 January
/// sets the tier trailing spend then reaches if lower, and keeps it a year.
fn next_year_policy(orders: &[(DateTime<Utc>, i64)], now: DateTime<Utc>) -> usize {
    let t = TierThresholds::default();
    let rank_of = |spend: i64| rank(&name(tier_for_spend(spend, &t)));
    let new_year = |y: i32| {
        NaiveDate::from_ymd_opt(y, 1, 1)
            .expect("a year")
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
    };
    let Some(first) = orders.iter().map(|(p, _)| *p).min() else {
        return 0;
    };
    let mut moments: Vec<(DateTime<Utc>, bool)> = orders.iter().map(|(p, _)| (*p, false)).collect();
    moments.extend((first.year()..=now.year() + 1).map(|y| (new_year(y), true)));
    // A review at the second of an order comes first.
    moments.sort_by_key(|(at, is_review)| (*at, !*is_review));
    let (mut held, mut review) = (0usize, None::<DateTime<Utc>>);
    for (at, is_review) in moments.into_iter().filter(|(at, _)| *at <= now) {
        let reached = rank_of(spend_at(orders, at));
        if is_review {
            if review == Some(at) {
                held = held.min(reached);
                review = (held > 0).then(|| new_year(at.year() + 1));
            }
        } else if reached > held {
            held = reached;
            review = Some(new_year(at.year() + 2));
        }
    }
    held
}

/// Reads every customer's loyalty through the API at the clock's time and
/// checks each tier against `allowed(customer, seeded tier, spend now)`,
/// and `nextTier`/`spendToNextTier` against the tier held. How many hold a
/// tier above their spend.
async fn check_demo(
    app: &TestApp,
    allowed: impl Fn(i64, usize, i64) -> usize,
    seeded: &BTreeMap<i64, String>,
) -> usize {
    let t = TierThresholds::default();
    let query = "query($after: String) { customers(first: 100, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes { id loyalty { tier nextTier spendToNextTier { amount } trailingSpend { amount } tierReviewAt } } } }";
    let minor = |v: &Value| -> i64 {
        v.as_str()
            .expect("amount")
            .replace('.', "")
            .parse()
            .expect("minor")
    };
    let (mut after, mut seen, mut above_spend) = (None::<String>, 0, 0);
    let now = app.clock.now();
    loop {
        let data = app.query(query, json!({ "after": after })).await;
        let page = &data["customers"];
        for node in page["nodes"].as_array().expect("nodes") {
            let id: i64 = node["id"]
                .as_str()
                .and_then(|s| s.rsplit('/').next())
                .and_then(|n| n.parse().ok())
                .expect("id");
            let l = &node["loyalty"];
            let held = l["tier"].as_str().expect("tier");
            let spend = minor(&l["trailingSpend"]["amount"]);
            let reached = rank(&name(tier_for_spend(spend, &t)));
            let expected = allowed(id, rank(&seeded[&id]), spend);
            assert_eq!(rank(held), expected, "customer {id}: {l}");
            assert!(rank(held) >= reached, "customer {id} below its spend: {l}");
            if rank(held) > reached {
                above_spend += 1;
                assert!(
                    instant(&l["tierReviewAt"]).is_some_and(|r| r > now),
                    "customer {id} kept past its review: {l}"
                );
            }
            let tier = LoyaltyTier::try_from_value(&held.to_owned()).expect("tier");
            match next_tier(tier, &t) {
                Some((next, threshold)) => {
                    assert_eq!(l["nextTier"], name(next), "customer {id}: {l}");
                    assert_eq!(
                        minor(&l["spendToNextTier"]["amount"]),
                        (threshold - spend).max(0),
                        "customer {id}: {l}"
                    );
                }
                None => assert!(
                    l["nextTier"].is_null() && l["spendToNextTier"].is_null(),
                    "{l}"
                ),
            }
            seen += 1;
        }
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, 1_000);
    above_spend
}

/// Seeds the demo store (`c360 seed`: 1,000 customers, seed 360) on a fixed
/// day, then reviews it as the scheduler does on a day after the 2027 review
/// and reads it back.
async fn reviewed_demo(app: &TestApp) -> BTreeMap<i64, String> {
    app.clock.set(at("2026-11-23T00:00:00Z"));
    app.seed_with(1_000, 360).await;
    let seeded: BTreeMap<i64, String> = app
        .db
        .query_all_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT customer_id, tier FROM loyalty_accounts",
        ))
        .await
        .expect("tiers")
        .iter()
        .map(|r| {
            (
                r.try_get_by_index(0).expect("id"),
                r.try_get_by_index(1).expect("tier"),
            )
        })
        .collect();
    app.clock.set(at("2027-01-15T00:00:00Z"));
    app.tick().await;
    seeded
}

each_store! {
    async fn on_the_demo_seed_every_reviewed_tier_is_the_retaining_policys(store: StoreKind) {
        let app = TestApp::spawn(store, |_| {}).await;
        let seeded = reviewed_demo(&app).await;
        let histories = spend_histories(&app).await;
        let now = app.clock.now();
        let t = TierThresholds::default();
        // Spend raises; otherwise the tier held, as far as the policy keeps it.
        let kept = check_demo(&app, |id, seeded, spend| {
            let policy = next_year_policy(histories.get(&id).map_or(&[], Vec::as_slice), now);
            rank(&name(tier_for_spend(spend, &t))).max(seeded.min(policy))
        }, &seeded)
        .await;
        assert!(kept > 0, "no tier kept above its spend: the policy was not applied");
    }
}

each_store! {
    async fn on_the_demo_seed_every_reviewed_rolling_tier_is_its_spends(store: StoreKind) {
        let app = TestApp::spawn(store, |c| c.tier_policy = TierPolicyKind::Rolling).await;
        let seeded = reviewed_demo(&app).await;
        let t = TierThresholds::default();
        let above = check_demo(&app, |_, _, spend| rank(&name(tier_for_spend(spend, &t))), &seeded).await;
        assert_eq!(above, 0);
    }
}
