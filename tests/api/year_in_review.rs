//! `Customer.yearInReview(year)` against figures computed by hand from
//! customers, orders, points, reviews, tickets and NPS answers written
//! through the API, in a store whose time zone is America/New_York (UTC-5
//! in winter), so a year runs from 2025-01-01T05:00Z to 2026-01-01T05:00Z.
//!
//! The clock is set to each write's instant before it (a write's rows carry
//! the clock's time), then stopped at 2026-03-01T12:00Z. Amounts in cents,
//! USD unless said otherwise; every customer is added 2024-03-01T00:00Z.
//!
//! Customer A (lines: sku qty × unit category):
//! - a0 2025-01-01T03:00Z (New York: 2024-12-31 22:00, so 2024) PAID 10000:
//!   LIP 2 × 5000 makeup;
//! - a1 2025-01-01T06:00Z (01:00 on 1 January) PAID 21000: LIP 2 × 5000
//!   makeup, SER 1 × 10000 skincare, NAI 1 × 1000 nails;
//! - a2 2025-06-10T12:00Z PAID 40000: SER 2 × 10000 skincare, MAS 1 × 15000
//!   makeup, GIFT 1 × 5000 (no category). Trailing paid spend a0 + a1 + a2
//!   = 71000 ≥ 50000: SILVER from here (a `loyalty.tier_changed`);
//! - a3 2025-08-01T12:00Z PAID 30500: CRM 3 × 10000 skincare, HAI 1 × 500
//!   hair; 12000 refunded 2025-08-02 (PARTIALLY_REFUNDED, net 18500);
//! - a4 2025-09-01T12:00Z PENDING 50000 (LIP 10 × 5000), CANCELLED 09-02:
//!   not counted;
//! - a5 2026-01-01T04:30Z (New York: 2025-12-31 23:30, so 2025) PAID 12000:
//!   LIP 2 × 5000 makeup, BRU 1 × 2000 makeup;
//! - a6 2026-01-01T05:30Z (00:30 on 1 January 2026) PAID 8000: TON 1 × 8000
//!   skincare.
//!
//! A's 2025: counted orders a1, a2, a3, a5 = 4; net 21000 + 40000 + 18500 +
//! 12000 = 91500 ("915.00"); first a1, last a5.
//!
//! Products (quantity × unit over those orders): CRM 3, 30000; SER 1 + 2 =
//! 3, 10000 + 20000 = 30000; LIP 2 + 2 = 4, 20000; MAS 1, 15000; GIFT 1,
//! 5000; BRU 1, 2000; NAI 1, 1000; HAI 1, 500. Top 5 by spend, then
//! quantity, then sku: CRM and SER tie on both, so CRM first; then LIP,
//! MAS, GIFT (BRU, NAI and HAI are cut).
//!
//! Categories: skincare 30000 + 30000 = 60000; makeup 10000 + 15000 +
//! 10000 + 2000 = 37000; nails 1000; hair 500; none 5000; all lines
//! 103500. Top 3: skincare 60000/103500, makeup 37000/103500, nails
//! 1000/103500.
//!
//! Points (1 per dollar paid, on the EARN row written when paid): a1 210,
//! a2 400, a3 305, a5 120 = 1035 earned in 2025 (a0's 100 is 2024's, a6's
//! 80 2026's; the refund's CLAWBACK is negative, not earned); 100 redeemed
//! 2025-07-01. Tier: BRONZE until 2025-06-10, then SILVER: reached SILVER.
//!
//! Reviews: SER 2025-07-01, LIP 2026-01-01T04:00Z (2025 in New York), CRM
//! 2026-01-02 (2026): 2 written.
//!
//! Tickets: t0 2024-12-31T10:00Z (2024); t1 2025-02-01T10:00Z answered
//! 10:30 (30 min); t2 2025-03-01T10:00Z answered 12:00 (120); t3
//! 2025-04-01T10:00Z answered 10:45:59 (45, rounded down); t4 2025-10-01
//! unanswered. Opened 4; median of 30, 45, 120 = 45.
//!
//! NPS: 6 on 2025-03-01, 9 on 2025-12-01, 3 on 2026-02-01: 2 answers, the
//! last 9 (PROMOTER).
//!
//! B: b1 2025-03-03 PAID 50000 (SER 5 × 10000); b2 2025-11-11 PAID 10000
//! (MAS 1 × 10000), refunded in full 11-12 (REFUNDED, net 0): 2 orders,
//! net 50000. C: c1 2025-05-05 PAID 5000 (LIP). E: e1 2025-02-02 PAID 5000
//! (LIP). D: d1 2024-06-01 PAID 200000; d2 2025-04-04 PAID 999900 EUR (not
//! the base currency: not counted), so D bought nothing in 2025.
//!
//! Standing in 2025: buyers A 91500, B 50000, C 5000, E 5000 (4). A: 4 at
//! or below, percentile 1, 100 × 4 ≥ 99 × 4: TOP_1. B: 3, 0.75, 300 ≥ 75 ×
//! 4: TOP_25. C and E tie: 2 each, 0.5, no band.

use std::collections::HashMap;

use c360::auth::Role;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::each_store;
use crate::helpers::{StoreKind, TestApp, codes};
use crate::writes_orders::{INGEST, REFUND, STATUS};

const NOW: &str = "2026-03-01T12:00:00+00:00";
const ZONE: &str = "America/New_York";

const REVIEW: &str =
    "query($id: ID!, $year: Int!) { customer(id: $id) { yearInReview(year: $year) {
    year timezone startsAt endsAt complete memberSince
    orders { count netSpend { amount currencyCode }
        firstPurchase { orderId orderNumber placedAt }
        lastPurchase { orderId orderNumber placedAt }
        topProducts { sku name quantity spend { amount currencyCode } }
        topCategories { category spend { amount } share }
        standing { percentile buyers buyersAtOrBelow band label } }
    loyalty { pointsEarned pointsRedeemed tierReached }
    reviewsWritten
    support { ticketsOpened medianFirstReplyMinutes }
    nps { answers lastScore lastCategory } } } }";

const CREATE: &str =
    "mutation($input: CustomerCreateInput!) { customerCreate(input: $input) { id } }";
const OPEN: &str = "mutation($c: ID!) { ticketOpen(customerId: $c, subject: \"Help\", body: \"Where is it?\", priority: NORMAL, channel: CHAT) { id } }";
const REPLY: &str = "mutation($id: ID!) { ticketReply(id: $id, authorKind: AGENT, body: \"On its way.\", authorName: \"Sam\") { firstReplyAt } }";
const SUBMIT: &str = "mutation($c: ID!, $sku: String!) { reviewSubmit(customerId: $c, sku: $sku, rating: 5, title: \"Nice\", body: \"Works.\") { id } }";
const NPS: &str = "mutation($c: ID!, $s: Int!) { npsRecord(customerId: $c, score: $s) { score } }";
const REDEEM: &str = "mutation($c: ID!, $p: Int!, $k: String!) { redeemPoints(customerId: $c, points: $p, idempotencyKey: $k) { pointsAvailable } }";

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .expect("instant")
}

async fn spawn(store: StoreKind) -> TestApp {
    TestApp::spawn(store, |c| c.timezone = ZONE.parse().expect("zone")).await
}

/// The fixture's customers and orders by name, as global ids, and the
/// orders' numbers.
struct Fixture {
    customers: HashMap<String, Value>,
    orders: HashMap<String, (Value, Value)>,
}

/// A line: sku, quantity, unit price, category.
type Line = (&'static str, i64, i64, Option<&'static str>);

impl Fixture {
    async fn write(app: &TestApp, when: &str, query: &str, vars: Value) -> Value {
        app.clock.set(at(when));
        app.query(query, vars).await
    }

    async fn customer(&mut self, app: &TestApp, name: &str) {
        let input =
            json!({ "profile": { "email": format!("{name}@example.com"), "firstName": name } });
        let data = Self::write(
            app,
            "2024-03-01T00:00:00+00:00",
            CREATE,
            json!({ "input": input }),
        )
        .await;
        self.customers
            .insert(name.to_owned(), data["customerCreate"]["id"].clone());
    }

    async fn order(
        &mut self,
        app: &TestApp,
        customer: &str,
        key: &str,
        (status, currency, placed): (&str, &str, &str),
        lines: &[Line],
    ) {
        let total: i64 = lines.iter().map(|(_, q, p, _)| q * p).sum();
        let lines: Vec<Value> = lines
            .iter()
            .map(|(sku, quantity, unit, category)| {
                json!({ "sku": sku, "productName": format!("Product {sku}"), "quantity": quantity,
                        "unitPrice": unit, "category": category })
            })
            .collect();
        let input = json!({
            "customerId": self.customers[customer], "externalRef": key, "status": status,
            "currencyCode": currency, "total": total, "placedAt": placed, "lines": lines,
        });
        let data = Self::write(app, placed, INGEST, json!({ "input": input })).await;
        let order = &data["orderIngest"];
        self.orders.insert(
            key.to_owned(),
            (order["id"].clone(), order["orderNumber"].clone()),
        );
    }

    fn id(&self, customer: &str) -> Value {
        self.customers[customer].clone()
    }
}

async fn load(app: &TestApp) -> Fixture {
    let mut f = Fixture {
        customers: HashMap::new(),
        orders: HashMap::new(),
    };
    for name in ["a", "b", "c", "d", "e"] {
        f.customer(app, name).await;
    }
    let paid = |placed| ("PAID", "USD", placed);
    let (mk, sk) = (Some("makeup"), Some("skincare"));
    f.order(
        app,
        "a",
        "a0",
        paid("2025-01-01T03:00:00+00:00"),
        &[("LIP", 2, 5000, mk)],
    )
    .await;
    let a1 = [
        ("LIP", 2, 5000, mk),
        ("SER", 1, 10000, sk),
        ("NAI", 1, 1000, Some("nails")),
    ];
    f.order(app, "a", "a1", paid("2025-01-01T06:00:00+00:00"), &a1)
        .await;
    let a2 = [
        ("SER", 2, 10000, sk),
        ("MAS", 1, 15000, mk),
        ("GIFT", 1, 5000, None),
    ];
    f.order(app, "a", "a2", paid("2025-06-10T12:00:00+00:00"), &a2)
        .await;
    let a3 = [("CRM", 3, 10000, sk), ("HAI", 1, 500, Some("hair"))];
    f.order(app, "a", "a3", paid("2025-08-01T12:00:00+00:00"), &a3)
        .await;
    let a4 = [("LIP", 10, 5000, mk)];
    f.order(
        app,
        "a",
        "a4",
        ("PENDING", "USD", "2025-09-01T12:00:00+00:00"),
        &a4,
    )
    .await;
    let a5 = [("LIP", 2, 5000, mk), ("BRU", 1, 2000, mk)];
    f.order(app, "a", "a5", paid("2026-01-01T04:30:00+00:00"), &a5)
        .await;
    f.order(
        app,
        "a",
        "a6",
        paid("2026-01-01T05:30:00+00:00"),
        &[("TON", 1, 8000, sk)],
    )
    .await;
    f.order(
        app,
        "b",
        "b1",
        paid("2025-03-03T12:00:00+00:00"),
        &[("SER", 5, 10000, sk)],
    )
    .await;
    f.order(
        app,
        "b",
        "b2",
        paid("2025-11-11T12:00:00+00:00"),
        &[("MAS", 1, 10000, mk)],
    )
    .await;
    f.order(
        app,
        "c",
        "c1",
        paid("2025-05-05T12:00:00+00:00"),
        &[("LIP", 1, 5000, mk)],
    )
    .await;
    f.order(
        app,
        "e",
        "e1",
        paid("2025-02-02T12:00:00+00:00"),
        &[("LIP", 1, 5000, mk)],
    )
    .await;
    f.order(
        app,
        "d",
        "d1",
        paid("2024-06-01T12:00:00+00:00"),
        &[("SER", 20, 10000, sk)],
    )
    .await;
    let eur = ("PAID", "EUR", "2025-04-04T12:00:00+00:00");
    f.order(app, "d", "d2", eur, &[("SER", 1, 999900, sk)])
        .await;

    let order = |key: &str| f.orders[key].0.clone();
    let refund = |key: &str, amount: i64| json!({ "id": order(key), "amount": amount });
    Fixture::write(
        app,
        "2025-08-02T12:00:00+00:00",
        REFUND,
        refund("a3", 12000),
    )
    .await;
    let cancel = json!({ "id": order("a4"), "status": "CANCELLED" });
    Fixture::write(app, "2025-09-02T12:00:00+00:00", STATUS, cancel).await;
    Fixture::write(
        app,
        "2025-11-12T12:00:00+00:00",
        REFUND,
        refund("b2", 10000),
    )
    .await;

    let a = f.id("a");
    let redeem = json!({ "c": a, "p": 100, "k": "yir-1" });
    Fixture::write(app, "2025-07-01T12:00:00+00:00", REDEEM, redeem).await;
    for (when, sku) in [
        ("2025-07-01T12:00:00+00:00", "SER"),
        ("2026-01-01T04:00:00+00:00", "LIP"),
        ("2026-01-02T12:00:00+00:00", "CRM"),
    ] {
        Fixture::write(app, when, SUBMIT, json!({ "c": a, "sku": sku })).await;
    }
    for (opened, answered) in [
        (
            "2024-12-31T10:00:00+00:00",
            Some("2025-01-02T10:00:00+00:00"),
        ),
        (
            "2025-02-01T10:00:00+00:00",
            Some("2025-02-01T10:30:00+00:00"),
        ),
        (
            "2025-03-01T10:00:00+00:00",
            Some("2025-03-01T12:00:00+00:00"),
        ),
        (
            "2025-04-01T10:00:00+00:00",
            Some("2025-04-01T10:45:59+00:00"),
        ),
        ("2025-10-01T10:00:00+00:00", None),
    ] {
        let data = Fixture::write(app, opened, OPEN, json!({ "c": a })).await;
        if let Some(answered) = answered {
            let id = data["ticketOpen"]["id"].clone();
            Fixture::write(app, answered, REPLY, json!({ "id": id })).await;
        }
    }
    for (when, score) in [
        ("2025-03-01T12:00:00+00:00", 6),
        ("2025-12-01T12:00:00+00:00", 9),
        ("2026-02-01T12:00:00+00:00", 3),
    ] {
        Fixture::write(app, when, NPS, json!({ "c": a, "s": score })).await;
    }
    app.clock.set(at(NOW));
    f
}

async fn review(app: &TestApp, customer: &Value, year: i32) -> Value {
    let data = app
        .query(REVIEW, json!({ "id": customer, "year": year }))
        .await;
    data["customer"]["yearInReview"].clone()
}

fn usd(amount: &str) -> Value {
    json!({ "amount": amount, "currencyCode": "USD" })
}

each_store! {
    async fn every_figure_of_a_year_matches_the_hand_computed_fixture(store: StoreKind) {
        let app = spawn(store).await;
        let f = load(&app).await;
        let purchase = |key: &str, placed: &str| {
            let (id, number) = &f.orders[key];
            json!({ "orderId": id, "orderNumber": number, "placedAt": placed })
        };

        let a = review(&app, &f.id("a"), 2025).await;
        assert_eq!(a["year"], 2025);
        assert_eq!(a["timezone"], ZONE);
        assert_eq!(a["startsAt"], "2025-01-01T05:00:00+00:00");
        assert_eq!(a["endsAt"], "2026-01-01T05:00:00+00:00");
        assert_eq!(a["complete"], true);
        assert_eq!(a["memberSince"], "2024-03-01T00:00:00+00:00");
        let o = &a["orders"];
        assert_eq!(o["count"], 4, "{a}");
        assert_eq!(o["netSpend"], usd("915.00"));
        assert_eq!(o["firstPurchase"], purchase("a1", "2025-01-01T06:00:00+00:00"));
        assert_eq!(o["lastPurchase"], purchase("a5", "2026-01-01T04:30:00+00:00"));
        let product = |sku: &str, quantity: i64, spend: &str| {
            json!({ "sku": sku, "name": format!("Product {sku}"), "quantity": quantity, "spend": usd(spend) })
        };
        assert_eq!(
            o["topProducts"],
            json!([
                product("CRM", 3, "300.00"),
                product("SER", 3, "300.00"),
                product("LIP", 4, "200.00"),
                product("MAS", 1, "150.00"),
                product("GIFT", 1, "50.00"),
            ])
        );
        let category = |name: &str, spend: &str, minor: f64| {
            json!({ "category": name, "spend": { "amount": spend }, "share": minor / 103500.0 })
        };
        assert_eq!(
            o["topCategories"],
            json!([
                category("skincare", "600.00", 60000.0),
                category("makeup", "370.00", 37000.0),
                category("nails", "10.00", 1000.0),
            ])
        );
        assert_eq!(
            o["standing"],
            json!({ "percentile": 1.0, "buyers": 4, "buyersAtOrBelow": 4, "band": "TOP_1", "label": "top 1%" })
        );
        assert_eq!(
            a["loyalty"],
            json!({ "pointsEarned": 1035, "pointsRedeemed": 100, "tierReached": "SILVER" })
        );
        assert_eq!(a["reviewsWritten"], 2);
        assert_eq!(a["support"], json!({ "ticketsOpened": 4, "medianFirstReplyMinutes": 45.0 }));
        assert_eq!(a["nps"], json!({ "answers": 2, "lastScore": 9, "lastCategory": "PROMOTER" }));

        let b = review(&app, &f.id("b"), 2025).await;
        assert_eq!(b["orders"]["count"], 2);
        assert_eq!(b["orders"]["netSpend"], usd("500.00"));
        assert_eq!(
            b["orders"]["standing"],
            json!({ "percentile": 0.75, "buyers": 4, "buyersAtOrBelow": 3, "band": "TOP_25", "label": "top 25%" })
        );
        for name in ["c", "e"] {
            let r = review(&app, &f.id(name), 2025).await;
            assert_eq!(r["orders"]["netSpend"], usd("50.00"));
            assert_eq!(
                r["orders"]["standing"],
                json!({ "percentile": 0.5, "buyers": 4, "buyersAtOrBelow": 2, "band": null, "label": null }),
                "{name}"
            );
        }
        // D's only 2025 order is in EUR: not counted, so not a buyer.
        let d = review(&app, &f.id("d"), 2025).await;
        assert_eq!(d["orders"]["count"], 0);
        assert_eq!(d["orders"]["netSpend"], usd("0.00"));
        assert_eq!(d["orders"]["standing"], Value::Null);
        assert_eq!(d["orders"]["topProducts"], json!([]));

        // 2024 in New York holds a0 (2025-01-01T03:00Z) and t0, and A was BRONZE.
        let a2024 = review(&app, &f.id("a"), 2024).await;
        assert_eq!(a2024["orders"]["count"], 1);
        assert_eq!(a2024["orders"]["firstPurchase"], purchase("a0", "2025-01-01T03:00:00+00:00"));
        assert_eq!(a2024["loyalty"]["pointsEarned"], 100);
        assert_eq!(a2024["loyalty"]["tierReached"], "BRONZE");
        assert_eq!(a2024["support"], json!({ "ticketsOpened": 1, "medianFirstReplyMinutes": 2880.0 }));

        // The year in progress: a6 so far, flagged incomplete.
        let a2026 = review(&app, &f.id("a"), 2026).await;
        assert_eq!(a2026["complete"], false);
        assert_eq!(a2026["orders"]["count"], 1);
        assert_eq!(a2026["orders"]["netSpend"], usd("80.00"));
        assert_eq!(a2026["orders"]["firstPurchase"], purchase("a6", "2026-01-01T05:30:00+00:00"));
        assert_eq!(a2026["orders"]["lastPurchase"], purchase("a6", "2026-01-01T05:30:00+00:00"));
        assert_eq!(a2026["orders"]["standing"]["band"], "TOP_1");
        assert_eq!(a2026["reviewsWritten"], 1);
        assert_eq!(a2026["nps"], json!({ "answers": 1, "lastScore": 3, "lastCategory": "DETRACTOR" }));
    }
}

each_store! {
    async fn a_year_without_activity_is_an_empty_review_and_bad_years_are_refused(store: StoreKind) {
        let app = spawn(store).await;
        let f = load(&app).await;
        // 2023: before A was added; every figure zero or null.
        let empty = review(&app, &f.id("a"), 2023).await;
        assert_eq!(
            empty,
            json!({
                "year": 2023, "timezone": ZONE, "startsAt": "2023-01-01T05:00:00+00:00",
                "endsAt": "2024-01-01T05:00:00+00:00", "complete": true,
                "memberSince": "2024-03-01T00:00:00+00:00",
                "orders": { "count": 0, "netSpend": usd("0.00"), "firstPurchase": null,
                    "lastPurchase": null, "topProducts": [], "topCategories": [], "standing": null },
                "loyalty": { "pointsEarned": 0, "pointsRedeemed": 0, "tierReached": null },
                "reviewsWritten": 0,
                "support": { "ticketsOpened": 0, "medianFirstReplyMinutes": null },
                "nps": { "answers": 0, "lastScore": null, "lastCategory": null }
            })
        );
        for year in [2027, 1969, -5, 99_999] {
            let (status, body) = app
                .post(REVIEW, json!({ "id": f.id("a"), "year": year }), Some(&app.staff()))
                .await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(codes(&body), ["BAD_USER_INPUT"], "{year}: {body}");
            assert_eq!(body["errors"][0]["extensions"]["field"], "year", "{body}");
            assert_eq!(body["data"]["customer"], Value::Null);
        }
        // 2026-12-31T23:30 in New York is 2027-01-01T04:30Z: still 2026 there.
        app.clock.set(at("2027-01-01T04:30:00+00:00"));
        let (_, body) = app
            .post(REVIEW, json!({ "id": f.id("a"), "year": 2027 }), Some(&app.staff()))
            .await;
        assert_eq!(codes(&body), ["BAD_USER_INPUT"], "{body}");
        app.clock.set(at("2027-01-01T05:00:00+00:00"));
        let review = review(&app, &f.id("a"), 2027).await;
        assert_eq!(review["complete"], false);
        assert_eq!(review["orders"]["count"], 0);
    }
}

/// The top-level part each error is about, with its code.
fn forbidden_parts(body: &Value) -> Vec<String> {
    let mut parts: Vec<String> = body["errors"]
        .as_array()
        .map(|errs| {
            errs.iter()
                .map(|e| {
                    assert_eq!(e["extensions"]["code"], "FORBIDDEN", "{body}");
                    e["path"][2].as_str().unwrap_or_default().to_owned()
                })
                .collect()
        })
        .unwrap_or_default();
    parts.sort();
    parts
}

each_store! {
    async fn each_part_needs_its_read_scope_and_a_customer_reads_only_itself(store: StoreKind) {
        let app = spawn(store).await;
        let f = load(&app).await;
        let vars = json!({ "id": f.id("a"), "year": 2025 });
        let partner = |scopes: &[&str]| app.token(Role::Partner, "partner-yir", scopes);

        let token = partner(&["customers:read", "orders:read"]);
        let (status, body) = app.post(REVIEW, vars.clone(), Some(&token)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(forbidden_parts(&body), ["loyalty", "reviewsWritten", "support"]);
        let r = &body["data"]["customer"]["yearInReview"];
        assert_eq!(r["orders"]["count"], 4, "{body}");
        assert_eq!(r["orders"]["standing"]["band"], "TOP_1");
        assert_eq!(r["loyalty"], Value::Null);
        assert_eq!(r["reviewsWritten"], Value::Null);
        assert_eq!(r["support"], Value::Null);
        assert_eq!(r["nps"]["answers"], 2);
        assert_eq!(r["memberSince"], "2024-03-01T00:00:00+00:00");

        let token = partner(&["customers:read", "loyalty:read", "reviews:read", "tickets:read"]);
        let (_, body) = app.post(REVIEW, vars.clone(), Some(&token)).await;
        assert_eq!(forbidden_parts(&body), ["orders"]);
        let r = &body["data"]["customer"]["yearInReview"];
        assert_eq!(r["loyalty"]["pointsEarned"], 1035, "{body}");
        assert_eq!(r["reviewsWritten"], 2);
        assert_eq!(r["support"]["ticketsOpened"], 4);

        // A customer reads its own year, whole, and never another's.
        let a_id = f.id("a");
        let own = a_id.as_str().and_then(|g| g.rsplit('/').next()).expect("numeric id");
        let token = app.token(Role::Customer, own, &[]);
        let (_, body) = app.post(REVIEW, vars.clone(), Some(&token)).await;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(body["data"]["customer"]["yearInReview"]["loyalty"]["tierReached"], "SILVER");
        let (_, body) = app
            .post(REVIEW, json!({ "id": f.id("b"), "year": 2025 }), Some(&token))
            .await;
        assert_eq!(body["data"]["customer"], Value::Null, "{body}");
    }
}

const LIST: &str = "query($n: Int!) { customers(first: $n) { nodes { yearInReview(year: 2025) {
    orders { count netSpend { amount } firstPurchase { orderNumber } lastPurchase { orderNumber }
        topProducts { sku } topCategories { category } standing { band } }
    loyalty { pointsEarned pointsRedeemed tierReached }
    reviewsWritten support { ticketsOpened medianFirstReplyMinutes }
    nps { answers lastScore } memberSince } } } }";

/// Statements one request costs, run twice so settling a loyalty account
/// on the first read is not counted.
async fn statements(app: &TestApp, query: &str, vars: Value) -> u64 {
    app.query(query, vars.clone()).await;
    let before = app.sql_statements().await;
    app.query(query, vars).await;
    app.sql_statements().await - before
}

each_store! {
    async fn a_review_costs_the_same_statements_for_3_or_40_orders_and_1_10_or_100_customers(store: StoreKind) {
        let app = spawn(store).await;
        // A base of 100 more customers with their own history, seeded as of now.
        app.clock.set(at(NOW));
        app.seed(100).await;
        let mut f = Fixture {
            customers: HashMap::new(),
            orders: HashMap::new(),
        };
        const SKUS: [&str; 7] = ["LIP", "MAS", "BRU", "NAI", "CRM", "TON", "HAI"];
        const OTHERS: [&str; 8] = ["o0", "o1", "o2", "o3", "o4", "o5", "o6", "o7"];
        for name in ["few", "many"].into_iter().chain(OTHERS) {
            f.customer(&app, name).await;
        }
        // "few": 3 orders of 2025; "many": 40; every other customer one.
        for i in 0..43 {
            let placed = format!("2025-{:02}-{:02}T12:00:00+00:00", i % 12 + 1, i % 28 + 1);
            let who = if i < 3 { "few" } else { "many" };
            let lines = [(SKUS[i % 7], 1, 1000, Some("makeup")), ("SER", 2, 500, None)];
            f.order(&app, who, &format!("k{i}"), ("PAID", "USD", &placed), &lines).await;
        }
        for other in OTHERS {
            let placed = ("PAID", "USD", "2025-06-01T12:00:00+00:00");
            f.order(&app, other, &format!("{other}-1"), placed, &[("SER", 1, 900, None)]).await;
        }
        for when in ["2025-02-01T10:00:00+00:00", "2025-03-01T10:00:00+00:00"] {
            Fixture::write(&app, when, OPEN, json!({ "c": f.id("many") })).await;
            Fixture::write(&app, when, NPS, json!({ "c": f.id("many"), "s": 8 })).await;
        }
        app.clock.set(at(NOW));
        let few = statements(&app, REVIEW, json!({ "id": f.id("few"), "year": 2025 })).await;
        let many = statements(&app, REVIEW, json!({ "id": f.id("many"), "year": 2025 })).await;
        assert_eq!(review(&app, &f.id("few"), 2025).await["orders"]["count"], 3);
        assert_eq!(review(&app, &f.id("many"), 2025).await["orders"]["count"], 40);
        // The customer, then one statement per part: orders with the
        // standing, products, categories, points, tier changes, the loyalty
        // account, reviews, tickets, NPS.
        assert_eq!((few, many), (10, 10));
        let one = statements(&app, LIST, json!({ "n": 1 })).await;
        let ten = statements(&app, LIST, json!({ "n": 10 })).await;
        let hundred = statements(&app, LIST, json!({ "n": 100 })).await;
        assert_eq!((one, ten, hundred), (10, 10, 10));
        let data = app.query(LIST, json!({ "n": 100 })).await;
        let nodes = data["customers"]["nodes"].as_array().cloned().unwrap_or_default();
        assert_eq!(nodes.len(), 100);
        let buyers = nodes
            .iter()
            .filter(|n| !n["yearInReview"]["orders"]["standing"].is_null())
            .count();
        assert!(buyers > 10, "the page holds buyers of 2025: {buyers}");
    }
}
