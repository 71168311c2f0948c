//! `insights(from, to, timezone, segment)` against figures computed by hand
//! from a small fixed data set the test inserts with SQL.

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::both_stores;
use crate::helpers::TestApp;

/// The period of every assertion: March 2026, `[from, to)`.
const FROM: &str = "2026-03-01T00:00:00Z";
const TO: &str = "2026-04-01T00:00:00Z";

/// Timestamps are written as sqlx writes `DateTime<Utc>` to SQLite
/// (RFC 3339 with `+00:00`), which PostgreSQL reads as `timestamptz` too.
const DATA: &[&str] = &[
    "INSERT INTO customers (id, email, country, email_marketing_state, created_at, updated_at) VALUES
        (1, 'ann@example.com', 'US', 'SUBSCRIBED', '2026-01-10T00:00:00+00:00', '2026-01-10T00:00:00+00:00'),
        (2, 'ben@example.com', 'US', 'SUBSCRIBED', '2026-02-15T00:00:00+00:00', '2026-02-15T00:00:00+00:00'),
        (3, 'cat@example.com', 'GB', 'SUBSCRIBED', '2026-03-05T00:00:00+00:00', '2026-03-05T00:00:00+00:00'),
        (4, 'dan@example.com', 'US', 'SUBSCRIBED', '2026-03-20T00:00:00+00:00', '2026-03-20T00:00:00+00:00'),
        (5, 'eve@example.com', 'GB', 'SUBSCRIBED', '2026-04-10T00:00:00+00:00', '2026-04-10T00:00:00+00:00'),
        (6, 'fay@example.com', 'US', 'SUBSCRIBED', '2025-12-01T00:00:00+00:00', '2025-12-01T00:00:00+00:00')",
    "INSERT INTO orders (id, customer_id, order_number, status, channel, currency, subtotal, discount, tax, total, refunded, placed_at, created_at, updated_at) VALUES
        (1, 1, 'O-1', 'PAID', 'ONLINE_STORE', 'USD', 10000, 0, 0, 10000, 0, '2026-02-10T12:00:00+00:00', '2026-02-10T12:00:00+00:00', '2026-02-10T12:00:00+00:00'),
        (2, 1, 'O-2', 'PAID', 'ONLINE_STORE', 'USD', 5000, 0, 0, 5000, 1000, '2026-03-02T12:00:00+00:00', '2026-03-02T12:00:00+00:00', '2026-03-02T12:00:00+00:00'),
        (3, 1, 'O-3', 'FULFILLED', 'POS', 'USD', 3000, 0, 0, 3000, 0, '2026-03-15T12:00:00+00:00', '2026-03-15T12:00:00+00:00', '2026-03-15T12:00:00+00:00'),
        (4, 2, 'O-4', 'PAID', 'ONLINE_STORE', 'USD', 20000, 0, 0, 20000, 0, '2026-02-20T12:00:00+00:00', '2026-02-20T12:00:00+00:00', '2026-02-20T12:00:00+00:00'),
        (5, 3, 'O-5', 'PAID', 'ONLINE_STORE', 'USD', 7000, 0, 0, 7000, 0, '2026-03-10T12:00:00+00:00', '2026-03-10T12:00:00+00:00', '2026-03-10T12:00:00+00:00'),
        (6, 3, 'O-6', 'CANCELLED', 'ONLINE_STORE', 'USD', 9000, 0, 0, 9000, 0, '2026-03-11T12:00:00+00:00', '2026-03-11T12:00:00+00:00', '2026-03-11T12:00:00+00:00'),
        (7, 4, 'O-7', 'PAID', 'ONLINE_STORE', 'EUR', 4000, 0, 0, 4000, 0, '2026-03-25T12:00:00+00:00', '2026-03-25T12:00:00+00:00', '2026-03-25T12:00:00+00:00'),
        (8, 6, 'O-8', 'PAID', 'ONLINE_STORE', 'USD', 2500, 0, 0, 2500, 500, '2026-01-05T12:00:00+00:00', '2026-01-05T12:00:00+00:00', '2026-01-05T12:00:00+00:00'),
        (9, 6, 'O-9', 'PAID', 'ONLINE_STORE', 'USD', 6000, 0, 0, 6000, 0, '2026-03-31T23:59:59+00:00', '2026-03-31T23:59:59+00:00', '2026-03-31T23:59:59+00:00'),
        (10, 6, 'O-10', 'PAID', 'ONLINE_STORE', 'USD', 8000, 0, 0, 8000, 0, '2026-04-01T00:00:00+00:00', '2026-04-01T00:00:00+00:00', '2026-04-01T00:00:00+00:00'),
        (11, 5, 'O-11', 'PAID', 'ONLINE_STORE', 'USD', 1000, 0, 0, 1000, 0, '2026-04-15T12:00:00+00:00', '2026-04-15T12:00:00+00:00', '2026-04-15T12:00:00+00:00')",
    "INSERT INTO nps_responses (id, customer_id, score, channel, created_at) VALUES
        (1, 1, 10, 'EMAIL', '2026-03-03T00:00:00+00:00'),
        (2, 2, 9, 'EMAIL', '2026-03-04T00:00:00+00:00'),
        (3, 3, 6, 'WEB', '2026-03-05T00:00:00+00:00'),
        (4, 6, 8, 'APP', '2026-03-06T00:00:00+00:00'),
        (5, 6, 0, 'APP', '2026-02-28T23:59:59+00:00'),
        (6, 4, 3, 'SMS', '2026-04-01T00:00:00+00:00')",
    "INSERT INTO tickets (id, customer_id, subject, status, priority, channel, created_at, updated_at, first_reply_at, satisfaction_score, satisfaction_at) VALUES
        (1, 1, 's', 'SOLVED', 'NORMAL', 'EMAIL', '2026-03-01T00:00:00+00:00', '2026-03-01T00:00:00+00:00', '2026-03-01T00:30:00+00:00', 5, '2026-03-02T00:00:00+00:00'),
        (2, 2, 's', 'SOLVED', 'NORMAL', 'EMAIL', '2026-03-10T10:00:00+00:00', '2026-03-10T10:00:00+00:00', '2026-03-10T10:10:59+00:00', 3, '2026-03-11T00:00:00+00:00'),
        (3, 3, 's', 'SOLVED', 'NORMAL', 'CHAT', '2026-03-12T08:00:00+00:00', '2026-03-12T08:00:00+00:00', '2026-03-12T10:00:00+00:00', 4, '2026-04-02T00:00:00+00:00'),
        (4, 6, 's', 'OPEN', 'HIGH', 'PHONE', '2026-03-20T09:00:00+00:00', '2026-03-20T09:00:00+00:00', NULL, NULL, NULL),
        (5, 6, 's', 'SOLVED', 'LOW', 'WEB', '2026-02-25T09:00:00+00:00', '2026-02-25T09:00:00+00:00', '2026-02-25T09:05:00+00:00', 1, '2026-03-03T00:00:00+00:00'),
        (6, 1, 's', 'SOLVED', 'NORMAL', 'EMAIL', '2026-03-25T00:00:00+00:00', '2026-03-25T00:00:00+00:00', '2026-03-25T00:45:00+00:00', 4, '2026-03-26T00:00:00+00:00')",
    "INSERT INTO loyalty_transactions (id, customer_id, kind, points, state, created_at) VALUES
        (1, 1, 'EARN', 100, 'AVAILABLE', '2026-03-02T00:00:00+00:00'),
        (2, 1, 'REDEEM', -40, 'AVAILABLE', '2026-03-10T00:00:00+00:00'),
        (3, 3, 'EARN', 70, 'PENDING', '2026-03-10T00:00:00+00:00'),
        (4, 3, 'EARN', 50, 'CANCELLED', '2026-03-11T00:00:00+00:00'),
        (5, 6, 'ADJUST', 25, 'AVAILABLE', '2026-03-20T00:00:00+00:00'),
        (6, 6, 'ADJUST', -10, 'AVAILABLE', '2026-03-21T00:00:00+00:00'),
        (7, 1, 'EARN', 500, 'AVAILABLE', '2026-02-10T00:00:00+00:00'),
        (8, 2, 'REDEEM', -30, 'AVAILABLE', '2026-04-01T00:00:00+00:00'),
        (9, 6, 'REDEEM', -20, 'CANCELLED', '2026-03-22T00:00:00+00:00')",
];

const QUERY: &str = "query($from: DateTime!, $to: DateTime!, $tz: String, $segment: String) {
    insights(from: $from, to: $to, timezone: $tz, segment: $segment) {
        customers newCustomers activeCustomers orders
        revenue { amount currencyCode } averageOrderValue { amount }
        repeatPurchaseRate buyersAtStart retainedBuyers retentionRate churnRate
        nps npsAnswers csat csatRatings medianFirstReplyMinutes pointsIssued pointsRedeemed
    } }";

async fn load(app: &TestApp) {
    for sql in DATA {
        app.db.execute_unprepared(sql).await.expect("insert");
    }
    c360::service::metrics::refresh_all(&app.db, "USD", app.clock.now())
        .await
        .expect("metrics");
}

fn close(v: &Value, expected: f64) {
    let got = v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"));
    assert!((got - expected).abs() < 1e-9, "{got} != {expected}");
}

both_stores! {
    async fn period_metrics_match_hand_computed_values(app: TestApp) {
        load(&app).await;
        let data = app
            .query(QUERY, json!({ "from": FROM, "to": TO }))
            .await;
        let i = &data["insights"];
        // Added before April: 1, 2, 3, 4, 6; in March: 3, 4.
        assert_eq!(i["customers"], 5);
        assert_eq!(i["newCustomers"], 2);
        // March orders counted: 2, 3 (ann), 5 (cat), 9 (fay, a second before `to`);
        // not 6 (cancelled), 7 (EUR), 10 (at `to`).
        assert_eq!(i["activeCustomers"], 3);
        assert_eq!(i["orders"], 4);
        // 40.00 + 30.00 + 70.00 + 60.00.
        assert_eq!(i["revenue"], json!({ "amount": "200.00", "currencyCode": "USD" }));
        assert_eq!(i["averageOrderValue"]["amount"], "50.00");
        // Only ann ordered twice, of three active.
        close(&i["repeatPurchaseRate"], 1.0 / 3.0);
        // Buyers before March: ann, ben, fay; ann and fay ordered again.
        assert_eq!(i["buyersAtStart"], 3);
        assert_eq!(i["retainedBuyers"], 2);
        close(&i["retentionRate"], 2.0 / 3.0);
        close(&i["churnRate"], 1.0 / 3.0);
        // March answers: 10, 9, 6, 8 → (2 − 1) ÷ 4.
        close(&i["nps"], 25.0);
        assert_eq!(i["npsAnswers"], 4);
        // Rated in March: 5, 3, 1 (ticket of February), 4 → 2 of 4.
        close(&i["csat"], 50.0);
        assert_eq!(i["csatRatings"], 4);
        // Created in March with a reply: 30, 10 (10:59 rounds down), 120, 45 → (30 + 45) ÷ 2.
        close(&i["medianFirstReplyMinutes"], 37.5);
        // Issued: 100 + 70 (pending) + 25; redeemed: 40.
        assert_eq!(i["pointsIssued"], 195);
        assert_eq!(i["pointsRedeemed"], 40);

        // The segment restricts every figure to ann, ben, dan and fay.
        let data = app
            .query(QUERY, json!({ "from": FROM, "to": TO, "segment": "country = 'US'", "tz": "Europe/Paris" }))
            .await;
        let i = &data["insights"];
        assert_eq!(i["customers"], 4);
        assert_eq!(i["newCustomers"], 1);
        assert_eq!(i["activeCustomers"], 2);
        assert_eq!(i["orders"], 3);
        assert_eq!(i["revenue"]["amount"], "130.00");
        // 130.00 ÷ 3 = 43.333…
        assert_eq!(i["averageOrderValue"]["amount"], "43.33");
        close(&i["repeatPurchaseRate"], 0.5);
        assert_eq!(i["buyersAtStart"], 3);
        close(&i["retentionRate"], 2.0 / 3.0);
        // 10, 9, 8: two promoters of three.
        close(&i["nps"], 200.0 / 3.0);
        close(&i["csat"], 50.0);
        // 30, 10, 45.
        close(&i["medianFirstReplyMinutes"], 30.0);
        assert_eq!(i["pointsIssued"], 125);
        assert_eq!(i["pointsRedeemed"], 40);

        // A period without activity: counts are zero and rates null.
        let data = app
            .query(QUERY, json!({ "from": "2020-01-01T00:00:00Z", "to": "2020-02-01T00:00:00Z" }))
            .await;
        let i = &data["insights"];
        assert_eq!(i["customers"], 0);
        assert_eq!(i["revenue"]["amount"], "0.00");
        for field in ["averageOrderValue", "repeatPurchaseRate", "retentionRate", "churnRate", "nps", "csat", "medianFirstReplyMinutes"] {
            assert_eq!(i[field], Value::Null, "{field}");
        }
    }
}

both_stores! {
    async fn period_metrics_refuse_bad_input_by_field(app: TestApp) {
        let staff = app.staff();
        let cases = [
            (json!({ "from": TO, "to": FROM }), Some("to")),
            (json!({ "from": FROM, "to": FROM }), Some("to")),
            (json!({ "from": FROM, "to": TO, "tz": "Mars/Olympus" }), Some("timezone")),
            (json!({ "from": FROM, "to": TO, "segment": "loyalty_teir = 'GOLD'" }), Some("segment")),
            (json!({ "from": FROM, "to": TO, "segment": "country >" }), Some("segment")),
            // Not a date: refused by the scalar before the resolver runs.
            (json!({ "from": "2026-13-01T00:00:00Z", "to": TO }), None),
        ];
        for (vars, field) in cases {
            let (status, body) = app.post(QUERY, vars.clone(), Some(&staff)).await;
            assert!(status == 200 || status == 400, "{vars}: {status} {body}");
            let ext = &body["errors"][0]["extensions"];
            assert_eq!(ext["code"], "BAD_USER_INPUT", "{vars}: {body}");
            if let Some(field) = field {
                assert_eq!(ext["field"], field, "{vars}: {body}");
            }
            assert!(body["data"].is_null() || body["data"]["insights"].is_null(), "{body}");
        }

        // Partners need `segments:read`.
        let partner = app.token(c360::auth::Role::Partner, "p", &[]);
        let (_, body) = app.post(QUERY, json!({ "from": FROM, "to": TO }), Some(&partner)).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
        let reader = app.token(c360::auth::Role::Partner, "p", &["segments:read"]);
        let (status, body) = app.post(QUERY, json!({ "from": FROM, "to": TO }), Some(&reader)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["insights"]["customers"], 0, "{body}");
    }
}

both_stores! {
    async fn period_metrics_run_a_fixed_number_of_statements(app: TestApp) {
        let vars = json!({ "from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z", "segment": "number_of_orders >= 1" });
        let before = app.sql_statements().await;
        app.query(QUERY, vars.clone()).await;
        let empty = app.sql_statements().await - before;
        app.seed(40).await;
        let before = app.sql_statements().await;
        let data = app.query(QUERY, vars).await;
        let seeded = app.sql_statements().await - before;
        assert!(data["insights"]["activeCustomers"].as_i64().expect("count") > 0);
        assert_eq!(empty, seeded, "statements grow with the data");
    }
}
