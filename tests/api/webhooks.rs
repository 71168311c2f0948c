//! Webhooks end to end: a local receiver records what the gateway's own
//! background jobs post. Signatures are checked with `standardwebhooks`,
//! the Standard Webhooks reference library (an HMAC implementation other
//! than ours), and retries, 410, `Retry-After`, access and ordering are
//! read back from the receiver and the API.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use c360::auth::Role;
use c360::config::DEV_JWT_SECRET;
use chrono::{DateTime, SubsecRound, TimeDelta};
use serde_json::{Value, json};
use standardwebhooks::Webhook;

use crate::each_store;
use crate::helpers::{TestApp, codes, gid};
use crate::webhook_support::{
    CREATE, ENDPOINTS, Receiver, Script, customers, deliveries, deliveries_once, gateway, ingest,
    register, verifies,
};
use crate::writes_orders::{INGEST, field, order_of, partner};

const ROTATE: &str = r#"
mutation($id: ID!) { webhookEndpointRotateSecret(id: $id) {
  secret endpoint { previousSecretExpiresAt } } }"#;

each_store! {
    async fn an_order_arrives_signed_and_a_rotated_secret_verifies_with_either_key(store: StoreKind) {
        let app = gateway(store, |_| {}).await;
        app.seed(2).await;
        let customer = customers(&app).await[0];
        let (receiver, url) = Receiver::start(Script::new()).await;
        let types = json!(["order.placed", "loyalty.points_earned"]);
        let (endpoint, secret) = register(&app, &app.staff(), &url, types).await;
        assert!(secret.starts_with("whsec_"), "{secret}");

        ingest(&app, customer, "wh-1").await;
        let got = receiver.wait_for(2, Duration::from_secs(10)).await;
        let kinds: Vec<String> = got.iter().map(|r| r.json()["type"].as_str().unwrap_or("").to_owned()).collect();
        assert_eq!(kinds, ["order.placed", "loyalty.points_earned"]);
        for r in &got {
            assert!(verifies(&secret, r), "{:?}", r.headers);
            let body = r.json();
            assert_eq!(body["data"]["id"], r.header("webhook-id"));
            assert!(r.header("webhook-id").starts_with("evt_"));
            assert_eq!(body["data"]["customerId"], gid("Customer", customer));
            assert!(DateTime::parse_from_rfc3339(body["timestamp"].as_str().expect("timestamp")).is_ok());
            assert_eq!(r.header("webhook-signature").split(' ').count(), 1);
            assert_eq!(r.headers["content-type"], "application/json");
        }
        assert_eq!(got[1].json()["data"]["points"], json!(25), "{}", got[1].json());
        let other = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        assert!(!verifies(other, &got[0]));

        // Rotation: both secrets sign for 24 hours.
        let data = app.query(ROTATE, json!({ "id": endpoint })).await;
        let rotated = data["webhookEndpointRotateSecret"]["secret"].as_str().expect("secret").to_owned();
        assert_ne!(rotated, secret);
        let until = data["webhookEndpointRotateSecret"]["endpoint"]["previousSecretExpiresAt"].as_str().expect("until");
        let until = DateTime::parse_from_rfc3339(until).expect("time").to_utc();
        let overlap = until - app.clock.now();
        assert!(overlap > TimeDelta::hours(23) && overlap <= TimeDelta::hours(24), "{overlap}");
        ingest(&app, customer, "wh-2").await;
        let got = receiver.wait_for(4, Duration::from_secs(10)).await;
        for r in &got[2..] {
            assert_eq!(r.header("webhook-signature").split(' ').count(), 2);
            assert!(verifies(&rotated, r));
            assert!(verifies(&secret, r));
        }
        // Once the overlap is over only the new secret signs.
        app.clock.advance(TimeDelta::hours(25));
        ingest(&app, customer, "wh-3").await;
        let got = receiver.wait_for(6, Duration::from_secs(10)).await;
        for r in &got[4..] {
            assert_eq!(r.header("webhook-signature").split(' ').count(), 1);
            let id = r.header("webhook-id");
            let ts: i64 = r.header("webhook-timestamp").parse().expect("unix seconds");
            let expected = Webhook::new(&rotated).expect("secret").sign(&id, ts, &r.body).expect("sign");
            assert_eq!(r.header("webhook-signature"), expected);
            assert!(!verifies(&secret, r));
        }
        let log = deliveries_once(&app, &endpoint, |log| log.iter().all(|d| d["status"] != "PENDING")).await;
        assert_eq!(log.len(), 6);
        assert!(log.iter().all(|d| d["status"] == "DELIVERED" && d["attempts"] == 1 && d["lastHttpStatus"] == 200), "{log:?}");
        assert_eq!(log[0]["responseExcerpt"], "thanks");
    }
}

each_store! {
    async fn a_failing_receiver_is_retried_with_one_webhook_id_and_410_disables(store: StoreKind) {
        let app = gateway(store, |_| {}).await;
        app.seed(2).await;
        let customer = customers(&app).await[0];
        let script: Script = [(500, vec![]), (500, vec![])].into();
        let (receiver, url) = Receiver::start(script).await;
        let (endpoint, secret) = register(&app, &app.staff(), &url, json!(["order.placed"])).await;
        ingest(&app, customer, "retry-1").await;
        let got = receiver.wait_for(3, Duration::from_secs(15)).await;
        assert_eq!(got.len(), 3);
        let id = got[0].header("webhook-id");
        assert!(got.iter().all(|r| r.header("webhook-id") == id && verifies(&secret, r)));
        let log = deliveries_once(&app, &endpoint, |log| log[0]["status"] == "DELIVERED").await;
        assert_eq!(log[0]["attempts"], 3);
        assert_eq!(log[0]["eventId"], id);
        let data = app.query(ENDPOINTS, json!({})).await;
        let health = &data["webhookEndpoints"]["edges"][0]["node"];
        assert_eq!(health["lastDeliveryStatus"], "DELIVERED");
        assert_eq!(health["failingSince"], Value::Null);

        // 410 Gone: the endpoint is disabled and the delivery failed.
        receiver.script.lock().expect("lock").push_back((410, vec![]));
        ingest(&app, customer, "gone-1").await;
        receiver.wait_for(4, Duration::from_secs(10)).await;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let data = app.query(ENDPOINTS, json!({})).await;
            let node = data["webhookEndpoints"]["edges"][0]["node"].clone();
            if node["enabled"] == false {
                assert_eq!(node["disabledReason"], "the endpoint answered 410 Gone");
                assert_eq!(node["lastDeliveryStatus"], "FAILED");
                break;
            }
            assert!(Instant::now() < deadline, "{node}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Disabled: later events wait as deliveries, nothing is posted.
        ingest(&app, customer, "gone-2").await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(receiver.got().len(), 4);
    }
}

each_store! {
    async fn retry_after_is_honoured_by_the_clock(store: StoreKind) {
        let app = gateway(store, |_| {}).await;
        app.seed(2).await;
        let customer = customers(&app).await[0];
        let at = app.clock.now().trunc_subsecs(0) + TimeDelta::seconds(1);
        app.clock.set(at);
        let script: Script = [(429, vec![("retry-after", "2")])].into();
        let (receiver, url) = Receiver::start(script).await;
        let (endpoint, _) = register(&app, &app.staff(), &url, json!(["order.placed"])).await;
        ingest(&app, customer, "slow-1").await;
        receiver.wait_for(1, Duration::from_secs(10)).await;
        let log = deliveries_once(&app, &endpoint, |log| log[0]["attempts"] == 1).await;
        assert_eq!(log[0]["status"], "PENDING");
        assert_eq!(log[0]["lastHttpStatus"], 429);
        let next = DateTime::parse_from_rfc3339(log[0]["nextAttemptAt"].as_str().expect("due")).expect("time").to_utc();
        assert_eq!(next, at + TimeDelta::seconds(2));
        // The clock stands still: nothing is due, however long we wait.
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(receiver.got().len(), 1);
        app.clock.advance(TimeDelta::seconds(2));
        let got = receiver.wait_for(2, Duration::from_secs(10)).await;
        assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"));
    }
}

each_store! {
    async fn refused_input_and_foreign_endpoints_say_why_and_deliver_nothing(store: StoreKind) {
        let app = gateway(store, |_| {}).await;
        app.seed(2).await;
        let customer = customers(&app).await[0];
        let (receiver, url) = Receiver::start(Script::new()).await;
        let staff = app.staff();
        let bad = |input: Value| {
            let app = &app;
            let staff = staff.clone();
            async move { app.post(CREATE, json!({ "input": input }), Some(&staff)).await.1 }
        };
        let body = bad(json!({ "url": "not a url" })).await;
        assert_eq!((codes(&body)[0].as_str(), field(&body)), ("BAD_USER_INPUT", "url"), "{body}");
        let body = bad(json!({ "url": url, "eventTypes": ["order.placed", "order.shipped"] })).await;
        assert_eq!((codes(&body)[0].as_str(), field(&body)), ("BAD_USER_INPUT", "eventTypes[1]"), "{body}");
        let message = body["errors"][0]["message"].as_str().expect("message");
        assert!(message.contains("order.paid") && message.contains("loyalty.tier_changed"), "{message}");
        let body = bad(json!({ "url": "http://10.0.0.8/hooks" })).await;
        assert_eq!((codes(&body)[0].as_str(), field(&body)), ("BAD_USER_INPUT", "url"), "{body}");
        let (endpoint, _) = register(&app, &staff, &url, json!([])).await;
        let body = bad(json!({ "url": url })).await;
        assert_eq!(codes(&body), ["CONFLICT"], "{body}");

        // Partners: `webhooks:write` to manage, their own endpoints only.
        let reader = app.token(Role::Partner, "esp-1", &["orders:read"]);
        let (_, body) = app.post(ENDPOINTS, json!({}), Some(&reader)).await;
        assert_eq!(codes(&body), ["FORBIDDEN"], "{body}");
        let esp = app.token(Role::Partner, "esp-1", &["webhooks:write", "orders:read"]);
        let (_, body) = app.post(ROTATE, json!({ "id": endpoint }), Some(&esp)).await;
        assert_eq!(codes(&body), ["NOT_FOUND"], "{body}");
        let (_, body) = app.post(ENDPOINTS, json!({}), Some(&esp)).await;
        assert_eq!(body["data"]["webhookEndpoints"]["edges"], json!([]), "{body}");
        let (_, body) = app.post(ROTATE, json!({ "id": "gid://c360/WebhookEndpoint/999" }), Some(&staff)).await;
        assert_eq!(codes(&body), ["NOT_FOUND"], "{body}");
        let (_, body) = app.post(CREATE, json!({ "input": { "url": url, "eventTypes": ["loyalty.points_earned"] } }), Some(&esp)).await;
        assert_eq!((codes(&body)[0].as_str(), field(&body)), ("BAD_USER_INPUT", "eventTypes[0]"), "{body}");

        // A refused write emits nothing, so nothing is delivered.
        let (_, body) = app
            .post(INGEST, json!({ "input": order_of(customer, "neg", "PAID", -5) }), Some(&partner(&app)))
            .await;
        assert!(body.get("errors").is_some(), "{body}");
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert!(receiver.got().is_empty());
        assert!(deliveries(&app, &endpoint).await.is_empty());
    }
}

each_store! {
    async fn a_partner_without_orders_read_gets_no_order_events(store: StoreKind) {
        let app = gateway(store, |_| {}).await;
        app.seed(2).await;
        let customer = customers(&app).await[0];
        let (receiver, url) = Receiver::start(Script::new()).await;
        let loyalty = app.token(Role::Partner, "loyalty-vendor", &["webhooks:write", "loyalty:read"]);
        register(&app, &loyalty, &url, json!([])).await;
        ingest(&app, customer, "scoped-1").await;
        let got = receiver.wait_for(1, Duration::from_secs(10)).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let kinds: Vec<Value> = receiver.got().iter().map(|r| r.json()["type"].clone()).collect();
        assert_eq!(kinds, [json!("loyalty.points_earned")], "{got:?}");
    }
}

each_store! {
    async fn a_burst_arrives_in_order_per_customer(store: StoreKind) {
        let app = gateway(store, |_| {}).await;
        app.seed(4).await;
        let ids = customers(&app).await;
        let (receiver, url) = Receiver::start(Script::new()).await;
        register(&app, &app.staff(), &url, json!(["order.placed"])).await;
        let started = Instant::now();
        for i in 0..200 {
            ingest(&app, ids[i % ids.len()], &format!("burst-{i}")).await;
        }
        let got = receiver.wait_for(200, Duration::from_secs(60)).await;
        let elapsed = started.elapsed();
        eprintln!("{store:?}: 200 ingests delivered in {elapsed:?}");
        let mut per_customer: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in &got {
            let body = r.json();
            let customer = body["data"]["customerId"].as_str().expect("customer").to_owned();
            per_customer.entry(customer).or_default().push(body["data"]["order"]["id"].to_string());
        }
        assert_eq!(per_customer.len(), ids.len());
        for (customer, orders) in &per_customer {
            let numbers: Vec<i64> = orders
                .iter()
                .map(|o| o.trim_matches('"').rsplit('/').next().expect("n").parse().expect("int"))
                .collect();
            let mut sorted = numbers.clone();
            sorted.sort();
            assert_eq!(numbers, sorted, "{customer}");
            assert_eq!(numbers.len(), 50);
        }
        let text = app.client.get(app.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
        assert_eq!(crate::helpers::metric(&text, "c360_webhook_deliveries_total{outcome=\"delivered\"}"), Some(200.0), "{text}");
    }
}

each_store! {
    async fn production_refuses_http_and_internal_addresses(store: StoreKind) {
        let app = TestApp::spawn(store, |c| {
            c.dev = false;
            c.jwt_secret = Some(DEV_JWT_SECRET.into());
        })
        .await;
        for url in [
            "http://hooks.example.com/",
            "https://127.0.0.1/hooks",
            "https://169.254.169.254/latest/meta-data",
            "https://10.1.2.3/",
            "https://[fd00::1]/",
        ] {
            let (_, body) = app.post(CREATE, json!({ "input": { "url": url } }), Some(&app.staff())).await;
            assert_eq!((codes(&body)[0].as_str(), field(&body)), ("BAD_USER_INPUT", "url"), "{url}: {body}");
        }
    }
}
