//! `c360 import orders` a batch at a time against `--record-at-a-time`: the
//! same file into two fresh stores, at one fixed instant, must leave the
//! same rows in every table an import writes and report the same rejected
//! lines; and an import killed part-way (SIGKILL) and run again must leave
//! exactly what one whole run leaves.
//!
//! Rows are compared in insertion order with surrogate ids replaced by
//! ranks (the n-th order, the n-th ledger row, ...), wherever they appear:
//! foreign keys, global ids in payloads and audit targets, idempotency
//! keys, generated order numbers. PostgreSQL sequences skip the ids of
//! rolled-back inserts, which a record-at-a-time run makes and a batch
//! does not, so raw ids may differ where nothing else does.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use c360::auth::Role;
use c360_entity as entity;
use sea_orm::{DatabaseConnection, EntityTrait, QueryOrder};
use serde_json::{Value, json};

use crate::each_store;
use crate::helpers::{StoreKind, TestApp, gid};

/// The instant every run imports at.
const NOW: &str = "2026-12-10T12:00:00Z";

fn now() -> chrono::DateTime<chrono::Utc> {
    NOW.parse().expect("an instant")
}

/// Runs `c360 import <kind> <path>` on `app`'s store at [`NOW`]; returns
/// stdout, and the rejected lines as written to `--rejects`.
async fn import(app: &TestApp, kind: &str, path: &Path, extra: &[&str]) -> (String, String) {
    static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let rejects = path.with_extension(format!("{run}.rejects"));
    let mut args: Vec<String> = vec![
        "import".into(),
        kind.into(),
        path.to_str().expect("utf-8").into(),
        "--database-url".into(),
        app.db_url.clone(),
        "--now".into(),
        NOW.into(),
        "--rejects".into(),
        rejects.to_str().expect("utf-8").into(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let out = tokio::task::spawn_blocking(move || {
        crate::cli::c360()
            .args(&args)
            .output()
            .expect("c360 import runs")
    })
    .await
    .expect("joined");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "{stdout}\n{stderr}"
    );
    // A batch that fell back to records one by one would prove nothing.
    assert!(!stderr.contains("failed as a whole"), "{stderr}");
    let rejected = std::fs::read_to_string(&rejects).unwrap_or_default();
    (stdout, rejected)
}

/// The counts of an import's summary line, without its timing.
fn summary(stdout: &str) -> String {
    let line = stdout.lines().last().unwrap_or_default();
    line.split(" in ").next().unwrap_or_default().to_owned()
}

const CUSTOMERS: &str = r#"{"externalRef":"shop-1","email":"c1@example.com","firstName":"One"}
{"externalRef":"shop-2","email":"c2@example.com","firstName":"Two"}
{"externalRef":"shop-3","email":"c3@example.com","firstName":"Three"}
{"externalRef":"shop-4","email":"c4@example.com","firstName":"Four"}
{"externalRef":"shop-5","email":"c5@example.com","firstName":"Five"}
{"externalRef":"shop-6","email":"c6@example.com","firstName":"Six"}
"#;

/// Orders stored before the file under test, for it to move on.
const EARLIER: &str = r#"{"externalRef":"pre-1","orderNumber":"P-1","customerExternalRef":"shop-2","status":"PENDING","currency":"USD","total":10000,"placedAt":"2026-06-01T10:00:00Z","lines":[{"sku":"A","productName":"A","quantity":1,"unitPrice":10000}]}
{"externalRef":"pre-2","orderNumber":"P-2","customerExternalRef":"shop-3","status":"PAID","currency":"USD","total":25000,"placedAt":"2026-05-01T10:00:00Z","lines":[{"sku":"B","productName":"B","quantity":1,"unitPrice":25000}]}
{"externalRef":"pre-3","orderNumber":"P-3","customerExternalRef":"shop-4","status":"PAID","currency":"USD","total":8000,"placedAt":"2026-04-01T10:00:00Z","lines":[{"sku":"C","productName":"C","quantity":1,"unitPrice":8000}]}
"#;

/// A small deterministic generator.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// A generated order record: `n` names it, `who` its customer reference.
fn order(rng: &mut Lcg, n: u64, who: Value) -> Value {
    let lines: Vec<Value> = (0..1 + rng.next(3))
        .map(|l| {
            let mut line = json!({
                "sku": format!("SKU-{}", rng.next(40)),
                "productName": format!("Product {l}"),
                "quantity": 1 + rng.next(3),
                "unitPrice": 2_000 + 500 * rng.next(60),
            });
            if rng.next(3) == 0 {
                line["category"] = json!(["skincare", "makeup", "hair"][rng.next(3) as usize]);
            }
            line
        })
        .collect();
    let subtotal: u64 = lines
        .iter()
        .map(|l| l["quantity"].as_u64().unwrap_or(0) * l["unitPrice"].as_u64().unwrap_or(0))
        .sum();
    let discount = if rng.next(5) == 0 { subtotal / 10 } else { 0 };
    let tax = rng.next(4) * 100;
    let total = subtotal - discount + tax;
    let status = [
        "PAID",
        "PAID",
        "PAID",
        "FULFILLED",
        "FULFILLED",
        "PENDING",
        "CANCELLED",
        "REFUNDED",
        "PARTIALLY_REFUNDED",
        "PARTIALLY_REFUNDED",
    ][rng.next(10) as usize];
    // Placed over the two years before NOW, in no particular order.
    let placed = now() - chrono::TimeDelta::hours(rng.next(2 * 365 * 24) as i64 + 1);
    let mut o = json!({
        "externalRef": format!("o-{n}"),
        "status": status,
        "currency": if rng.next(15) == 0 { "EUR" } else { "USD" },
        "total": total,
        "discount": discount,
        "tax": tax,
        "placedAt": placed.to_rfc3339(),
        "lines": lines,
    });
    if rng.next(8) != 0 {
        o["orderNumber"] = json!(format!("N-{n}"));
    }
    if status == "PARTIALLY_REFUNDED" {
        o["refunded"] = json!(1 + rng.next(total.max(2) - 1));
    }
    if let Value::Object(fields) = who {
        for (k, v) in fields {
            o[k] = v;
        }
    }
    o
}

/// Gives `o` a status that refunds nothing.
fn set_status(o: &mut Value, status: &str) {
    if let Some(fields) = o.as_object_mut() {
        fields.remove("refunded");
        fields.insert("status".into(), json!(status));
    }
}

/// The file under test: generated orders of six customers and a referee,
/// with the lines every check refuses, duplicates, and moves of the stored
/// orders, in `n` records or so.
fn orders_file(n: u64, c1_id: i64) -> String {
    let mut rng = Lcg(360);
    let mut out: Vec<String> = Vec::new();
    let mut records: Vec<Value> = Vec::new();
    for k in 0..n {
        let c = 1 + rng.next(6);
        let who = match rng.next(3) {
            0 => json!({ "customerExternalRef": format!("shop-{c}") }),
            1 => json!({ "customerEmail": format!("C{c}@Example.com") }),
            _ if c == 1 => json!({ "customerId": c1_id }),
            _ => {
                json!({ "customerExternalRef": format!("shop-{c}"), "customerExternalSource": "import" })
            }
        };
        let mut o = order(&mut rng, k, who);
        match k {
            // The referee: a pending order first (no reward), then the
            // first paid one (the reward), then another paid one.
            7 => {
                o = order(
                    &mut rng,
                    k,
                    json!({ "customerEmail": "friend@example.com" }),
                );
                set_status(&mut o, "PENDING");
            }
            31 | 32 => {
                o = order(
                    &mut rng,
                    k,
                    json!({ "customerEmail": "friend@example.com" }),
                );
                set_status(&mut o, "PAID");
            }
            _ => {}
        }
        records.push(o.clone());
        out.push(o.to_string());
        // Duplicates of earlier lines: the same record (unchanged), the
        // same order moving on, and the same reference with other content.
        if k % 23 == 5 {
            out.push(records[(k / 2) as usize].to_string());
        }
        if k % 29 == 3 {
            let mut pending = order(
                &mut rng,
                10_000 + k,
                json!({ "customerExternalRef": "shop-5" }),
            );
            set_status(&mut pending, "PENDING");
            out.push(pending.to_string());
            set_status(&mut pending, "FULFILLED");
            out.push(pending.to_string());
        }
        if k % 31 == 7 {
            let mut other = records[(k / 3) as usize].clone();
            other["total"] = json!(other["total"].as_u64().unwrap_or(0) + 1);
            other["lines"][0]["unitPrice"] =
                json!(other["lines"][0]["unitPrice"].as_u64().unwrap_or(0) + 1);
            out.push(other.to_string());
        }
    }
    // Moves of the orders stored before: forward, and one backward.
    let moves = [
        r#"{"externalRef":"pre-1","orderNumber":"P-1","customerExternalRef":"shop-2","status":"PAID","currency":"USD","total":10000,"lines":[{"sku":"A","productName":"A","quantity":1,"unitPrice":10000}]}"#,
        r#"{"externalRef":"pre-2","orderNumber":"P-2","customerExternalRef":"shop-3","status":"FULFILLED","currency":"USD","total":25000,"lines":[{"sku":"B","productName":"B","quantity":1,"unitPrice":25000}]}"#,
        r#"{"externalRef":"pre-3","customerExternalRef":"shop-4","status":"PARTIALLY_REFUNDED","refunded":3000,"currency":"USD","total":8000,"lines":[{"sku":"C","productName":"C","quantity":1,"unitPrice":8000}]}"#,
        r#"{"externalRef":"pre-2","customerExternalRef":"shop-3","status":"PENDING","currency":"USD","total":25000,"lines":[{"sku":"B","productName":"B","quantity":1,"unitPrice":25000}]}"#,
    ];
    // Every way a line is refused, one of each.
    let bad = [
        r#"{"customerExternalRef":"shop-1","status":"PAID","currency":"USD","total":100,"lines":[{"sku":"A","productName":"A","quantity":1,"unitPrice":100}]}"#,
        r#"{"externalRef":"b-2","customerExternalRef":"shop-1","currency":"USD","total":100,"lines":[{"sku":"A","productName":"A","quantity":1,"unitPrice":100}]}"#,
        r#"{"externalRef":"b-3","customerExternalRef":"shop-1","status":"PAID","total":100,"lines":[{"sku":"A","productName":"A","quantity":1,"unitPrice":100}]}"#,
        r#"{"externalRef":"b-4","customerExternalRef":"shop-1","status":"PAID","currency":"USD","lines":[{"sku":"A","productName":"A","quantity":1,"unitPrice":100}]}"#,
        r#"{"externalRef":"b-5","customerExternalRef":"shop-1","status":"REFUNDED","refunded":50,"currency":"USD","total":100,"lines":[{"sku":"A","productName":"A","quantity":1,"unitPrice":100}]}"#,
        r#"{"externalRef":"b-6","customerExternalRef":"shop-1","status":"PARTIALLY_REFUNDED","currency":"USD","total":100,"lines":[{"sku":"A","productName":"A","quantity":1,"unitPrice":100}]}"#,
        r#"{"externalRef":"b-7","customerExternalRef":"shop-1","status":"PAID","refunded":5,"currency":"USD","total":100,"lines":[{"sku":"A","productName":"A","quantity":1,"unitPrice":100}]}"#,
        r#"{"externalRef":"b-8","customerId":"gid://c360/Order/1","status":"PAID","currency":"USD","total":100,"lines":[{"sku":"A","productName":"A","quantity":1,"unitPrice":100}]}"#,
        r#"{"externalRef":"b-9","customerId":999999,"status":"PAID","currency":"USD","total":100,"lines":[{"sku":"A","productName":"A","quantity":1,"unitPrice":100}]}"#,
        r#"{"externalRef":"b-10","customerEmail":"nobody@example.com","status":"PAID","currency":"USD","total":100,"lines":[{"sku":"A","productName":"A","quantity":1,"unitPrice":100}]}"#,
        r#"{"externalRef":"b-11","customerEmail":"not-an-email","status":"PAID","currency":"USD","total":100,"lines":[{"sku":"A","productName":"A","quantity":1,"unitPrice":100}]}"#,
        r#"{"externalRef":"b-12","customerExternalRef":"shop-404","status":"PAID","currency":"USD","total":100,"lines":[{"sku":"A","productName":"A","quantity":1,"unitPrice":100}]}"#,
        r#"{"externalRef":"b-13","customerExternalRef":"shop-1","customerEmail":"c1@example.com","status":"PAID","currency":"USD","total":100,"lines":[{"sku":"A","productName":"A","quantity":1,"unitPrice":100}]}"#,
        r#"{"externalRef":"b-14","status":"PAID","currency":"USD","total":100,"lines":[{"sku":"A","productName":"A","quantity":1,"unitPrice":100}]}"#,
        r#"{"externalRef":"b-15","customerExternalRef":"shop-1","status":"PAID","currency":"USD","total":100,"placedAt":"2030-01-01T00:00:00Z","lines":[{"sku":"A","productName":"A","quantity":1,"unitPrice":100}]}"#,
        r#"{"externalRef":"b-16","customerExternalRef":"shop-1","status":"PAID","currency":"usd","total":100,"lines":[{"sku":"A","productName":"A","quantity":1,"unitPrice":100}]}"#,
        r#"{"externalRef":"b-17","customerExternalRef":"shop-1","status":"PAID","currency":"USD","total":100,"discount":-1,"lines":[{"sku":"A","productName":"A","quantity":1,"unitPrice":100}]}"#,
        r#"{"externalRef":"b-18","customerExternalRef":"shop-1","status":"PAID","currency":"USD","total":100,"lines":[]}"#,
        r#"{"externalRef":"b-19","customerExternalRef":"shop-1","status":"PAID","currency":"USD","total":99,"lines":[{"sku":"A","productName":"A","quantity":1,"unitPrice":100}]}"#,
        r#"{"externalRef":"b-20","customerExternalRef":"shop-1","status":"PAID","currency":"USD","total":100,"lines":[{"sku":" ","productName":"A","quantity":1,"unitPrice":100}]}"#,
        r#"{"externalRef":"b-21","customerExternalRef":"shop-1","status":"PAID","currency":"USD","total":0,"lines":[{"sku":"A","productName":"A","quantity":0,"unitPrice":100}]}"#,
        r#"{"externalRef":"b-22","customerExternalRef":"shop-1","status":"PAID","currency":"USD","total":100,"lines":[{"sku":"A","productName":"A","quantity":1,"unitPrice":100,"category":"  "}]}"#,
        r#"{"externalRef":"b-23","customerExternalRef":"shop-1","status":"PAID","currency":"USD","total":100,"colour":"red","lines":[{"sku":"A","productName":"A","quantity":1,"unitPrice":100}]}"#,
        r#"{"externalRef":"b-24","customerExternalRef":"shop-1","status":"PAID","#,
        r#"{"externalRef":" ","customerExternalRef":"shop-1","status":"PAID","currency":"USD","total":100,"lines":[{"sku":"A","productName":"A","quantity":1,"unitPrice":100}]}"#,
        r#"{"externalRef":"b-26","customerExternalRef":"shop-1","status":"REFUNDED","currency":"USD","total":0,"lines":[{"sku":"A","productName":"A","quantity":1,"unitPrice":0}]}"#,
        r#"{"externalRef":"b-27","customerExternalRef":"shop-1","status":"SHIPPED","currency":"USD","total":100,"lines":[{"sku":"A","productName":"A","quantity":1,"unitPrice":100}]}"#,
        // Another order with the number of a stored one.
        r#"{"externalRef":"b-28","orderNumber":"P-1","customerExternalRef":"shop-1","status":"PAID","currency":"USD","total":100,"lines":[{"sku":"A","productName":"A","quantity":1,"unitPrice":100}]}"#,
        // An order without a number: it is given one from its id.
        r#"{"externalRef":"b-29","customerExternalRef":"shop-6","status":"PAID","currency":"USD","total":100,"lines":[{"sku":"A","productName":"A","quantity":1,"unitPrice":100}]}"#,
    ];
    // Spread the moves and the refused lines through the file, so they
    // fall in several batches among the generated records.
    let mut at = 3;
    for line in moves.iter().chain(bad.iter()) {
        let i = at.min(out.len());
        out.insert(i, (*line).to_owned());
        at += 11;
    }
    out.join("\n") + "\n"
}

/// Where both stores of a comparison start: the customers, a referral
/// whose referee has not ordered yet, and three orders stored earlier.
async fn prepare(app: &TestApp, dir: &Path) -> i64 {
    app.clock.set(now());
    let customers = dir.join("customers.jsonl");
    std::fs::write(&customers, CUSTOMERS).expect("write");
    import(app, "customers", &customers, &[]).await;
    let c1 = app
        .scalar("SELECT id FROM customers WHERE email = 'c1@example.com'")
        .await;
    let own = app.token(Role::Customer, &c1.to_string(), &[]);
    let (_, body) = app
        .post(
            "mutation($c: ID!, $e: String!) { referralInvite(customerId: $c, email: $e) { status } }",
            json!({ "c": gid("Customer", c1), "e": "friend@example.com" }),
            Some(&own),
        )
        .await;
    assert_eq!(
        body["data"]["referralInvite"]["status"], "INVITED",
        "{body}"
    );
    let code = app
        .text(&format!(
            "SELECT referral_code FROM loyalty_accounts WHERE customer_id = {c1}"
        ))
        .await;
    let crm = app.token(
        Role::Partner,
        "shop",
        &["customers:write", "customers:read"],
    );
    let (_, body) = app
        .post(
            "mutation($input: CustomerCreateInput!) { customerCreate(input: $input) { id } }",
            json!({ "input": { "profile": { "email": "friend@example.com" }, "referralCode": code } }),
            Some(&crm),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let earlier = dir.join("earlier.jsonl");
    std::fs::write(&earlier, EARLIER).expect("write");
    let (stdout, rejected) = import(app, "orders", &earlier, &["--record-at-a-time"]).await;
    assert_eq!(rejected, "", "{stdout}");
    c1
}

/// Every row of the tables an import writes, in insertion order, with
/// surrogate ids replaced by ranks (see the module documentation).
async fn contents(db: &DatabaseConnection) -> Vec<(&'static str, Vec<Value>)> {
    use entity::*;
    macro_rules! rows {
        ($entity:ty, $order:expr) => {
            <$entity>::find()
                .order_by_asc($order)
                .into_json()
                .all(db)
                .await
                .expect("rows")
        };
    }
    let tables: Vec<(&'static str, Vec<Value>)> = vec![
        ("customers", rows!(customer::Entity, customer::Column::Id)),
        ("orders", rows!(order::Entity, order::Column::Id)),
        (
            "order_lines",
            rows!(order_line::Entity, order_line::Column::Id),
        ),
        (
            "loyalty_transactions",
            rows!(loyalty_transaction::Entity, loyalty_transaction::Column::Id),
        ),
        (
            "loyalty_accounts",
            rows!(loyalty_account::Entity, loyalty_account::Column::Id),
        ),
        (
            "customer_metrics",
            rows!(
                customer_metrics::Entity,
                customer_metrics::Column::CustomerId
            ),
        ),
        ("referrals", rows!(referral::Entity, referral::Column::Id)),
        (
            "audit_events",
            rows!(audit_event::Entity, audit_event::Column::Id),
        ),
        ("events", rows!(event::Entity, event::Column::Seq)),
    ];
    let rank = |name: &str| -> HashMap<i64, usize> {
        tables
            .iter()
            .find(|(t, _)| *t == name)
            .map(|(_, rows)| {
                rows.iter()
                    .enumerate()
                    .filter_map(|(i, r)| r["id"].as_i64().map(|id| (id, i)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let orders = rank("orders");
    let ledger = rank("loyalty_transactions");
    let canonical = Canonical { orders, ledger };
    tables
        .into_iter()
        .map(|(name, rows)| {
            let rows = rows
                .into_iter()
                .map(|row| canonical.row(name, row))
                .collect();
            (name, rows)
        })
        .collect()
}

struct Canonical {
    orders: HashMap<i64, usize>,
    ledger: HashMap<i64, usize>,
}

impl Canonical {
    fn row(&self, table: &str, row: Value) -> Value {
        let Value::Object(mut fields) = row else {
            return row;
        };
        fields.remove("seq");
        fields.remove("position");
        // Event ids are ULIDs of the wall clock; the rest are surrogates.
        if table != "customers" && table != "referrals" && table != "loyalty_accounts" {
            fields.remove("id");
        }
        if let Some(id) = fields.get("order_id").and_then(Value::as_i64) {
            fields.insert("order_id".into(), json!(format!("#{}", self.orders[&id])));
        }
        self.value(Value::Object(fields))
    }

    fn value(&self, v: Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.text(&s)),
            Value::Array(a) => Value::Array(a.into_iter().map(|v| self.value(v)).collect()),
            Value::Object(o) => {
                Value::Object(o.into_iter().map(|(k, v)| (k, self.value(v))).collect())
            }
            other => other,
        }
    }

    fn text(&self, s: &str) -> String {
        let s = replace_ids(s, "gid://c360/Order/", "", &self.orders);
        let s = replace_ids(&s, "gid://c360/LoyaltyTransaction/", "", &self.ledger);
        let s = replace_ids(&s, "order:", ":earn", &self.orders);
        replace_ids(&s, "C360-", "", &self.orders)
    }
}

/// `prefix<id>suffix` with the id replaced by `#<rank>`.
fn replace_ids(s: &str, prefix: &str, suffix: &str, ranks: &HashMap<i64, usize>) -> String {
    let Some(start) = s.find(prefix) else {
        return s.to_owned();
    };
    let digits: String = s[start + prefix.len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let end = start + prefix.len() + digits.len();
    let id: Option<i64> = digits.parse().ok();
    match id.and_then(|id| ranks.get(&id)) {
        Some(rank) if s[end..].starts_with(suffix) => format!(
            "{}{prefix}#{rank}{}",
            &s[..start],
            replace_ids(&s[end..], prefix, suffix, ranks)
        ),
        _ => format!(
            "{}{}",
            &s[..end],
            replace_ids(&s[end..], prefix, suffix, ranks)
        ),
    }
}

/// Asserts two stores hold the same rows, table by table.
fn assert_same(
    left: &[(&'static str, Vec<Value>)],
    right: &[(&'static str, Vec<Value>)],
    what: &str,
) {
    for ((table, a), (_, b)) in left.iter().zip(right) {
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert_eq!(x, y, "{what}: {table} row {i} differs");
        }
        assert_eq!(a.len(), b.len(), "{what}: {table} row counts differ");
    }
}

/// The stores of a comparison, configured alike; `flags` give the `c360`
/// runs the same rules.
async fn two_stores(store: StoreKind, zero_window: bool) -> (TestApp, TestApp) {
    let configure = |config: &mut c360::config::Config| {
        if zero_window {
            config.loyalty_return_window = Duration::ZERO;
            config.loyalty_points_expire_after = Duration::from_secs(365 * 86_400);
            config.tier_policy = c360::config::TierPolicyKind::Rolling;
        }
    };
    (
        TestApp::spawn(store, configure).await,
        TestApp::spawn(store, configure).await,
    )
}

fn flags(zero_window: bool) -> Vec<&'static str> {
    if zero_window {
        vec![
            "--loyalty-return-window",
            "0s",
            "--loyalty-points-expire-after",
            "365d",
            "--tier-policy",
            "rolling",
        ]
    } else {
        vec![]
    }
}

async fn differential(store: StoreKind, zero_window: bool) {
    let (bulk, one_by_one) = two_stores(store, zero_window).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let c1 = prepare(&bulk, dir.path()).await;
    assert_eq!(prepare(&one_by_one, dir.path()).await, c1);
    let file = dir.path().join("orders.jsonl");
    std::fs::write(&file, orders_file(300, c1)).expect("write");

    let mut extra = flags(zero_window);
    extra.extend(["--batch-size", "64"]);
    let (out_bulk, rejected_bulk) = import(&bulk, "orders", &file, &extra).await;
    extra.push("--record-at-a-time");
    let (out_one, rejected_one) = import(&one_by_one, "orders", &file, &extra).await;

    assert_eq!(summary(&out_bulk), summary(&out_one));
    assert_eq!(rejected_bulk, rejected_one);
    // Every kind of refusal happened, and the file did what it was made for.
    let codes: Vec<Value> = rejected_bulk
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json")["code"].clone())
        .collect();
    assert!(codes.len() >= 30, "{rejected_bulk}");
    for code in ["BAD_USER_INPUT", "NOT_FOUND", "CONFLICT"] {
        assert!(
            codes.iter().any(|c| c == code),
            "no {code} in {rejected_bulk}"
        );
    }
    let db = &bulk;
    assert_eq!(
        db.text("SELECT status FROM referrals").await,
        "REWARDED",
        "the referee's first paid order rewarded the referral"
    );
    assert_eq!(
        db.text("SELECT status FROM orders WHERE external_ref = 'pre-1'")
            .await,
        "PAID"
    );
    assert_eq!(
        db.text("SELECT status FROM orders WHERE external_ref = 'pre-2'")
            .await,
        "FULFILLED"
    );
    assert!(
        db.scalar("SELECT COUNT(*) FROM events WHERE event_type = 'loyalty.tier_changed'")
            .await
            >= 6
    );
    assert!(
        db.scalar("SELECT COUNT(DISTINCT tier) FROM loyalty_accounts")
            .await
            >= 2,
        "tiers were crossed"
    );

    assert_same(
        &contents(&bulk.db).await,
        &contents(&one_by_one.db).await,
        "bulk against record at a time",
    );

    // Run again: nothing changes. Besides the lines refused before, the
    // lines of orders that have since moved on are refused now (an order
    // never goes back), alike.
    let (again, rejected_again) = import(&bulk, "orders", &file, &flags(zero_window)).await;
    let (again_one, rejected_again_one) = import(&one_by_one, "orders", &file, &extra).await;
    assert!(
        summary(&again).contains(" 0 created, 0 updated,"),
        "{again}"
    );
    assert_eq!(summary(&again), summary(&again_one));
    assert_eq!(rejected_again, rejected_again_one);
    assert!(rejected_again.lines().count() > codes.len());
    assert_same(
        &contents(&bulk.db).await,
        &contents(&one_by_one.db).await,
        "after a re-run",
    );
}

each_store! {
    async fn a_batch_writes_what_records_one_by_one_write(store: StoreKind) {
        differential(store, false).await;
    }
}

each_store! {
    async fn the_same_without_a_return_window_under_rolling_tiers(store: StoreKind) {
        differential(store, true).await;
    }
}

/// A file of `n` orders of six customers, every fiftieth refused.
fn large_file(n: u64) -> String {
    let mut rng = Lcg(7);
    let mut out = String::new();
    for k in 0..n {
        let c = 1 + rng.next(6);
        let mut o = order(
            &mut rng,
            k,
            json!({ "customerExternalRef": format!("shop-{c}") }),
        );
        if k % 50 == 49 {
            o["total"] = json!(o["total"].as_u64().unwrap_or(0) + 1);
        }
        out.push_str(&o.to_string());
        out.push('\n');
    }
    out
}

each_store! {
    async fn an_import_killed_part_way_and_run_again_ends_as_one_whole_run(store: StoreKind) {
        let (killed, clean) = two_stores(store, false).await;
        let dir = tempfile::tempdir().expect("temp dir");
        prepare(&killed, dir.path()).await;
        prepare(&clean, dir.path()).await;
        let total = 5_000;
        let file = dir.path().join("large.jsonl");
        std::fs::write(&file, large_file(total)).expect("write");

        let mut child = crate::cli::c360()
            .args([
                "import", "orders", file.to_str().expect("utf-8"),
                "--database-url", &killed.db_url,
                "--now", NOW,
                "--batch-size", "100",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("c360 import starts");
        // Kill it once some batches are committed and more are to come.
        const STORED: &str = "SELECT COUNT(*) FROM orders WHERE external_ref LIKE 'o-%'";
        let mut seen = 0;
        for _ in 0..6_000 {
            seen = killed.scalar(STORED).await;
            if seen > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        let at_kill = killed.scalar(STORED).await;
        assert!(seen > 0 && at_kill < (total - total / 50) as i64, "killed at {at_kill} orders: too late");

        let (rerun, rejected_rerun) = import(&killed, "orders", &file, &["--batch-size", "100"]).await;
        let (whole, rejected_whole) = import(&clean, "orders", &file, &["--batch-size", "100"]).await;
        // The re-run refuses what a whole run refuses; what the killed run
        // committed it finds unchanged.
        assert_eq!(rejected_rerun, rejected_whole);
        assert_eq!(rejected_whole.lines().count() as u64, total / 50);
        assert!(
            summary(&rerun).contains(&format!(", {at_kill} unchanged")),
            "{rerun} after {at_kill}"
        );
        assert!(summary(&whole).contains(&format!("{} created", total - total / 50)), "{whole}");
        assert_same(
            &contents(&killed.db).await,
            &contents(&clean.db).await,
            "killed and run again against one whole run",
        );
    }
}

each_store! {
    async fn an_import_numbers_its_events_in_order_between_ordinary_writes(store: StoreKind) {
        // Consumers follow `position`. A batch numbers its own events (not
        // the per-row trigger) and must leave the log as ordinary writes
        // do: every event positioned, in the order it was appended, right
        // after the writes before the import and before the write after
        // it, the events of records a batch writes through the services
        // included.
        let app = TestApp::spawn(store, |_| {}).await;
        let dir = tempfile::tempdir().expect("temp dir");
        // Ordinary writes before: customers, a referral, three orders.
        let c1 = prepare(&app, dir.path()).await;
        let before = app.scalar("SELECT COUNT(*) FROM events").await;
        let file = dir.path().join("orders.jsonl");
        std::fs::write(&file, orders_file(80, c1)).expect("write");
        import(&app, "orders", &file, &["--batch-size", "16"]).await;
        let imported = app.scalar("SELECT COUNT(*) FROM events").await - before;
        assert!(imported > 100, "{imported} events imported");
        // An ordinary write after.
        let (_, body) = app
            .post(
                "mutation($input: CustomerCreateInput!) { customerCreate(input: $input) { id } }",
                json!({ "input": { "profile": { "email": "after@example.com" } } }),
                Some(&app.staff()),
            )
            .await;
        assert!(body.get("errors").is_none(), "{body}");

        // The log as staff read it, oldest first.
        let mut listed: Vec<Value> = Vec::new();
        let mut after = Value::Null;
        loop {
            let data = app
                .query(
                    "query($after: String) { events(first: 100, after: $after) {
                       edges { node { id type } } pageInfo { hasNextPage endCursor } } }",
                    json!({ "after": after }),
                )
                .await;
            let page = &data["events"];
            listed.extend(page["edges"].as_array().expect("edges").iter().map(|e| e["node"].clone()));
            if page["pageInfo"]["hasNextPage"] != true {
                break;
            }
            after = page["pageInfo"]["endCursor"].clone();
        }
        let total = app.scalar("SELECT COUNT(*) FROM events").await;
        assert_eq!(listed.len() as i64, total);
        assert_eq!(listed.last().expect("events")["type"], "customer.created");
        // Positions in the order the log lists the events: 1, 2, 3, ... on
        // PostgreSQL, where only a committed row takes one; on SQLite the
        // row's `seq`, as the trigger numbers it (an insert-or-ignore that
        // ignores uses up a `seq` there, ordinary writes included).
        let mut positions = Vec::new();
        for event in &listed {
            let id = event["id"].as_str().expect("an id");
            positions.push(
                app.scalar(&format!("SELECT position FROM events WHERE id = '{id}'"))
                    .await,
            );
        }
        let seqs = app.ids("SELECT seq FROM events ORDER BY seq").await;
        match store {
            StoreKind::Postgres => assert_eq!(positions, (1..=total).collect::<Vec<i64>>()),
            StoreKind::Sqlite => assert_eq!(positions, seqs),
        }
        assert_eq!(app.ids("SELECT position FROM events ORDER BY seq").await, positions);
    }
}
