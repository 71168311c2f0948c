//! `Customer.interests`, `Customer.recommendedProducts`, the segment
//! attributes `top_category` and `purchased_category`, and order-line
//! categories, against figures computed by hand.
//!
//! The clock stands at 2026-03-01T12:00Z; the half-life is the default 180
//! days. Orders are PAID unless said; amounts in cents; lines are
//! sku quantity × unit (category):
//!
//! - A: a1 2025-09-02T12:00Z (180 days before a2): LIP 1 × 2000 (makeup),
//!   SER 2 × 3500 (skincare); a2 2026-03-01T12:00Z: MAS 1 × 3000 (makeup);
//!   a3 2026-02-01 PENDING, CANCELLED: SHA 1 × 2000 (hair), not a purchase.
//! - B: b1 2026-01-01: SER 1 × 4000, CRM 1 × 2500 (skincare); b2 2026-02-01:
//!   LIP 1 × 1000 (makeup), refunded in full, not a purchase.
//! - C: c1 2026-02-10: LIP 1 × 1000, MAS 1 × 3000 (makeup), SHA 1 × 2000 (hair).
//! - D: d1 2026-02-15: SER 1 × 4000 (skincare), LIP 1 × 1000 (makeup).
//! - E: e1 2026-02-20: PER 1 × 9000 (fragrance).
//! - F: no orders.
//!
//! A's interests. Ages count back from A's latest purchase, a2: a1 is one
//! half-life older, so its money weighs ½. LIP 2000 × ½ = 1000, SER 7000 ×
//! ½ = 3500, MAS 3000; total 7500. Categories: makeup (1000 + 3000) / 7500
//! = 8/15 in 2 orders, last 2026-03-01; skincare 3500 / 7500 = 7/15 in 1
//! order, last 2025-09-02 (without the decay skincare's 7000 would beat
//! makeup's 5000). Products: SER 7/15, MAS 6/15, LIP 2/15.
//!
//! Co-purchases (purchases only): A {LIP, SER, MAS}, B {SER, CRM}, C {LIP,
//! MAS, SHA}, D {SER, LIP}, E {PER}. Buyers: LIP 3, SER 3, MAS 2, CRM 1,
//! SHA 1, PER 1. Similarity = both / (buyers(a) + buyers(b) − both):
//! LIP–SER 2/4 = 1/2; LIP–MAS 2/3; LIP–SHA 1/3; SER–MAS 1/4; SER–CRM 1/3;
//! MAS–SHA 1/2; 6 pairs, 12 rows.
//!
//! Recommendations (score = Σ similarity to the customer's skus):
//! - A: SHA 1/3 + 1/2 = 5/6 (because MAS 1/2, LIP 1/3); CRM 1/3 (SER).
//! - B (owns SER and CRM; the refunded LIP is not owned): LIP 1/2; MAS 1/4.
//! - C: SER 1/2 + 1/4 = 3/4 (because LIP 1/2, MAS 1/4).
//! - D: MAS 2/3 + 1/4 = 11/12 (because LIP, SER); CRM 1/3 and SHA 1/3 tie,
//!   the smaller sku first: CRM, SHA.
//! - E: nothing (no one else bought PER); F: nothing (no purchases).
//!
//! Top categories: A makeup, B skincare, C makeup (4000 against hair's
//! 2000), D skincare, E fragrance, F none.

use c360::auth::Role;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::both_stores;
use crate::cli::c360;
use crate::helpers::{TestApp, codes};
use crate::writes_orders::{INGEST, REFUND, STATUS};

const NOW: &str = "2026-03-01T12:00:00Z";

const CREATE: &str =
    "mutation($input: CustomerCreateInput!) { customerCreate(input: $input) { id } }";

const INTERESTS: &str = "query($id: ID!, $first: Int) { customer(id: $id) {
    interests(first: $first) { halfLifeDays
        categories { category share orderCount lastPurchasedAt }
        products { sku productName category share orderCount lastPurchasedAt } } } }";

const RECOMMENDED: &str = "query($id: ID!, $first: Int) { customer(id: $id) {
    recommendedProducts(first: $first) { sku productName score
        because { sku productName similarity } } } }";

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .expect("instant")
}

/// A line: sku, quantity, unit price, category.
type Line = (&'static str, i64, i64, &'static str);

/// The customers A to F by letter, as global ids.
struct Fixture {
    ids: Vec<(char, String)>,
}

impl Fixture {
    fn id(&self, name: char) -> String {
        self.ids
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, id)| id.clone())
            .expect("a fixture customer")
    }
}

async fn order(app: &TestApp, customer: &str, key: &str, placed: &str, lines: &[Line]) -> String {
    let total: i64 = lines.iter().map(|(_, q, p, _)| q * p).sum();
    let lines: Vec<Value> = lines
        .iter()
        .map(|(sku, quantity, unit, category)| {
            json!({ "sku": sku, "productName": format!("Product {sku}"), "quantity": quantity,
                    "unitPrice": unit, "category": category })
        })
        .collect();
    let input = json!({ "customerId": customer, "externalRef": key, "status": "PAID",
        "currencyCode": "USD", "total": total, "placedAt": placed, "lines": lines });
    app.query(INGEST, json!({ "input": input })).await["orderIngest"]["id"]
        .as_str()
        .expect("order id")
        .to_owned()
}

async fn fixture(app: &TestApp) -> Fixture {
    app.clock.set(at(NOW));
    let mut ids = Vec::new();
    for name in ['A', 'B', 'C', 'D', 'E', 'F'] {
        let input = json!({ "profile": { "email": format!("{name}@example.com") } });
        let data = app.query(CREATE, json!({ "input": input })).await;
        let id = data["customerCreate"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        ids.push((name, id));
    }
    let f = Fixture { ids };
    let (a, b) = (f.id('A'), f.id('B'));
    order(
        app,
        &a,
        "a1",
        "2025-09-02T12:00:00Z",
        &[("LIP", 1, 2000, "makeup"), ("SER", 2, 3500, "skincare")],
    )
    .await;
    order(app, &a, "a2", NOW, &[("MAS", 1, 3000, "makeup")]).await;
    let input = json!({ "customerId": a, "externalRef": "a3", "status": "PENDING", "currencyCode": "USD",
        "total": 2000, "placedAt": "2026-02-01T12:00:00Z",
        "lines": [{ "sku": "SHA", "productName": "Product SHA", "quantity": 1, "unitPrice": 2000, "category": "hair" }] });
    let a3 = app.query(INGEST, json!({ "input": input })).await["orderIngest"]["id"].clone();
    app.query(STATUS, json!({ "id": a3, "status": "CANCELLED" }))
        .await;
    order(
        app,
        &b,
        "b1",
        "2026-01-01T12:00:00Z",
        &[("SER", 1, 4000, "skincare"), ("CRM", 1, 2500, "skincare")],
    )
    .await;
    let b2 = order(
        app,
        &b,
        "b2",
        "2026-02-01T12:00:00Z",
        &[("LIP", 1, 1000, "makeup")],
    )
    .await;
    let refunded = app.query(REFUND, json!({ "id": b2, "amount": 1000 })).await;
    assert_eq!(refunded["orderRefund"]["status"], "REFUNDED");
    order(
        app,
        &f.id('C'),
        "c1",
        "2026-02-10T12:00:00Z",
        &[
            ("LIP", 1, 1000, "makeup"),
            ("MAS", 1, 3000, "makeup"),
            ("SHA", 1, 2000, "hair"),
        ],
    )
    .await;
    order(
        app,
        &f.id('D'),
        "d1",
        "2026-02-15T12:00:00Z",
        &[("SER", 1, 4000, "skincare"), ("LIP", 1, 1000, "makeup")],
    )
    .await;
    order(
        app,
        &f.id('E'),
        "e1",
        "2026-02-20T12:00:00Z",
        &[("PER", 1, 9000, "fragrance")],
    )
    .await;
    f
}

fn refresh(app: &TestApp) -> String {
    let out = c360()
        .args(["insights", "refresh", "--database-url", &app.db_url])
        .output()
        .expect("c360 insights refresh runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn close(v: &Value, expected: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - expected).abs() < 1e-9)
}

/// A recommendation as read: sku, score, and each reason's sku and similarity.
type Recommended = (String, f64, Vec<(String, f64)>);
/// A recommendation as expected.
type Expected<'a> = (&'a str, f64, &'a [(&'a str, f64)]);

/// Each recommendation of a `RECOMMENDED` answer.
fn recommendations(data: &Value) -> Vec<Recommended> {
    data["customer"]["recommendedProducts"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|r| {
            let because = r["because"]
                .as_array()
                .expect("reasons")
                .iter()
                .map(|b| {
                    (
                        b["sku"].as_str().unwrap_or_default().to_owned(),
                        b["similarity"].as_f64().unwrap_or(-1.0),
                    )
                })
                .collect();
            (
                r["sku"].as_str().unwrap_or_default().to_owned(),
                r["score"].as_f64().unwrap_or(-1.0),
                because,
            )
        })
        .collect()
}

fn assert_recommended(got: &[Recommended], expected: &[Expected<'_>]) {
    assert_eq!(got.len(), expected.len(), "{got:?}");
    for ((sku, score, because), (e_sku, e_score, e_because)) in got.iter().zip(expected) {
        assert_eq!(sku, e_sku, "{got:?}");
        assert!((score - e_score).abs() < 1e-9, "{sku}: {score} ≠ {e_score}");
        let skus: Vec<&str> = because.iter().map(|(s, _)| s.as_str()).collect();
        let e_skus: Vec<&str> = e_because.iter().map(|(s, _)| *s).collect();
        assert_eq!(skus, e_skus, "{sku}: {got:?}");
        for ((_, sim), (_, e_sim)) in because.iter().zip(e_because.iter()) {
            assert!((sim - e_sim).abs() < 1e-9, "{sku}: {because:?}");
        }
    }
}

both_stores! {
    async fn interests_weigh_recent_purchases_and_count_only_purchases(app: TestApp) {
        let f = fixture(&app).await;
        let data = app.query(INTERESTS, json!({ "id": f.id('A') })).await;
        let i = &data["customer"]["interests"];
        assert_eq!(i["halfLifeDays"], 180.0);
        let cats = i["categories"].as_array().expect("categories");
        assert_eq!(cats.len(), 2, "the cancelled hair order is not a purchase: {i}");
        assert_eq!(cats[0]["category"], "makeup");
        assert!(close(&cats[0]["share"], 8.0 / 15.0), "{i}");
        assert_eq!(cats[0]["orderCount"], 2);
        assert_eq!(cats[0]["lastPurchasedAt"], "2026-03-01T12:00:00+00:00");
        assert_eq!(cats[1]["category"], "skincare");
        assert!(close(&cats[1]["share"], 7.0 / 15.0), "{i}");
        assert_eq!(cats[1]["orderCount"], 1);
        assert_eq!(cats[1]["lastPurchasedAt"], "2025-09-02T12:00:00+00:00");
        let products: Vec<(&str, f64)> = i["products"]
            .as_array()
            .expect("products")
            .iter()
            .map(|p| (p["sku"].as_str().unwrap_or_default(), p["share"].as_f64().unwrap_or(-1.0)))
            .collect();
        let expected = [("SER", 7.0 / 15.0), ("MAS", 6.0 / 15.0), ("LIP", 2.0 / 15.0)];
        assert_eq!(products.len(), 3);
        for ((sku, share), (e_sku, e_share)) in products.iter().zip(expected) {
            assert_eq!(*sku, e_sku);
            assert!((share - e_share).abs() < 1e-9, "{sku}: {share}");
        }
        assert_eq!(i["products"][0]["productName"], "Product SER");
        assert_eq!(i["products"][0]["category"], "skincare");

        // `first` cuts each list; moving the clock a year on changes nothing.
        app.clock.set(at("2027-03-01T12:00:00Z"));
        let data = app.query(INTERESTS, json!({ "id": f.id('A'), "first": 1 })).await;
        let i = &data["customer"]["interests"];
        assert_eq!(i["categories"].as_array().map(Vec::len), Some(1));
        assert!(close(&i["categories"][0]["share"], 8.0 / 15.0), "{i}");
        assert_eq!(i["products"][0]["sku"], "SER");
        assert_eq!(i["products"].as_array().map(Vec::len), Some(1));

        // B's refunded makeup is gone; F has bought nothing.
        let data = app.query(INTERESTS, json!({ "id": f.id('B') })).await;
        let cats = &data["customer"]["interests"]["categories"];
        assert_eq!(cats.as_array().map(Vec::len), Some(1), "{cats}");
        assert_eq!(cats[0]["category"], "skincare");
        assert!(close(&cats[0]["share"], 1.0));
        let data = app.query(INTERESTS, json!({ "id": f.id('F') })).await;
        assert_eq!(data["customer"]["interests"]["categories"], json!([]));
        assert_eq!(data["customer"]["interests"]["products"], json!([]));

        for first in [0, 51, -1] {
            let (status, body) = app.post(INTERESTS, json!({ "id": f.id('A'), "first": first }), Some(&app.staff())).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(codes(&body), ["BAD_USER_INPUT"], "{first}: {body}");
            assert_eq!(body["errors"][0]["extensions"]["field"], "first", "{body}");
        }
    }
}

both_stores! {
    async fn recommendations_come_from_the_refreshed_co_purchase_table(app: TestApp) {
        let f = fixture(&app).await;
        // Before the first refresh there is nothing to recommend from.
        for name in ['A', 'D'] {
            let data = app.query(RECOMMENDED, json!({ "id": f.id(name) })).await;
            assert_eq!(data["customer"]["recommendedProducts"], json!([]), "{name}");
        }
        let printed = refresh(&app);
        assert!(printed.contains("co-purchase table refreshed: 12 sku pairs; top categories for 5 customers"), "{printed}");
        assert_eq!(app.scalar("SELECT COUNT(*) FROM product_affinities").await, 12);

        let app = &app;
        let f = &f;
        let rec = |name: char, first: Option<i32>| {
            let vars = json!({ "id": f.id(name), "first": first });
            async move { recommendations(&app.query(RECOMMENDED, vars).await) }
        };
        assert_recommended(&rec('A', None).await, &[
            ("SHA", 5.0 / 6.0, &[("MAS", 0.5), ("LIP", 1.0 / 3.0)]),
            ("CRM", 1.0 / 3.0, &[("SER", 1.0 / 3.0)]),
        ]);
        assert_recommended(&rec('B', None).await, &[
            ("LIP", 0.5, &[("SER", 0.5)]),
            ("MAS", 0.25, &[("SER", 0.25)]),
        ]);
        assert_recommended(&rec('C', None).await, &[
            ("SER", 0.75, &[("LIP", 0.5), ("MAS", 0.25)]),
        ]);
        assert_recommended(&rec('D', None).await, &[
            ("MAS", 11.0 / 12.0, &[("LIP", 2.0 / 3.0), ("SER", 0.25)]),
            ("CRM", 1.0 / 3.0, &[("SER", 1.0 / 3.0)]),
            ("SHA", 1.0 / 3.0, &[("LIP", 1.0 / 3.0)]),
        ]);
        assert_recommended(&rec('D', Some(1)).await, &[
            ("MAS", 11.0 / 12.0, &[("LIP", 2.0 / 3.0), ("SER", 0.25)]),
        ]);
        assert!(rec('E', None).await.is_empty());
        assert!(rec('F', None).await.is_empty());

        let data = app.query(RECOMMENDED, json!({ "id": f.id('A') })).await;
        let first = &data["customer"]["recommendedProducts"][0];
        assert_eq!(first["productName"], "Product SHA");
        assert_eq!(first["because"][0]["productName"], "Product MAS");

        // A refresh replaces the table: the same pairs, not twice as many.
        refresh(app);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM product_affinities").await, 12);
    }
}

both_stores! {
    async fn segments_select_by_top_and_purchased_category(app: TestApp) {
        fixture(&app).await;
        let app = &app;
        let count = |query: &'static str| async move {
            let data = app
                .query("query($q: String!) { customers(query: $q) { totalCount } }", json!({ "q": query }))
                .await;
            data["customers"]["totalCount"].as_i64().expect("a count")
        };
        // Before the first refresh no one has a top category.
        assert_eq!(count("top_category IS NULL").await, 6);
        refresh(app);
        assert_eq!(count("top_category = 'makeup'").await, 2, "A and C");
        assert_eq!(count("top_category = \"skincare\"").await, 2, "B and D");
        assert_eq!(count("top_category = 'fragrance'").await, 1, "E");
        assert_eq!(count("top_category IS NULL").await, 1, "F");
        assert_eq!(count("purchased_category = 'hair'").await, 1, "C; A's hair was cancelled");
        assert_eq!(count("purchased_category = 'makeup'").await, 3, "A, C, D; B's was refunded");
        assert_eq!(count("purchased_category != 'makeup'").await, 3, "B, E, F");
        assert_eq!(count("purchased_category IN ('fragrance', 'hair')").await, 2, "C, E");
        assert_eq!(count("purchased_category NOT IN ('makeup', 'skincare')").await, 2, "E, F");
        assert_eq!(count("purchased_category = 'skincare' AND top_category = 'makeup'").await, 1, "A");
        let (_, body) = app
            .post("{ customers(query: \"purchased_category IS NULL\") { totalCount } }", json!({}), Some(&app.staff()))
            .await;
        assert_eq!(codes(&body), ["BAD_USER_INPUT"], "{body}");
    }
}

both_stores! {
    async fn categories_are_checked_trimmed_and_shown_on_lines(app: TestApp) {
        app.clock.set(at(NOW));
        let input = json!({ "profile": { "email": "cat@example.com" } });
        let id = app.query(CREATE, json!({ "input": input })).await["customerCreate"]["id"].clone();
        let ingest = |external: &str, category: Value| {
            json!({ "input": { "customerId": id, "externalRef": external, "status": "PAID",
                "currencyCode": "USD", "total": 1000,
                "lines": [{ "sku": "S-1", "productName": "Serum", "quantity": 1, "unitPrice": 1000, "category": category }] } })
        };
        for bad in [json!("   "), json!("x".repeat(65))] {
            let (status, body) = app.post(INGEST, ingest("bad", bad.clone()), Some(&app.staff())).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(codes(&body), ["BAD_USER_INPUT"], "{bad}: {body}");
            assert_eq!(body["errors"][0]["extensions"]["field"], "lines[0].category", "{body}");
        }
        assert_eq!(app.scalar("SELECT COUNT(*) FROM orders").await, 0, "nothing half-written");

        let categories = "mutation($input: OrderIngestInput!) { orderIngest(input: $input) {
            lines(first: 5) { edges { node { sku category } } } } }";
        let longest = "é".repeat(64);
        for (key, sent, stored) in [
            ("trimmed", json!("  skincare "), json!("skincare")),
            ("longest", json!(longest), json!(longest)),
            ("none", Value::Null, Value::Null),
        ] {
            let data = app.query(categories, ingest(key, sent)).await;
            assert_eq!(data["orderIngest"]["lines"]["edges"][0]["node"]["category"], stored, "{key}");
        }
        // The same order posted again with another category is another
        // payload; with the same one (trimmed alike) it is the first order.
        let (_, body) = app.post(INGEST, ingest("trimmed", json!("makeup")), Some(&app.staff())).await;
        assert_eq!(codes(&body), ["CONFLICT"], "{body}");
        let again = app.query(categories, ingest("trimmed", json!("skincare "))).await;
        assert_eq!(again["orderIngest"]["lines"]["edges"][0]["node"]["category"], "skincare");
        assert_eq!(app.scalar("SELECT COUNT(*) FROM orders").await, 3);
    }
}

both_stores! {
    async fn a_page_of_customers_reads_interests_in_fixed_statements(app: TestApp) {
        // Seeding refreshes the co-purchase table and top categories.
        app.seed(20).await;
        let query = "query($n: Int!) { customers(first: $n) { nodes { id
            interests(first: 3) { categories { category share } products { sku share } }
            recommendedProducts(first: 3) { sku score because { sku } } } } }";
        let mut counts = Vec::new();
        let mut recommended = 0;
        for n in [1, 20] {
            let before = app.sql_statements().await;
            let data = app.query(query, json!({ "n": n })).await;
            counts.push(app.sql_statements().await - before);
            let nodes = data["customers"]["nodes"].as_array().expect("nodes").clone();
            assert_eq!(nodes.len(), n as usize);
            recommended = nodes
                .iter()
                .filter(|c| c["recommendedProducts"].as_array().is_some_and(|r| !r.is_empty()))
                .count();
        }
        assert_eq!(counts[0], counts[1], "statements for 1 and 20 customers: {counts:?}");
        // Interests and recommendations are one statement each.
        let before = app.sql_statements().await;
        app.query("{ customers(first: 20) { nodes { id } } }", json!({})).await;
        let plain = app.sql_statements().await - before;
        assert_eq!(counts[1], plain + 2, "{counts:?} against {plain} without them");
        assert!(recommended > 10, "the seeded base has something to recommend to most: {recommended}");
    }
}

both_stores! {
    async fn partners_need_orders_read_and_a_customer_reads_only_itself(app: TestApp) {
        let f = fixture(&app).await;
        refresh(&app);
        let both = "query($id: ID!) { customer(id: $id) { id
            interests { categories { category } } recommendedProducts { sku } } }";
        let vars = json!({ "id": f.id('A') });

        let partner = app.token(Role::Partner, "partner-recs", &["customers:read", "orders:read"]);
        let (_, body) = app.post(both, vars.clone(), Some(&partner)).await;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(body["data"]["customer"]["interests"]["categories"][0]["category"], "makeup");
        assert_eq!(body["data"]["customer"]["recommendedProducts"][0]["sku"], "SHA");

        let partner = app.token(Role::Partner, "partner-recs", &["customers:read"]);
        let (_, body) = app.post(both, vars.clone(), Some(&partner)).await;
        assert_eq!(codes(&body), ["FORBIDDEN", "FORBIDDEN"], "{body}");
        assert_eq!(body["data"]["customer"]["interests"], Value::Null);
        assert_eq!(body["data"]["customer"]["recommendedProducts"], Value::Null);
        assert!(body["data"]["customer"]["id"].is_string());

        let number = |gid: &str| gid.rsplit('/').next().unwrap_or_default().to_owned();
        let me = app.token(Role::Customer, &number(&f.id('A')), &[]);
        let (_, body) = app.post(both, vars.clone(), Some(&me)).await;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(body["data"]["customer"]["recommendedProducts"][1]["sku"], "CRM");
        let other = app.token(Role::Customer, &number(&f.id('B')), &[]);
        let (_, body) = app.post(both, vars, Some(&other)).await;
        assert_eq!(body["data"]["customer"], Value::Null, "{body}");
    }
}
