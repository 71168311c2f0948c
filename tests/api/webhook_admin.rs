//! Managing webhook endpoints through GraphQL, each operation checked by
//! what a receiver then gets: update (URL, types, description), disable and
//! enable, delete, retry of a failed delivery, replay from an instant, and
//! the health `webhookEndpoints` lists. Refused input says why with its
//! `extensions.code`; a partner manages only its own endpoints. (Rotation
//! and a partner without `orders:read` are in `webhooks.rs`.)

use std::collections::BTreeSet;
use std::time::Duration;

use c360::auth::Role;
use c360::config::DEV_JWT_SECRET;
use chrono::{DateTime, TimeDelta};
use serde_json::{Value, json};

use crate::each_store;
use crate::helpers::{TestApp, codes, gid};
use crate::webhook_support::{
    CREATE, ENDPOINTS, Receiver, Script, customers, deliveries_once, endpoint_once, gateway,
    ingest, register, verifies,
};
use crate::writes_orders::field;

const UPDATE: &str = r#"
mutation($id: ID!, $input: WebhookEndpointUpdateInput!) {
  webhookEndpointUpdate(id: $id, input: $input) { id url description eventTypes enabled } }"#;

const DISABLE: &str = r#"
mutation($id: ID!) { webhookEndpointDisable(id: $id) { id enabled disabledAt disabledReason } }"#;

const ENABLE: &str = r#"
mutation($id: ID!) { webhookEndpointEnable(id: $id) { id enabled disabledAt disabledReason } }"#;

const DELETE: &str = r#"mutation($id: ID!) { webhookEndpointDelete(id: $id) }"#;

const ROTATE: &str = r#"mutation($id: ID!) { webhookEndpointRotateSecret(id: $id) { secret } }"#;

const REPLAY: &str = r#"
mutation($id: ID!, $since: DateTime!) { webhookEndpointReplay(id: $id, since: $since) }"#;

const RETRY: &str = r#"
mutation($id: ID!) { webhookDeliveryRetry(id: $id) { id eventId status attempts } }"#;

const LOG: &str = r#"
query($id: ID!) { webhookDeliveries(endpointId: $id, first: 10) { edges { node { id } } } }"#;

/// The ids of the `order.placed` events in the outbox, oldest first.
async fn placed_events(app: &TestApp) -> Vec<String> {
    use sea_orm::ConnectionTrait;
    let db = &app.db;
    db.query_all_raw(sea_orm::Statement::from_string(
        db.get_database_backend(),
        "SELECT id FROM events WHERE event_type = 'order.placed' ORDER BY seq",
    ))
    .await
    .expect("events")
    .iter()
    .map(|r| r.try_get_by_index::<String>(0).expect("an id"))
    .collect()
}

fn kinds(receiver: &Receiver) -> Vec<String> {
    receiver
        .got()
        .iter()
        .map(|r| r.json()["type"].as_str().expect("type").to_owned())
        .collect()
}

each_store! {
    async fn an_update_sends_later_events_to_the_new_url_with_the_new_types(store: StoreKind) {
        let app = gateway(store, |_| {}).await;
        app.seed(2).await;
        let customer = customers(&app).await[0];
        let (first, first_url) = Receiver::start(Script::new()).await;
        let (second, second_url) = Receiver::start(Script::new()).await;
        let (_, body) = app
            .post(CREATE, json!({ "input": { "url": first_url, "eventTypes": ["order.placed"], "description": "the ESP" } }), Some(&app.staff()))
            .await;
        let endpoint = body["data"]["webhookEndpointCreate"]["endpoint"]["id"].as_str().expect("id").to_owned();
        ingest(&app, customer, "upd-1").await;
        first.wait_for(1, Duration::from_secs(10)).await;

        let input = json!({ "url": second_url, "eventTypes": ["order.paid"], "description": "  the new ESP " });
        let data = app.query(UPDATE, json!({ "id": endpoint, "input": input })).await;
        let updated = &data["webhookEndpointUpdate"];
        assert_eq!((updated["url"].clone(), updated["description"].clone(), updated["eventTypes"].clone(), updated["enabled"].clone()),
            (json!(second_url), json!("the new ESP"), json!(["order.paid"]), json!(true)), "{updated}");
        ingest(&app, customer, "upd-2").await;
        second.wait_for(1, Duration::from_secs(10)).await;
        // The order's `order.placed` comes before its `order.paid` for the
        // customer: had it still been subscribed, it would have arrived first.
        assert_eq!(kinds(&second), ["order.paid"]);
        assert_eq!(first.got().len(), 1, "nothing more goes to the old URL");

        // A description alone changes nothing else; no types is every type.
        let data = app.query(UPDATE, json!({ "id": endpoint, "input": { "description": "" } })).await;
        assert_eq!((data["webhookEndpointUpdate"]["url"].clone(), data["webhookEndpointUpdate"]["eventTypes"].clone()), (json!(second_url), json!(["order.paid"])));
        let data = app.query(UPDATE, json!({ "id": endpoint, "input": { "eventTypes": [] } })).await;
        assert_eq!(data["webhookEndpointUpdate"]["eventTypes"], json!([]));
        ingest(&app, customer, "upd-3").await;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !kinds(&second).contains(&"loyalty.points_earned".to_owned()) {
            assert!(std::time::Instant::now() < deadline, "{:?}", kinds(&second));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let later = &kinds(&second)[1..];
        assert!(later.contains(&"order.placed".to_owned()) && later.contains(&"order.paid".to_owned()), "{later:?}");
    }
}

each_store! {
    async fn a_disabled_endpoint_gets_nothing_until_enabled_then_what_it_missed_in_order(store: StoreKind) {
        let app = gateway(store, |_| {}).await;
        app.seed(2).await;
        let customer = customers(&app).await[0];
        let (paused, paused_url) = Receiver::start(Script::new()).await;
        let (witness, witness_url) = Receiver::start(Script::new()).await;
        // Registered first, the paused endpoint is dispatched first in a round.
        let (endpoint, _) = register(&app, &app.staff(), &paused_url, json!(["order.placed"])).await;
        register(&app, &app.staff(), &witness_url, json!(["order.placed"])).await;

        let data = app.query(DISABLE, json!({ "id": endpoint })).await;
        let node = &data["webhookEndpointDisable"];
        assert_eq!((node["enabled"].clone(), node["disabledReason"].clone()), (json!(false), json!("disabled by staff-test")), "{node}");
        assert!(node["disabledAt"].is_string());
        let listed = endpoint_once(&app, &endpoint, |_| true).await;
        assert_eq!((listed["enabled"].clone(), listed["disabledReason"].clone()), (json!(false), json!("disabled by staff-test")));
        ingest(&app, customer, "paused-1").await;
        ingest(&app, customer, "paused-2").await;
        let seen = witness.wait_for(2, Duration::from_secs(10)).await;
        assert!(paused.got().is_empty());

        let data = app.query(ENABLE, json!({ "id": endpoint })).await;
        let node = &data["webhookEndpointEnable"];
        assert_eq!((node["enabled"].clone(), node["disabledAt"].clone(), node["disabledReason"].clone()), (json!(true), Value::Null, Value::Null));
        let got = paused.wait_for(2, Duration::from_secs(10)).await;
        let ids: Vec<String> = got.iter().map(|r| r.id()).collect();
        assert_eq!(ids, seen.iter().map(|r| r.id()).collect::<Vec<_>>(), "what it missed, in order, with the same ids");
    }
}

each_store! {
    async fn a_deleted_endpoint_gets_nothing_more_and_is_gone_from_the_api(store: StoreKind) {
        let app = gateway(store, |_| {}).await;
        app.seed(2).await;
        let customer = customers(&app).await[0];
        let (deleted, deleted_url) = Receiver::start(Script::new()).await;
        let (witness, witness_url) = Receiver::start(Script::new()).await;
        let (endpoint, _) = register(&app, &app.staff(), &deleted_url, json!(["order.placed"])).await;
        let (witness_endpoint, _) = register(&app, &app.staff(), &witness_url, json!(["order.placed"])).await;
        ingest(&app, customer, "del-1").await;
        deleted.wait_for(1, Duration::from_secs(10)).await;
        witness.wait_for(1, Duration::from_secs(10)).await;
        // Both deliveries recorded before the delete, so the count below sees
        // exactly the witness's row left.
        for id in [&endpoint, &witness_endpoint] {
            deliveries_once(&app, id, |log| log.len() == 1 && log[0]["status"] == "DELIVERED").await;
        }

        let data = app.query(DELETE, json!({ "id": endpoint })).await;
        assert_eq!(data["webhookEndpointDelete"], json!(endpoint));
        let listed = app.query(ENDPOINTS, json!({})).await;
        let ids: Vec<Value> = listed["webhookEndpoints"]["edges"].as_array().expect("edges").iter().map(|e| e["node"]["id"].clone()).collect();
        assert!(!ids.contains(&json!(endpoint)) && ids.len() == 1, "{ids:?}");
        for (query, vars) in [
            (LOG, json!({ "id": endpoint })),
            (DELETE, json!({ "id": endpoint })),
            (ENABLE, json!({ "id": endpoint })),
        ] {
            let (_, body) = app.post(query, vars, Some(&app.staff())).await;
            assert_eq!(codes(&body), ["NOT_FOUND"], "{query}: {body}");
        }
        assert_eq!(app.scalar("SELECT COUNT(*) FROM webhook_deliveries").await, 1, "its log went with it");

        ingest(&app, customer, "del-2").await;
        witness.wait_for(2, Duration::from_secs(10)).await;
        assert_eq!(deleted.got().len(), 1);
    }
}

each_store! {
    async fn a_failed_delivery_retried_arrives_again_with_its_webhook_id(store: StoreKind) {
        // One attempt, then FAILED.
        let app = gateway(store, |c| c.webhooks_retry_schedule = vec![Duration::ZERO]).await;
        app.seed(2).await;
        let customer = customers(&app).await[0];
        let (receiver, url) = Receiver::start([(500, vec![])].into()).await;
        let (endpoint, secret) = register(&app, &app.staff(), &url, json!(["order.placed"])).await;
        ingest(&app, customer, "retry-me").await;
        receiver.wait_for(1, Duration::from_secs(10)).await;
        let log = deliveries_once(&app, &endpoint, |log| log.first().is_some_and(|d| d["status"] == "FAILED")).await;
        assert_eq!((log[0]["attempts"].clone(), log[0]["lastHttpStatus"].clone(), log[0]["lastError"].clone()), (json!(1), json!(500), json!("HTTP 500")));
        let health = endpoint_once(&app, &endpoint, |n| n["lastDeliveryStatus"] == "FAILED").await;
        assert!(health["failingSince"].is_string() && health["enabled"] == true, "{health}");
        assert_eq!((health["lastHttpStatus"].clone(), health["pendingCount"].clone()), (json!(500), json!(0)));

        let data = app.query(RETRY, json!({ "id": log[0]["id"] })).await;
        let retried = &data["webhookDeliveryRetry"];
        assert_eq!((retried["status"].clone(), retried["attempts"].clone()), (json!("PENDING"), json!(0)), "{retried}");
        let got = receiver.wait_for(2, Duration::from_secs(10)).await;
        assert_eq!(got[1].id(), got[0].id());
        assert_eq!(json!(got[1].id()), log[0]["eventId"]);
        assert!(verifies(&secret, &got[1]));
        let log = deliveries_once(&app, &endpoint, |log| log[0]["status"] == "DELIVERED").await;
        assert_eq!(log[0]["attempts"], 1);
        let health = endpoint_once(&app, &endpoint, |n| n["lastDeliveryStatus"] == "DELIVERED").await;
        assert_eq!(health["failingSince"], Value::Null, "{health}");

        // Someone else's delivery, or none, is not found.
        let other = app.token(Role::Partner, "esp-9", &["webhooks:write", "orders:read"]);
        let (_, body) = app.post(RETRY, json!({ "id": log[0]["id"] }), Some(&other)).await;
        assert_eq!(codes(&body), ["NOT_FOUND"], "{body}");
        let (_, body) = app.post(RETRY, json!({ "id": "gid://c360/WebhookDelivery/999999" }), Some(&app.staff())).await;
        assert_eq!(codes(&body), ["NOT_FOUND"], "{body}");
        assert_eq!(receiver.got().len(), 2);
    }
}

each_store! {
    async fn replay_sends_again_from_an_instant_even_events_from_before_the_endpoint(store: StoreKind) {
        let app = gateway(store, |_| {}).await;
        app.seed(2).await;
        let customer = customers(&app).await[0];
        let t0 = app.clock.now_secs();
        app.clock.set(t0);
        ingest(&app, customer, "before").await;
        app.clock.set(t0 + TimeDelta::hours(1));
        let (receiver, url) = Receiver::start(Script::new()).await;
        let (endpoint, _) = register(&app, &app.staff(), &url, json!(["order.placed"])).await;
        ingest(&app, customer, "after").await;
        receiver.wait_for(1, Duration::from_secs(10)).await;
        let events = placed_events(&app).await;
        assert_eq!(events.len(), 2);
        assert_eq!(receiver.ids(), [events[1].clone()], "an endpoint starts at the end of the outbox");
        deliveries_once(&app, &endpoint, |log| log.len() == 1 && log[0]["status"] == "DELIVERED").await;

        // From t0: the event from before the endpoint, then the delivered one again.
        let data = app.query(REPLAY, json!({ "id": endpoint, "since": t0.to_rfc3339() })).await;
        assert_eq!(data["webhookEndpointReplay"], 2);
        receiver.wait_for(3, Duration::from_secs(10)).await;
        assert_eq!(receiver.ids(), [events[1].clone(), events[0].clone(), events[1].clone()]);
        let log = deliveries_once(&app, &endpoint, |log| log.len() == 2 && log.iter().all(|d| d["status"] == "DELIVERED")).await;
        assert!(log.iter().all(|d| d["attempts"] == 1), "{log:?}");

        // From the later instant: only the later event.
        let since: DateTime<chrono::Utc> = t0 + TimeDelta::minutes(30);
        let data = app.query(REPLAY, json!({ "id": endpoint, "since": since.to_rfc3339() })).await;
        assert_eq!(data["webhookEndpointReplay"], 1);
        receiver.wait_for(4, Duration::from_secs(10)).await;
        assert_eq!(receiver.ids()[3], events[1]);
    }
}

each_store! {
    async fn bad_changes_and_unknown_endpoints_say_why_and_change_nothing(store: StoreKind) {
        let app = gateway(store, |_| {}).await;
        app.seed(2).await;
        let customer = customers(&app).await[0];
        let (receiver, url) = Receiver::start(Script::new()).await;
        let (_, other_url) = Receiver::start(Script::new()).await;
        let staff = app.staff();
        let (endpoint, _) = register(&app, &staff, &url, json!(["order.placed"])).await;
        register(&app, &staff, &other_url, json!([])).await;
        let update = |input: Value| {
            let (app, staff, endpoint) = (&app, staff.clone(), endpoint.clone());
            async move { app.post(UPDATE, json!({ "id": endpoint, "input": input }), Some(&staff)).await.1 }
        };
        for (input, code, at) in [
            (json!({ "url": "not a url" }), "BAD_USER_INPUT", "url"),
            (json!({ "url": "ftp://127.0.0.1/hooks" }), "BAD_USER_INPUT", "url"),
            (json!({ "url": "http://10.0.0.8/hooks" }), "BAD_USER_INPUT", "url"),
            (json!({ "eventTypes": ["order.placed", "order.nope"] }), "BAD_USER_INPUT", "eventTypes[1]"),
            (json!({ "description": "x".repeat(501) }), "BAD_USER_INPUT", "description"),
            // The other endpoint's URL: one endpoint per owner and URL.
            (json!({ "url": other_url }), "CONFLICT", "<none>"),
        ] {
            let body = update(input.clone()).await;
            assert_eq!((codes(&body), field(&body)), (vec![code.to_owned()], at), "{input}: {body}");
        }
        let body = app.post(UPDATE, json!({ "id": gid("Customer", customer), "input": {} }), Some(&staff)).await.1;
        assert_eq!((codes(&body), field(&body)), (vec!["BAD_USER_INPUT".to_owned()], "id"), "{body}");
        let unknown = "gid://c360/WebhookEndpoint/999999";
        for (query, vars) in [
            (UPDATE, json!({ "id": unknown, "input": { "description": "x" } })),
            (DISABLE, json!({ "id": unknown })),
            (ENABLE, json!({ "id": unknown })),
            (DELETE, json!({ "id": unknown })),
            (ROTATE, json!({ "id": unknown })),
            (REPLAY, json!({ "id": unknown, "since": "2026-01-01T00:00:00Z" })),
            (LOG, json!({ "id": unknown })),
        ] {
            let (_, body) = app.post(query, vars, Some(&staff)).await;
            assert_eq!(codes(&body), ["NOT_FOUND"], "{query}: {body}");
        }
        // The endpoint is as it was, and still delivers.
        let node = endpoint_once(&app, &endpoint, |_| true).await;
        assert_eq!((node["url"].clone(), node["eventTypes"].clone(), node["description"].clone()), (json!(url), json!(["order.placed"]), json!("")));
        ingest(&app, customer, "still-there").await;
        assert_eq!(receiver.wait_for(1, Duration::from_secs(10)).await[0].json()["type"], "order.placed");
    }
}

each_store! {
    async fn production_refuses_an_update_to_http_private_or_loopback_addresses(store: StoreKind) {
        let app = TestApp::spawn(store, |c| {
            c.dev = false;
            c.jwt_secret = Some(DEV_JWT_SECRET.into());
        })
        .await;
        // A public address literal: nothing is looked up, and the test's
        // gateway sends nothing (its webhook jobs are off).
        let (endpoint, _) = register(&app, &app.staff(), "https://93.184.216.34/hooks", json!([])).await;
        for url in [
            "http://93.184.216.34/hooks",
            "https://127.0.0.1/hooks",
            "https://[::1]/hooks",
            "https://192.168.1.20/hooks",
            "https://169.254.169.254/latest/meta-data",
            "https://[::ffff:10.0.0.1]/hooks",
        ] {
            let (_, body) = app.post(UPDATE, json!({ "id": endpoint, "input": { "url": url } }), Some(&app.staff())).await;
            assert_eq!((codes(&body), field(&body)), (vec!["BAD_USER_INPUT".to_owned()], "url"), "{url}: {body}");
        }
        let node = endpoint_once(&app, &endpoint, |_| true).await;
        assert_eq!(node["url"], "https://93.184.216.34/hooks");
    }
}

each_store! {
    async fn partners_manage_only_their_own_endpoints_and_get_only_what_they_may_read(store: StoreKind) {
        let app = gateway(store, |_| {}).await;
        app.seed(2).await;
        let customer = customers(&app).await[0];
        let (receiver, url) = Receiver::start(Script::new()).await;
        let esp = app.token(Role::Partner, "esp-1", &["webhooks:write", "orders:read", "customers:read"]);
        let crm = app.token(Role::Partner, "crm-1", &["webhooks:write", "orders:read"]);
        let (mine, my_secret) = register(&app, &esp, &url, json!(["order.placed", "customer.created"])).await;
        // Another owner may use the same URL; the same owner may not.
        let (theirs, their_secret) = register(&app, &crm, &url, json!(["order.placed"])).await;
        let (_, body) = app.post(CREATE, json!({ "input": { "url": url } }), Some(&esp)).await;
        assert_eq!(codes(&body), ["CONFLICT"], "{body}");

        let listed = |token: String| {
            let app = &app;
            async move {
                let (_, body) = app.post(ENDPOINTS, json!({}), Some(&token)).await;
                body["data"]["webhookEndpoints"]["edges"].as_array().expect("edges").iter().map(|e| e["node"]["id"].clone()).collect::<Vec<_>>()
            }
        };
        assert_eq!(listed(esp.clone()).await, [json!(mine)]);
        assert_eq!(listed(crm.clone()).await, [json!(theirs)]);
        assert_eq!(listed(app.staff()).await, [json!(mine), json!(theirs)]);
        for (query, vars) in [
            (UPDATE, json!({ "id": theirs, "input": { "url": "http://127.0.0.1:9/stolen" } })),
            (DISABLE, json!({ "id": theirs })),
            (ENABLE, json!({ "id": theirs })),
            (ROTATE, json!({ "id": theirs })),
            (REPLAY, json!({ "id": theirs, "since": "2026-01-01T00:00:00Z" })),
            (LOG, json!({ "id": theirs })),
            (DELETE, json!({ "id": theirs })),
        ] {
            let (_, body) = app.post(query, vars, Some(&esp)).await;
            assert_eq!(codes(&body), ["NOT_FOUND"], "{query}: {body}");
        }
        let node = endpoint_once(&app, &theirs, |_| true).await;
        assert_eq!((node["url"].clone(), node["enabled"].clone()), (json!(url), json!(true)), "untouched: {node}");

        // One order: each endpoint gets it, signed with its own secret.
        ingest(&app, customer, "two-owners").await;
        let got = receiver.wait_for(2, Duration::from_secs(10)).await;
        assert_eq!(got[0].id(), got[1].id());
        let signers: BTreeSet<(bool, bool)> = got.iter().map(|r| (verifies(&my_secret, r), verifies(&their_secret, r))).collect();
        assert_eq!(signers, BTreeSet::from([(true, false), (false, true)]));

        // Without `pii:read` no email reaches the partner: events carry
        // ids and states, never profile values, so there is nothing to mask.
        let input = json!({ "profile": { "email": "secret.person@example.com", "firstName": "Secret" } });
        app.query("mutation($input: CustomerCreateInput!) { customerCreate(input: $input) { id } }", json!({ "input": input })).await;
        let got = receiver.wait_for(3, Duration::from_secs(10)).await;
        let created = got.iter().find(|r| r.json()["type"] == "customer.created").expect("customer.created");
        assert!(verifies(&my_secret, created));
        let text = String::from_utf8_lossy(&created.body);
        assert!(!text.contains('@') && !text.contains("Secret"), "{text}");
        assert!(created.json()["data"]["customer"]["emailMarketingState"].is_string(), "{text}");
    }
}
