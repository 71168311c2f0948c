//! Post-purchase follow-ups through the API: an order falls due once its
//! delay after fulfilment passes (by the clock, never by sleeping), once
//! however many passes run, with the channels its customer consents to;
//! CX staff list the due ones oldest first and record outcomes once; the
//! period figures in `insights` are counted by hand.

use std::time::Duration;

use c360::auth::Role;
use c360::config::{FollowUpChannel, FollowUpDelay};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

use crate::helpers::{TestApp, codes, gid};
use crate::writes_orders::{INGEST, order_of, partner};
use crate::{both_stores, each_store};

const CREATE: &str = r#"
mutation($input: CustomerCreateInput!) { customerCreate(input: $input) { id } }"#;

const CONSENT: &str = r#"
mutation($id: ID!, $channel: ContactChannel!, $state: EmailMarketingState!) {
  customerSetConsent(id: $id, channel: $channel, state: $state) {
    emailMarketingState smsConsentState smsConsentUpdatedAt phoneConsentState phoneConsentUpdatedAt
  }
}"#;

const STATUS: &str = r#"
mutation($id: ID!, $status: OrderStatus!) { orderUpdateStatus(id: $id, status: $status) { status } }"#;

const REFUND: &str = r#"
mutation($id: ID!, $amount: Int!) { orderRefund(id: $id, amount: $amount) { status } }"#;

const ERASE: &str = r#"mutation($id: ID!) { customerErase(id: $id) { __typename } }"#;

const DUE: &str = r#"
query($first: Int, $after: String) {
  followUpsDue(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { orderId orderNumber fulfilledAt dueAt channels state customer { id email } } }
  }
}"#;

const RECORD: &str = r#"
mutation($order: ID!, $outcome: FollowUpOutcome!, $score: Int, $comment: String) {
  followUpRecord(orderId: $order, outcome: $outcome, score: $score, comment: $comment) {
    orderId state outcome score comment recordedBy recordedAt
  }
}"#;

const EVENTS: &str = r#"
query($types: [String!]) { events(first: 100, types: $types) { edges { node { occurredAt data } } } }"#;

const INSIGHTS: &str = r#"
query($from: DateTime!, $to: DateTime!) {
  insights(from: $from, to: $to) {
    followUps { due recorded answered responseRate csat averageScore }
  }
}"#;

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .expect("a time")
        .to_utc()
}

fn num(id: &Value) -> i64 {
    id.as_str()
        .and_then(|s| s.rsplit('/').next())
        .and_then(|n| n.parse().ok())
        .expect("a global id")
}

/// A customer with `profile` and email marketing consent `email_state`
/// (NOT_SUBSCRIBED: never asked, so none is given).
async fn customer(app: &TestApp, profile: Value, email_state: &str) -> i64 {
    let input = match email_state {
        "NOT_SUBSCRIBED" => json!({ "profile": profile }),
        _ => json!({ "profile": profile, "emailMarketingState": email_state }),
    };
    num(&app.query(CREATE, json!({ "input": input })).await["customerCreate"]["id"])
}

async fn consent(app: &TestApp, id: i64, channel: &str, state: &str) -> Value {
    let vars = json!({ "id": gid("Customer", id), "channel": channel, "state": state });
    app.query(CONSENT, vars).await["customerSetConsent"].clone()
}

/// A PAID order of 50.00 USD; its id and number.
async fn paid(app: &TestApp, customer: i64, external_ref: &str) -> (i64, String) {
    let input = order_of(customer, external_ref, "PAID", 5_000);
    let (_, body) = app
        .post(INGEST, json!({ "input": input }), Some(&partner(app)))
        .await;
    let order = &body["data"]["orderIngest"];
    assert!(order.is_object(), "{body}");
    (
        num(&order["id"]),
        order["orderNumber"].as_str().expect("number").to_owned(),
    )
}

async fn fulfil(app: &TestApp, order: i64) {
    let data = app
        .query(
            STATUS,
            json!({ "id": gid("Order", order), "status": "FULFILLED" }),
        )
        .await;
    assert_eq!(data["orderUpdateStatus"]["status"], "FULFILLED");
}

async fn events(app: &TestApp, event_type: &str) -> Vec<Value> {
    let data = app.query(EVENTS, json!({ "types": [event_type] })).await;
    data["events"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

async fn record(
    app: &TestApp,
    token: &str,
    order: i64,
    outcome: &str,
    score: Option<i32>,
    comment: Option<&str>,
) -> Value {
    let vars = json!({ "order": gid("Order", order), "outcome": outcome, "score": score, "comment": comment });
    app.post(RECORD, vars, Some(token)).await.1
}

/// Rows a refused recording must leave as they were.
async fn written(app: &TestApp) -> Vec<i64> {
    let mut out = Vec::new();
    for sql in [
        "SELECT COUNT(*) FROM follow_ups WHERE state = 'DONE'",
        "SELECT COUNT(*) FROM audit_events WHERE action = 'follow_up.record'",
        "SELECT COUNT(*) FROM events WHERE event_type = 'order.follow_up_recorded'",
    ] {
        out.push(app.scalar(sql).await);
    }
    out
}

fn cx(app: &TestApp) -> String {
    app.token(
        Role::Partner,
        "helpdesk",
        &["tickets:read", "tickets:write"],
    )
}

each_store! {
    async fn a_follow_up_falls_due_once_with_the_channels_the_customer_consents_to(store: StoreKind) {
        let app = TestApp::spawn(store, |c| {
            c.follow_up_after = FollowUpDelay(Some(Duration::from_secs(3 * 86_400)));
            c.follow_up_channels = vec![FollowUpChannel::Sms, FollowUpChannel::Phone, FollowUpChannel::Email];
        })
        .await;
        let t0 = at("2026-06-01T09:00:00Z");
        app.clock.set(t0);
        let phone = json!("+1 415 555 0100");
        // No consent at all: skipped.
        let none = customer(&app, json!({ "email": "none@example.com", "phone": phone }), "NOT_SUBSCRIBED").await;
        // Email marketing only (a phone number, but no SMS or call consent).
        let email = customer(&app, json!({ "email": "email@example.com", "phone": phone }), "SUBSCRIBED").await;
        // SMS and calls with a phone number; email unsubscribed.
        let sms = customer(&app, json!({ "email": "sms@example.com", "phone": phone }), "UNSUBSCRIBED").await;
        let set = consent(&app, sms, "SMS", "SUBSCRIBED").await;
        assert_eq!((set["smsConsentState"].as_str(), set["smsConsentUpdatedAt"].as_str()), (Some("SUBSCRIBED"), Some(t0.to_rfc3339().as_str())));
        let set = consent(&app, sms, "PHONE", "SUBSCRIBED").await;
        assert_eq!(set["phoneConsentState"], "SUBSCRIBED");
        // SMS consent without a phone number reaches nobody by SMS.
        let no_phone = customer(&app, json!({ "email": "nophone@example.com" }), "SUBSCRIBED").await;
        consent(&app, no_phone, "SMS", "SUBSCRIBED").await;
        // Subscribed, then erased before the follow-up falls due.
        let erased = customer(&app, json!({ "email": "erased@example.com", "phone": phone }), "SUBSCRIBED").await;

        let mut orders = Vec::new();
        for (c, r) in [(none, "n"), (email, "e"), (sms, "s"), (no_phone, "p"), (erased, "x")] {
            orders.push(paid(&app, c, r).await);
        }
        // Never fulfilled, and fulfilled then refunded: neither is followed up.
        paid(&app, email, "e-paid").await;
        let (refunded, _) = paid(&app, sms, "s-refunded").await;
        let fulfilled_at = t0 + TimeDelta::hours(1);
        app.clock.set(fulfilled_at);
        for (id, _) in &orders {
            fulfil(&app, *id).await;
        }
        fulfil(&app, refunded).await;
        app.query(REFUND, json!({ "id": gid("Order", refunded), "amount": 5_000 })).await;
        app.post(ERASE, json!({ "id": gid("Customer", erased) }), Some(&app.staff())).await;

        // Due three days after fulfilment, not a second before.
        let due_at = fulfilled_at + TimeDelta::days(3);
        app.clock.set(due_at - TimeDelta::seconds(1));
        let early = app.tick().await;
        assert_eq!((early.follow_ups_due, early.follow_ups_skipped), (0, 0));
        assert_eq!(app.scalar("SELECT COUNT(*) FROM follow_ups").await, 0);

        // Overlapping passes make each follow-up once.
        app.clock.set(due_at);
        let passes = tokio::join!(app.tick(), app.tick(), app.tick());
        let each = [passes.0, passes.1, passes.2];
        assert_eq!(each.iter().map(|t| t.follow_ups_due).sum::<u64>(), 3, "{each:?}");
        assert_eq!(each.iter().map(|t| t.follow_ups_skipped).sum::<u64>(), 2, "{each:?}");
        app.clock.advance(TimeDelta::days(1));
        let later = app.tick().await;
        assert_eq!((later.follow_ups_due, later.follow_ups_skipped), (0, 0), "looked at again");
        assert_eq!(app.scalar("SELECT COUNT(*) FROM follow_ups WHERE state = 'SKIPPED'").await, 2);
        assert_eq!(
            app.ids("SELECT order_id FROM follow_ups WHERE state = 'SKIPPED' ORDER BY order_id").await,
            [orders[0].0, orders[4].0]
        );

        let told = events(&app, "order.follow_up_due").await;
        assert_eq!(told.len(), 3, "{told:?}");
        let channels: Vec<(i64, Value)> = told
            .iter()
            .map(|e| (num(&e["data"]["customerId"]), e["data"]["channels"].clone()))
            .collect();
        assert_eq!(
            channels,
            [
                (email, json!(["EMAIL"])),
                (sms, json!(["SMS", "PHONE"])),
                (no_phone, json!(["EMAIL"])),
            ]
        );
        let (sms_order, sms_number) = &orders[2];
        assert_eq!(told[1]["occurredAt"], due_at.to_rfc3339());
        assert_eq!(
            told[1]["data"],
            json!({
                "customerId": gid("Customer", sms),
                "order": {
                    "id": gid("Order", *sms_order),
                    "orderNumber": sms_number,
                    "fulfilledAt": fulfilled_at.to_rfc3339(),
                },
                "dueAt": due_at.to_rfc3339(),
                "channels": ["SMS", "PHONE"],
            })
        );
    }
}

both_stores! {
    async fn staff_list_due_follow_ups_oldest_first_in_pages_of_fixed_statements(app: TestApp) {
        // The default rule: seven days after fulfilment, by email.
        let t0 = at("2026-03-02T08:00:00Z");
        app.clock.set(t0);
        let mut expected = Vec::new();
        for i in 0..30 {
            let c = customer(&app, json!({ "email": format!("jane{i}@example.com") }), "SUBSCRIBED").await;
            let (order, number) = paid(&app, c, &format!("list-{i}")).await;
            expected.push((order, number));
        }
        // Fulfilled in reverse: the last order is the oldest due.
        for (i, (order, _)) in expected.iter().rev().enumerate() {
            app.clock.set(t0 + TimeDelta::minutes(10 + i as i64));
            fulfil(&app, *order).await;
        }
        expected.reverse();
        app.clock.set(t0 + TimeDelta::days(8));
        assert_eq!(app.tick().await.follow_ups_due, 30);

        let mut seen = Vec::new();
        let mut after = Value::Null;
        loop {
            let data = app.query(DUE, json!({ "first": 7, "after": after })).await;
            let page = &data["followUpsDue"];
            for edge in page["edges"].as_array().expect("edges") {
                let node = &edge["node"];
                assert_eq!(node["state"], "DUE");
                assert_eq!(node["channels"], json!(["EMAIL"]));
                seen.push((num(&node["orderId"]), node["orderNumber"].as_str().expect("number").to_owned()));
            }
            if page["pageInfo"]["hasNextPage"] != true {
                break;
            }
            after = page["pageInfo"]["endCursor"].clone();
        }
        assert_eq!(seen, expected);
        let data = app.query(DUE, json!({ "first": 1 })).await;
        let first = &data["followUpsDue"]["edges"][0]["node"];
        assert_eq!(first["fulfilledAt"], (t0 + TimeDelta::minutes(10)).to_rfc3339());
        assert_eq!(first["dueAt"], (t0 + TimeDelta::minutes(10) + TimeDelta::days(7)).to_rfc3339());
        assert_eq!(first["customer"]["email"], "jane29@example.com");

        // One page of 1 and one of 30, each with its customers: the same statements.
        let mut counts = Vec::new();
        for first in [1, 30] {
            let before = app.sql_statements().await;
            let data = app.query(DUE, json!({ "first": first })).await;
            counts.push(app.sql_statements().await - before);
            assert_eq!(data["followUpsDue"]["edges"].as_array().map(Vec::len), Some(first));
        }
        assert_eq!(counts[0], counts[1], "statements grow with the page");

        let (_, body) = app.post(DUE, json!({ "first": 101 }), Some(&app.staff())).await;
        assert_eq!(codes(&body), ["BAD_USER_INPUT"], "{body}");
        let (_, body) = app.post(DUE, json!({ "after": "nonsense" }), Some(&app.staff())).await;
        assert_eq!(codes(&body), ["BAD_USER_INPUT"], "{body}");
    }
}

both_stores! {
    async fn outcomes_are_recorded_once_and_follow_ups_not_due_are_refused(app: TestApp) {
        let t0 = at("2026-04-01T12:00:00Z");
        app.clock.set(t0);
        let staff = app.staff();
        let happy = customer(&app, json!({ "email": "happy@example.com" }), "SUBSCRIBED").await;
        let silent = customer(&app, json!({ "email": "silent@example.com" }), "NOT_SUBSCRIBED").await;
        let (due, _) = paid(&app, happy, "due").await;
        let (skipped, _) = paid(&app, silent, "skipped").await;
        let (unpaid, _) = paid(&app, happy, "unpaid").await;
        let (late, _) = paid(&app, happy, "late").await;
        fulfil(&app, due).await;
        fulfil(&app, skipped).await;
        app.clock.set(t0 + TimeDelta::days(7));
        fulfil(&app, late).await;
        app.tick().await;
        let untouched = written(&app).await;

        // Orders without a due follow-up: CONFLICT saying why, or NOT_FOUND.
        for (order, code, says) in [
            (unpaid, "CONFLICT", "is PAID"),
            (late, "CONFLICT", "is not due"),
            (skipped, "CONFLICT", "skipped"),
            (999_999, "NOT_FOUND", "no order"),
        ] {
            let body = record(&app, &staff, order, "NO_ANSWER", None, None).await;
            assert_eq!(codes(&body), [code], "{body}");
            let message = body["errors"][0]["message"].as_str().unwrap_or_default();
            assert!(message.contains(says), "{message}");
        }
        // Bad input names its field.
        let long = "é".repeat(2_001);
        for (outcome, score, comment, field) in [
            ("SATISFIED", None, None, "score"),
            ("NOT_SATISFIED", Some(6), None, "score"),
            ("NO_ANSWER", Some(3), None, "score"),
            ("SATISFIED", Some(5), Some(long.as_str()), "comment"),
        ] {
            let body = record(&app, &staff, due, outcome, score, comment).await;
            assert_eq!(codes(&body), ["BAD_USER_INPUT"], "{body}");
            assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
        }
        assert_eq!(written(&app).await, untouched);

        let recorded_at = t0 + TimeDelta::days(8);
        app.clock.set(recorded_at);
        let comment = "é".repeat(2_000);
        let body = record(&app, &staff, due, "SATISFIED", Some(5), Some(&format!(" {comment} "))).await;
        let done = body["data"]["followUpRecord"].clone();
        assert_eq!(
            done,
            json!({
                "orderId": gid("Order", due), "state": "DONE", "outcome": "SATISFIED", "score": 5,
                "comment": comment, "recordedBy": "staff-test", "recordedAt": recorded_at.to_rfc3339(),
            }),
            "{body}"
        );
        // The same again, later: unchanged, nothing written.
        app.clock.advance(TimeDelta::hours(1));
        let after_first = written(&app).await;
        let again = record(&app, &staff, due, "SATISFIED", Some(5), Some(&comment)).await;
        assert_eq!(again["data"]["followUpRecord"], done, "{again}");
        assert_eq!(written(&app).await, after_first);
        assert_eq!(after_first, [untouched[0] + 1, untouched[1] + 1, untouched[2] + 1]);
        // Anything else for a recorded follow-up is CONFLICT.
        for (outcome, score) in [("NOT_SATISFIED", Some(2)), ("SATISFIED", Some(4))] {
            let body = record(&app, &staff, due, outcome, score, Some(&comment)).await;
            assert_eq!(codes(&body), ["CONFLICT"], "{body}");
        }
        assert_eq!(written(&app).await, after_first);

        // It left the due list; its event carries the outcome, never the comment.
        let data = app.query(DUE, json!({})).await;
        assert_eq!(data["followUpsDue"]["edges"], json!([]));
        let told = events(&app, "order.follow_up_recorded").await;
        assert_eq!(told.len(), 1);
        assert_eq!(told[0]["data"]["outcome"], "SATISFIED");
        assert_eq!(told[0]["data"]["score"], 5);
        assert!(!told[0]["data"].to_string().contains('é'));
    }
}

both_stores! {
    async fn follow_ups_are_for_staff_and_helpdesk_partners(app: TestApp) {
        let t0 = at("2026-05-05T10:00:00Z");
        app.clock.set(t0);
        let c = customer(&app, json!({ "email": "jane.doe@example.com" }), "SUBSCRIBED").await;
        let (first, _) = paid(&app, c, "a1").await;
        let (second, _) = paid(&app, c, "a2").await;
        fulfil(&app, first).await;
        fulfil(&app, second).await;
        app.clock.set(t0 + TimeDelta::days(7));
        assert_eq!(app.tick().await.follow_ups_due, 2);

        let own = app.token(Role::Customer, &c.to_string(), &[]);
        let orders_only = partner(&app);
        let reader = app.token(Role::Partner, "desk-read", &["tickets:read"]);
        for token in [&own, &orders_only] {
            let (_, body) = app.post(DUE, json!({}), Some(token)).await;
            assert_eq!(codes(&body), ["FORBIDDEN"], "{body}");
        }
        for token in [&own, &orders_only, &reader] {
            let body = record(&app, token, first, "NO_ANSWER", None, None).await;
            assert_eq!(codes(&body), ["FORBIDDEN"], "{body}");
        }
        let (_, body) = app.post(DUE, json!({}), None).await;
        assert_eq!(codes(&body), ["UNAUTHENTICATED"], "{body}");

        // A helpdesk partner sees the customer masked, the order only with orders:read.
        let (_, body) = app
            .post("{ followUpsDue { edges { node { orderNumber customer { email } order { id } } } } }", json!({}), Some(&reader))
            .await;
        let node = &body["data"]["followUpsDue"]["edges"][0]["node"];
        assert_eq!(node["customer"]["email"], "j***@example.com", "{body}");
        assert!(node["order"].is_null(), "{body}");
        assert_eq!(codes(&body), ["FORBIDDEN"; 2], "{body}");

        let body = record(&app, &cx(&app), first, "DECLINED", None, Some("called at lunch")).await;
        assert_eq!(body["data"]["followUpRecord"]["recordedBy"], "helpdesk", "{body}");
        let body = record(&app, &app.staff(), second, "NO_ANSWER", None, None).await;
        assert_eq!(body["data"]["followUpRecord"]["state"], "DONE", "{body}");
    }
}

both_stores! {
    async fn insights_count_follow_ups_due_and_recorded_in_the_period(app: TestApp) {
        let t0 = at("2026-07-01T00:00:00Z");
        app.clock.set(t0);
        let mut orders = Vec::new();
        for i in 0..5 {
            let c = customer(&app, json!({ "email": format!("csat{i}@example.com") }), "SUBSCRIBED").await;
            let (order, _) = paid(&app, c, &format!("csat-{i}")).await;
            fulfil(&app, order).await;
            orders.push(order);
        }
        // One more customer without consent: skipped, never counted.
        let quiet = customer(&app, json!({ "email": "quiet@example.com" }), "UNSUBSCRIBED").await;
        let (skipped, _) = paid(&app, quiet, "csat-quiet").await;
        fulfil(&app, skipped).await;
        let due_at = t0 + TimeDelta::days(7);
        app.clock.set(due_at);
        let ticked = app.tick().await;
        assert_eq!((ticked.follow_ups_due, ticked.follow_ups_skipped), (5, 1));

        app.clock.set(due_at + TimeDelta::hours(1));
        let staff = app.staff();
        for (order, outcome, score) in [
            (orders[0], "SATISFIED", Some(5)),
            (orders[1], "SATISFIED", Some(4)),
            (orders[2], "NOT_SATISFIED", Some(2)),
            (orders[3], "NO_ANSWER", None),
        ] {
            let body = record(&app, &staff, order, outcome, score, None).await;
            assert!(body.get("errors").is_none(), "{body}");
        }
        app.clock.set(due_at + TimeDelta::hours(3));
        record(&app, &staff, orders[4], "NOT_SATISFIED", Some(1), None).await;

        let figures = |from: DateTime<Utc>, to: DateTime<Utc>| {
            let app = &app;
            async move {
                let vars = json!({ "from": from.to_rfc3339(), "to": to.to_rfc3339() });
                app.query(INSIGHTS, vars).await["insights"]["followUps"].clone()
            }
        };
        // [due - 1h, due + 2h): five fell due (the skipped one is not
        // counted); four recorded, three answered (5, 4, 2): response rate
        // 3/4, CSAT 2/3 = 66.67 %, average (5 + 4 + 2) / 3 = 3.67.
        let first = figures(due_at - TimeDelta::hours(1), due_at + TimeDelta::hours(2)).await;
        assert_eq!(first["due"], 5);
        assert_eq!(first["recorded"], 4);
        assert_eq!(first["answered"], 3);
        assert_eq!(first["responseRate"], 0.75);
        assert!((first["csat"].as_f64().unwrap_or_default() - 200.0 / 3.0).abs() < 1e-9, "{first}");
        assert!((first["averageScore"].as_f64().unwrap_or_default() - 11.0 / 3.0).abs() < 1e-9, "{first}");
        // [due + 2h, due + 4h): none fell due; one recorded, answered 1.
        let second = figures(due_at + TimeDelta::hours(2), due_at + TimeDelta::hours(4)).await;
        assert_eq!(
            second,
            json!({ "due": 0, "recorded": 1, "answered": 1, "responseRate": 1.0, "csat": 0.0, "averageScore": 1.0 })
        );
        // Before anything: zeros and null rates.
        let empty = figures(t0 - TimeDelta::days(1), t0).await;
        assert_eq!(
            empty,
            json!({ "due": 0, "recorded": 0, "answered": 0, "responseRate": null, "csat": null, "averageScore": null })
        );
    }
}

both_stores! {
    async fn sms_and_phone_consent_are_recorded_like_email_consent(app: TestApp) {
        let t0 = at("2026-02-10T15:00:00Z");
        app.clock.set(t0);
        let c = customer(&app, json!({ "email": "ann@example.com", "phone": "+47 912 34 567" }), "PENDING").await;
        let own = app.token(Role::Customer, &c.to_string(), &[]);
        let vars = |channel: &str, state: &str| json!({ "id": gid("Customer", c), "channel": channel, "state": state });
        let (_, body) = app.post(CONSENT, vars("SMS", "SUBSCRIBED"), Some(&own)).await;
        assert_eq!(body["data"]["customerSetConsent"]["smsConsentState"], "SUBSCRIBED", "{body}");
        assert_eq!(body["data"]["customerSetConsent"]["phoneConsentState"], "NOT_SUBSCRIBED");
        // Again: nothing changes, nothing is told.
        app.clock.advance(TimeDelta::hours(1));
        let (_, body) = app.post(CONSENT, vars("SMS", "SUBSCRIBED"), Some(&own)).await;
        assert_eq!(body["data"]["customerSetConsent"]["smsConsentUpdatedAt"], t0.to_rfc3339());
        let (_, body) = app.post(CONSENT, vars("PHONE", "NOT_SUBSCRIBED"), Some(&own)).await;
        assert_eq!(codes(&body), ["BAD_USER_INPUT"], "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "state");
        let set = consent(&app, c, "PHONE", "UNSUBSCRIBED").await;
        assert_eq!(set["phoneConsentUpdatedAt"], (t0 + TimeDelta::hours(1)).to_rfc3339());
        // EMAIL is email marketing consent.
        assert_eq!(consent(&app, c, "EMAIL", "SUBSCRIBED").await["emailMarketingState"], "SUBSCRIBED");

        let told: Vec<Value> = events(&app, "customer.consent_changed")
            .await
            .into_iter()
            .map(|e| e["data"].clone())
            .collect();
        let cid = gid("Customer", c);
        assert_eq!(
            told,
            [
                json!({ "customerId": cid, "channel": "SMS", "from": "NOT_SUBSCRIBED", "to": "SUBSCRIBED" }),
                json!({ "customerId": cid, "channel": "PHONE", "from": "NOT_SUBSCRIBED", "to": "UNSUBSCRIBED" }),
                json!({ "customerId": cid, "channel": "EMAIL", "from": "PENDING", "to": "SUBSCRIBED" }),
            ]
        );
        assert_eq!(app.scalar(&format!("SELECT COUNT(*) FROM audit_events WHERE action = 'customer.consent' AND customer_id = {c}")).await, 3);

        // Erasure withdraws every consent.
        app.post(ERASE, json!({ "id": cid }), Some(&app.staff())).await;
        let state = app.text(&format!("SELECT sms_consent_state || ',' || phone_consent_state FROM customers WHERE id = {c}")).await;
        assert_eq!(state, "NOT_SUBSCRIBED,NOT_SUBSCRIBED");
    }
}

each_store! {
    async fn follow_ups_turned_off_fall_due_never(store: StoreKind) {
        let app = TestApp::spawn(store, |c| c.follow_up_after = FollowUpDelay(None)).await;
        let t0 = at("2026-08-03T09:00:00Z");
        app.clock.set(t0);
        let c = customer(&app, json!({ "email": "off@example.com" }), "SUBSCRIBED").await;
        let (order, _) = paid(&app, c, "off").await;
        fulfil(&app, order).await;
        app.clock.set(t0 + TimeDelta::days(30));
        let ticked = app.tick().await;
        assert_eq!((ticked.follow_ups_due, ticked.follow_ups_skipped), (0, 0));
        let body = record(&app, &app.staff(), order, "NO_ANSWER", None, None).await;
        assert_eq!(codes(&body), ["CONFLICT"], "{body}");
        assert_eq!(app.scalar("SELECT COUNT(*) FROM follow_ups").await, 0);
    }
}
