//! `cohorts(from, to, granularity, timezone, segment, periods)` against
//! figures computed by hand from customers and orders written through the
//! API, and `c360 insights cohorts` against the README's table.
//!
//! The fixture (the clock stopped at 2026-05-20T12:00Z; amounts in cents,
//! all USD and counted unless said otherwise):
//!
//! | customer | country | orders (placed at, UTC) |
//! | --- | --- | --- |
//! | A | US | a1 01-10 10000; a2 01-20 5000; a3 03-05 3000, 1001 refunded (net 1999) |
//! | B | GB | b1 01-31 23:30 4000 (Paris: 1 February 00:30); b2 02-15 6000; b3 04-02 2500 |
//! | C | US | c1 02-03 8000 EUR (not counted); c2 02-10 7000 cancelled; c3 02-20 2000; c4 05-01 1000 |
//! | D | GB | d1 2025-12-15 1000; d2 01-05 9900 |
//! | E | US | e1 03-31 22:30 1500 (Paris: 1 April 00:30); e2 04-10 500 |
//! | F | US | none |
//! | G | GB | g1 03-10 20000 cancelled; g2 03-12 4500; g3 03-20 500 |

use serde_json::{Value, json};

use crate::both_stores;
use crate::cli::c360;
use crate::helpers::{StoreKind, TestApp};
use crate::writes_orders::{INGEST, REFUND, STATUS, partner};

const NOW: &str = "2026-05-20T12:00:00Z";

const QUERY: &str = "query($from: DateTime!, $to: DateTime!, $g: CohortGranularity!, $tz: String, $segment: String, $periods: Int!) {
    cohorts(from: $from, to: $to, granularity: $g, timezone: $tz, segment: $segment, periods: $periods) {
        granularity timezone
        cohorts { label start end customers
            periods { offset start end complete activeCustomers orders
                revenue { amount currencyCode } retentionRate
                cumulativeRevenue { amount currencyCode }
                cumulativeRevenuePerCustomer { amount currencyCode } } } } }";

const CREATE: &str =
    "mutation($input: CustomerCreateInput!) { customerCreate(input: $input) { id } }";

/// An order as written: its key, status, currency, total, placed at.
type Order = (&'static str, &'static str, &'static str, i64, &'static str);

const CUSTOMERS: &[(&str, &str, &[Order])] = &[
    (
        "a",
        "US",
        &[
            ("a1", "PAID", "USD", 10000, "2026-01-10T09:00:00Z"),
            ("a2", "PAID", "USD", 5000, "2026-01-20T09:00:00Z"),
            ("a3", "PAID", "USD", 3000, "2026-03-05T09:00:00Z"),
        ],
    ),
    (
        "b",
        "GB",
        &[
            ("b1", "PAID", "USD", 4000, "2026-01-31T23:30:00Z"),
            ("b2", "PAID", "USD", 6000, "2026-02-15T09:00:00Z"),
            ("b3", "PAID", "USD", 2500, "2026-04-02T09:00:00Z"),
        ],
    ),
    (
        "c",
        "US",
        &[
            ("c1", "PAID", "EUR", 8000, "2026-02-03T09:00:00Z"),
            ("c2", "PAID", "USD", 7000, "2026-02-10T09:00:00Z"),
            ("c3", "PAID", "USD", 2000, "2026-02-20T09:00:00Z"),
            ("c4", "PAID", "USD", 1000, "2026-05-01T12:00:00Z"),
        ],
    ),
    (
        "d",
        "GB",
        &[
            ("d1", "PAID", "USD", 1000, "2025-12-15T09:00:00Z"),
            ("d2", "PAID", "USD", 9900, "2026-01-05T09:00:00Z"),
        ],
    ),
    (
        "e",
        "US",
        &[
            ("e1", "PAID", "USD", 1500, "2026-03-31T22:30:00Z"),
            ("e2", "PAID", "USD", 500, "2026-04-10T09:00:00Z"),
        ],
    ),
    ("f", "US", &[]),
    (
        "g",
        "GB",
        &[
            ("g1", "PAID", "USD", 20000, "2026-03-10T09:00:00Z"),
            ("g2", "PAID", "USD", 4500, "2026-03-12T09:00:00Z"),
            ("g3", "PAID", "USD", 500, "2026-03-20T09:00:00Z"),
        ],
    ),
];

/// Writes the fixture through the API: customers as staff, orders as a
/// partner, then c2 and g1 cancelled and 10.01 of a3 refunded.
async fn load(app: &TestApp) {
    app.clock.set(at(NOW));
    let partner = partner(app);
    let mut ids = std::collections::HashMap::new();
    for (name, country, orders) in CUSTOMERS {
        let input =
            json!({ "profile": { "email": format!("{name}@example.com"), "country": country } });
        let data = app.query(CREATE, json!({ "input": input })).await;
        let customer = data["customerCreate"]["id"].clone();
        for (key, status, currency, total, placed) in *orders {
            let input = json!({
                "customerId": customer, "externalRef": key, "status": status,
                "currencyCode": currency, "total": total, "placedAt": placed,
                "lines": [{ "sku": "SKU-1", "productName": "Thing", "quantity": 1, "unitPrice": total }]
            });
            let (_, body) = app
                .post(INGEST, json!({ "input": input }), Some(&partner))
                .await;
            assert!(body.get("errors").is_none(), "{body}");
            ids.insert(*key, body["data"]["orderIngest"]["id"].clone());
        }
    }
    for key in ["c2", "g1"] {
        let (_, body) = app
            .post(
                STATUS,
                json!({ "id": ids[key], "status": "CANCELLED" }),
                Some(&partner),
            )
            .await;
        assert_eq!(
            body["data"]["orderUpdateStatus"]["status"], "CANCELLED",
            "{body}"
        );
    }
    let (_, body) = app
        .post(
            REFUND,
            json!({ "id": ids["a3"], "amount": 1001 }),
            Some(&partner),
        )
        .await;
    assert_eq!(
        body["data"]["orderRefund"]["net"]["amount"], "19.99",
        "{body}"
    );
}

fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&chrono::Utc))
        .expect("instant")
}

/// One offset as read: active customers, orders, revenue, retention rate,
/// cumulative revenue per customer, complete.
#[derive(Debug, PartialEq)]
struct Cell {
    active: i64,
    orders: i64,
    revenue: String,
    retention: Option<f64>,
    per_customer: Option<String>,
    complete: bool,
}

/// An offset of a cohort with members.
fn cell(
    active: i64,
    orders: i64,
    revenue: &str,
    retention: f64,
    per_customer: &str,
    complete: bool,
) -> Option<Cell> {
    Some(Cell {
        active,
        orders,
        revenue: revenue.into(),
        retention: Some(retention),
        per_customer: Some(per_customer.into()),
        complete,
    })
}

/// An offset of an empty cohort: zeros, and no rates.
fn empty(complete: bool) -> Option<Cell> {
    Some(Cell {
        active: 0,
        orders: 0,
        revenue: "0.00".into(),
        retention: None,
        per_customer: None,
        complete,
    })
}

/// Label, size and offsets of each cohort.
fn read(cohorts: &Value) -> Vec<(String, i64, Vec<Option<Cell>>)> {
    cohorts["cohorts"]
        .as_array()
        .expect("cohorts")
        .iter()
        .map(|c| {
            let periods = c["periods"]
                .as_array()
                .expect("periods")
                .iter()
                .enumerate()
                .map(|(k, p)| {
                    if p.is_null() {
                        return None;
                    }
                    assert_eq!(p["offset"], k, "{p}");
                    assert_eq!(p["revenue"]["currencyCode"], "USD", "{p}");
                    Some(Cell {
                        active: p["activeCustomers"].as_i64().expect("active"),
                        orders: p["orders"].as_i64().expect("orders"),
                        revenue: p["revenue"]["amount"].as_str().expect("revenue").into(),
                        retention: p["retentionRate"].as_f64(),
                        per_customer: p["cumulativeRevenuePerCustomer"]["amount"]
                            .as_str()
                            .map(Into::into),
                        complete: p["complete"].as_bool().expect("complete"),
                    })
                })
                .collect();
            (
                c["label"].as_str().expect("label").to_owned(),
                c["customers"].as_i64().expect("customers"),
                periods,
            )
        })
        .collect()
}

fn expect(rows: Vec<(&str, i64, Vec<Option<Cell>>)>) -> Vec<(String, i64, Vec<Option<Cell>>)> {
    rows.into_iter()
        .map(|(l, n, p)| (l.to_owned(), n, p))
        .collect()
}

async fn cohorts(app: &TestApp, vars: Value) -> Value {
    app.query(QUERY, vars).await["cohorts"].clone()
}

both_stores! {
    async fn monthly_cohorts_match_hand_computed_figures(app: TestApp) {
        load(&app).await;
        let vars = json!({ "from": "2026-01-01T00:00:00Z", "to": "2026-04-01T00:00:00Z", "g": "MONTH", "periods": 4 });
        let m = cohorts(&app, vars.clone()).await;
        assert_eq!(m["granularity"], "MONTH");
        // The store's time zone.
        assert_eq!(m["timezone"], "UTC");
        // First counted orders in January to March: A and B (January; D's
        // first order is December's, so D is in no cohort and d2 counts for
        // nothing), C (February: c1 is in euros and c2 cancelled, so c3 is
        // its first), E and G (March: g1 cancelled, so g2). F never ordered.
        assert_eq!(read(&m), expect(vec![
            ("2026-01", 2, vec![
                // a1, a2, b1: 100.00 + 50.00 + 40.00; 190.00 ÷ 2.
                cell(2, 3, "190.00", 1.0, "95.00", true),
                // b2; (190.00 + 60.00) ÷ 2.
                cell(1, 1, "60.00", 0.5, "125.00", true),
                // a3 less its refund; 269.99 ÷ 2 = 134.995, half away from zero.
                cell(1, 1, "19.99", 0.5, "135.00", true),
                // b3; 294.99 ÷ 2 = 147.495.
                cell(1, 1, "25.00", 0.5, "147.50", true),
            ]),
            ("2026-02", 1, vec![
                cell(1, 1, "20.00", 1.0, "20.00", true),
                cell(0, 0, "0.00", 0.0, "20.00", true),
                cell(0, 0, "0.00", 0.0, "20.00", true),
                // c4 in May, the month in progress.
                cell(1, 1, "10.00", 1.0, "30.00", false),
            ]),
            ("2026-03", 2, vec![
                // e1, g2, g3: 15.00 + 45.00 + 5.00; 65.00 ÷ 2.
                cell(2, 3, "65.00", 1.0, "32.50", true),
                // e2; 70.00 ÷ 2.
                cell(1, 1, "5.00", 0.5, "35.00", true),
                cell(0, 0, "0.00", 0.0, "35.00", false),
                // June starts after the clock: no figures, not zeros.
                None,
            ]),
        ]));
        let jan = &m["cohorts"][0];
        assert_eq!(jan["start"], "2026-01-01T00:00:00+00:00");
        assert_eq!(jan["end"], "2026-02-01T00:00:00+00:00");
        assert_eq!(jan["periods"][3]["start"], "2026-04-01T00:00:00+00:00");
        assert_eq!(jan["periods"][3]["cumulativeRevenue"], json!({ "amount": "294.99", "currencyCode": "USD" }));

        // The same cohorts, read on the system clock through the CLI as of
        // the same instant, are the same figures.
        let out = c360()
            .args(["insights", "cohorts", "--granularity", "month", "--from", "2026-01-01", "--to", "2026-04-01",
                "--periods", "4", "--format", "json", "--now", NOW, "--database-url", &app.db_url])
            .env_remove("C360_TIMEZONE")
            .env_remove("C360_BASE_CURRENCY")
            .output()
            .expect("c360 insights cohorts runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let printed: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(printed["cohorts"], m["cohorts"]);
        assert_eq!(printed["timezone"], "UTC");

        // Only GB customers: B (January), G (March); D is in no cohort.
        let gb = cohorts(&app, json!({ "from": "2026-01-01T00:00:00Z", "to": "2026-04-01T00:00:00Z", "g": "MONTH",
            "periods": 4, "segment": "country = 'GB'" })).await;
        assert_eq!(read(&gb), expect(vec![
            ("2026-01", 1, vec![
                cell(1, 1, "40.00", 1.0, "40.00", true),
                cell(1, 1, "60.00", 1.0, "100.00", true),
                cell(0, 0, "0.00", 0.0, "100.00", true),
                cell(1, 1, "25.00", 1.0, "125.00", true),
            ]),
            // No GB customer's first order is in February: an empty cohort.
            ("2026-02", 0, vec![empty(true), empty(true), empty(true), empty(false)]),
            ("2026-03", 1, vec![
                cell(1, 2, "50.00", 1.0, "50.00", true),
                cell(0, 0, "0.00", 0.0, "50.00", true),
                cell(0, 0, "0.00", 0.0, "50.00", false),
                None,
            ]),
        ]));
    }
}

both_stores! {
    async fn a_time_zone_moves_orders_across_period_boundaries(app: TestApp) {
        load(&app).await;
        // The same instants in Paris: b1 (31 January 23:30 UTC) is on
        // 1 February, so B joins C's cohort; e1 (31 March 22:30 UTC, summer
        // time) is on 1 April, a period that starts before `to` (1 April
        // 00:00 UTC): an April cohort holding E alone.
        let m = cohorts(&app, json!({ "from": "2026-01-01T00:00:00Z", "to": "2026-04-01T00:00:00Z", "g": "MONTH",
            "tz": "Europe/Paris", "periods": 4 })).await;
        assert_eq!(m["timezone"], "Europe/Paris");
        assert_eq!(read(&m), expect(vec![
            ("2026-01", 1, vec![
                // a1, a2.
                cell(1, 2, "150.00", 1.0, "150.00", true),
                cell(0, 0, "0.00", 0.0, "150.00", true),
                cell(1, 1, "19.99", 1.0, "169.99", true),
                cell(0, 0, "0.00", 0.0, "169.99", true),
            ]),
            ("2026-02", 2, vec![
                // b1, b2, c3: 40.00 + 60.00 + 20.00; 120.00 ÷ 2.
                cell(2, 3, "120.00", 1.0, "60.00", true),
                cell(0, 0, "0.00", 0.0, "60.00", true),
                // b3; 145.00 ÷ 2.
                cell(1, 1, "25.00", 0.5, "72.50", true),
                // c4; 155.00 ÷ 2.
                cell(1, 1, "10.00", 0.5, "77.50", false),
            ]),
            ("2026-03", 1, vec![
                cell(1, 2, "50.00", 1.0, "50.00", true),
                cell(0, 0, "0.00", 0.0, "50.00", true),
                cell(0, 0, "0.00", 0.0, "50.00", false),
                None,
            ]),
            ("2026-04", 1, vec![
                // e1, e2.
                cell(1, 2, "20.00", 1.0, "20.00", true),
                cell(0, 0, "0.00", 0.0, "20.00", false),
                None,
                None,
            ]),
        ]));
        // Periods start at local midnight: 23:00 UTC in winter, 22:00 in summer.
        assert_eq!(m["cohorts"][0]["start"], "2025-12-31T23:00:00+00:00");
        assert_eq!(m["cohorts"][3]["start"], "2026-03-31T22:00:00+00:00");
        assert_eq!(m["cohorts"][3]["end"], "2026-04-30T22:00:00+00:00");
    }
}

both_stores! {
    async fn weekly_and_quarterly_cohorts_match_hand_computed_figures(app: TestApp) {
        load(&app).await;
        // ISO weeks from Monday 5 January (week 2) to Monday 26 January:
        // only A's first order (a1, Saturday 10 January) is in them; d2 is
        // in week 2 but D's first order is older.
        let w = cohorts(&app, json!({ "from": "2026-01-05T00:00:00Z", "to": "2026-01-26T00:00:00Z", "g": "WEEK", "periods": 3 })).await;
        assert_eq!(read(&w), expect(vec![
            ("2026-W02", 1, vec![
                cell(1, 1, "100.00", 1.0, "100.00", true),
                cell(0, 0, "0.00", 0.0, "100.00", true),
                // a2, Tuesday 20 January.
                cell(1, 1, "50.00", 1.0, "150.00", true),
            ]),
            ("2026-W03", 0, vec![empty(true), empty(true), empty(true)]),
            ("2026-W04", 0, vec![empty(true), empty(true), empty(true)]),
        ]));

        // Quarters: D's first order is in Q4 2025; A, B, C, E and G's in Q1.
        let q = cohorts(&app, json!({ "from": "2025-10-01T00:00:00Z", "to": "2026-04-01T00:00:00Z", "g": "QUARTER", "periods": 3 })).await;
        assert_eq!(read(&q), expect(vec![
            ("2025-Q4", 1, vec![
                cell(1, 1, "10.00", 1.0, "10.00", true),
                // d2.
                cell(1, 1, "99.00", 1.0, "109.00", true),
                cell(0, 0, "0.00", 0.0, "109.00", false),
            ]),
            ("2026-Q1", 5, vec![
                // A 3 orders (169.99), B 2 (100.00), C 1 (20.00), E 1 (15.00),
                // G 2 (50.00): 354.99 ÷ 5 = 70.998.
                cell(5, 9, "354.99", 1.0, "71.00", true),
                // b3, c4, e2 in Q2 so far: 40.00; 394.99 ÷ 5 = 78.998.
                cell(3, 3, "40.00", 0.6, "79.00", false),
                None,
            ]),
        ]));
    }
}

both_stores! {
    async fn cohorts_refuse_bad_input_with_a_code(app: TestApp) {
        let staff = app.staff();
        let base = |extra: Value| {
            let mut vars = json!({ "from": "2026-01-01T00:00:00Z", "to": "2026-04-01T00:00:00Z", "g": "MONTH", "periods": 4 });
            for (k, v) in extra.as_object().expect("object") {
                vars[k] = v.clone();
            }
            vars
        };
        let cases = [
            (base(json!({ "to": "2025-12-01T00:00:00Z" })), Some("to")),
            (base(json!({ "to": "2026-01-01T00:00:00Z" })), Some("to")),
            (base(json!({ "periods": 0 })), Some("periods")),
            (base(json!({ "periods": 61 })), Some("periods")),
            (base(json!({ "periods": -3 })), Some("periods")),
            // 261 weeks.
            (base(json!({ "g": "WEEK", "to": "2031-01-01T00:00:00Z" })), Some("to")),
            // 261 quarters.
            (base(json!({ "g": "QUARTER", "from": "1900-01-01T00:00:00Z", "to": "1965-04-01T00:00:00Z" })), Some("to")),
            (base(json!({ "tz": "Mars/Olympus" })), Some("timezone")),
            (base(json!({ "segment": "loyalty_teir = 'GOLD'" })), Some("segment")),
            // Refused by GraphQL before the resolver runs.
            (base(json!({ "g": "DAY" })), None),
            (base(json!({ "from": "2026-13-01T00:00:00Z" })), None),
        ];
        for (vars, field) in cases {
            let (status, body) = app.post(QUERY, vars.clone(), Some(&staff)).await;
            assert!(status == 200 || status == 400, "{vars}: {status} {body}");
            let errors = body["errors"].as_array().expect("errors");
            assert_eq!(errors.len(), 1, "{vars}: {body}");
            assert_eq!(errors[0]["extensions"]["code"], "BAD_USER_INPUT", "{vars}: {body}");
            if let Some(field) = field {
                assert_eq!(errors[0]["extensions"]["field"], field, "{vars}: {body}");
            }
            assert!(body["data"].is_null() || body["data"]["cohorts"].is_null(), "{body}");
        }
        // The bounds themselves are accepted: 260 weeks, 60 periods.
        let data = app
            .query(
                "query($from: DateTime!, $to: DateTime!) {
                    cohorts(from: $from, to: $to, granularity: WEEK, periods: 60) { cohorts { label } } }",
                json!({ "from": "2021-01-04T00:00:00Z", "to": "2025-12-29T00:00:00Z" }),
            )
            .await;
        let labels = data["cohorts"]["cohorts"].as_array().expect("cohorts");
        assert_eq!(labels.len(), 260);
        assert_eq!((&labels[0]["label"], &labels[259]["label"]), (&json!("2021-W01"), &json!("2025-W52")));

        // As `insights`: partners need `segments:read`.
        let partner = app.token(c360::auth::Role::Partner, "p", &[]);
        let (_, body) = app.post(QUERY, base(json!({})), Some(&partner)).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
        let reader = app.token(c360::auth::Role::Partner, "p", &["segments:read"]);
        let (status, body) = app.post(QUERY, base(json!({})), Some(&reader)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["cohorts"]["cohorts"][0]["customers"], 0, "{body}");
    }
}

both_stores! {
    async fn cohorts_run_one_statement_whatever_the_base(app: TestApp) {
        let statements = |vars: Value| {
            let app = &app;
            async move {
                let before = app.sql_statements().await;
                let data = app.query(QUERY, vars).await;
                (app.sql_statements().await - before, data)
            }
        };
        // Every month of the seeded history (three years to the clock's day).
        let now = app.clock.now();
        let vars = json!({ "from": (now - chrono::TimeDelta::days(4 * 365)).to_rfc3339(), "to": now.to_rfc3339(),
            "g": "MONTH", "periods": 12 });
        let with_segment = {
            let mut v = vars.clone();
            v["segment"] = json!("number_of_orders >= 2");
            v
        };
        let (empty, _) = statements(vars.clone()).await;
        let (empty_segment, _) = statements(with_segment.clone()).await;
        app.seed(60).await;
        let (seeded, data) = statements(vars).await;
        let (seeded_segment, segment_data) = statements(with_segment).await;
        let members = |d: &Value| -> i64 {
            d["cohorts"]["cohorts"].as_array().expect("cohorts").iter().map(|c| c["customers"].as_i64().expect("size")).sum()
        };
        assert!(members(&data) > 0 && members(&segment_data) > 0, "{data}");
        assert!(members(&segment_data) < members(&data));
        assert_eq!(empty, seeded, "statements grow with the data");
        assert_eq!(empty_segment, seeded_segment, "statements grow with the data");
        // The matrix in one statement, the segment inside it.
        assert_eq!(seeded, 1);
        assert_eq!(seeded_segment, 1);
    }
}

/// The instant the README's demo store is seeded and read at.
const DEMO_NOW: &str = "2026-11-23T00:00:00Z";
const BEGIN: &str = "<!-- cohorts:begin -->";
const END: &str = "<!-- cohorts:end -->";

/// Seeds the demo store (`c360 seed`, the data of `serve --seed-demo`) as
/// of [`DEMO_NOW`] on a fresh store of `kind` and prints its monthly
/// cohort matrix with `c360 insights cohorts`.
async fn demo_matrix(kind: StoreKind) -> Option<String> {
    let app = match kind {
        StoreKind::Sqlite => TestApp::spawn_sqlite().await,
        StoreKind::Postgres => TestApp::spawn_postgres().await?,
    };
    let run = |args: &[&str]| {
        let out = c360()
            .args(args)
            .args(["--now", DEMO_NOW, "--database-url", &app.db_url])
            .env_remove("C360_TIMEZONE")
            .env_remove("C360_BASE_CURRENCY")
            .output()
            .expect("c360 runs");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    };
    run(&["seed", "--customers", "1000", "--seed", "360"]);
    Some(run(&[
        "insights",
        "cohorts",
        "--granularity",
        "month",
        "--format",
        "markdown",
    ]))
}

/// README.md's table between the markers, kept true by this test. With
/// `C360_UPDATE_README=1` it writes the printed matrix there instead (the
/// demo data changes with the seed generator).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_cohort_matrix_is_the_demo_stores() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let printed = demo_matrix(StoreKind::Sqlite).await.expect("SQLite");
    let readme = std::fs::read_to_string(path).expect("README.md");
    let (head, rest) = readme.split_once(BEGIN).expect("the begin marker");
    let (block, tail) = rest.split_once(END).expect("the end marker");
    if std::env::var_os("C360_UPDATE_README").is_some() {
        if block.trim() != printed.trim() {
            // Written aside and renamed, so no reader sees half a file.
            let aside = format!("{path}.cohorts");
            std::fs::write(
                &aside,
                format!("{head}{BEGIN}\n\n{}\n\n{END}{tail}", printed.trim()),
            )
            .expect("write README.md");
            std::fs::rename(&aside, path).expect("replace README.md");
        }
    } else {
        assert!(
            block.trim() == printed.trim(),
            "README.md's cohort matrix is stale; regenerate it with \
             `C360_UPDATE_README=1 cargo test --test integration -- cohorts::readme`. Printed:\n{printed}"
        );
    }
    // PostgreSQL, when configured, prints the same matrix.
    if let Some(on_postgres) = demo_matrix(StoreKind::Postgres).await {
        assert_eq!(on_postgres, printed);
    }
}
