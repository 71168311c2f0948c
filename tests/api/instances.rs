//! Three `c360 serve` processes on one PostgreSQL database and one Redis, as
//! behind a load balancer: a partner's rate limit holds across all three, an
//! order posted to one reaches a subscriber on another and a webhook once,
//! and an instance killed mid-load loses no committed event. Runs when both
//! `C360_TEST_POSTGRES_URL` and `C360_TEST_REDIS_URL` are set.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt, future::join_all};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::helpers::TestApp;
use crate::served::{Served, token};
use crate::shared_rate_limits::Keys;
use crate::webhook_support::{Receiver, Script};
use crate::writes_orders::{INGEST, order_of};

async fn post(
    served: &Served,
    token: &str,
    query: &str,
    variables: Value,
) -> reqwest::Result<reqwest::Response> {
    reqwest::Client::new()
        .post(format!("{}/graphql", served.url))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
}

async fn ingest(served: &Served, token: &str, customer: i64, reference: &str) -> bool {
    let input = json!({ "input": order_of(customer, reference, "PAID", 2500) });
    match post(served, token, INGEST, input).await {
        Ok(r) => r
            .json::<Value>()
            .await
            .is_ok_and(|body| body.get("errors").is_none()),
        Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_share_limits_events_and_deliveries() {
    let (Ok(_), Ok(redis)) = (
        std::env::var("C360_TEST_POSTGRES_URL"),
        std::env::var("C360_TEST_REDIS_URL"),
    ) else {
        eprintln!(
            "three_instances: C360_TEST_POSTGRES_URL and C360_TEST_REDIS_URL are needed; not run"
        );
        return;
    };
    // The test's database, migrated and seeded; its own server stays idle.
    let app = TestApp::spawn_postgres().await.expect("PostgreSQL");
    app.seed(3).await;
    let customers = app.ids("SELECT id FROM customers ORDER BY id").await;
    let keys = Keys::new(&redis);
    let prefix = keys.prefix.clone();
    let args = [
        "--redis-url",
        redis.as_str(),
        "--redis-key-prefix",
        prefix.as_str(),
        "--rate-limit-partner",
        "6",
        "--rate-limit-staff",
        "0",
        "--webhooks-poll-interval",
        "100ms",
        "--webhooks-connect-timeout",
        "1s",
        "--webhooks-timeout",
        "2s",
        "--subscriptions-poll-interval",
        "50ms",
        "--db-max-connections",
        "4",
    ];
    let mut instances = Vec::new();
    for _ in 0..3 {
        instances.push(Served::start(Some(&app.db_url), &args, &[]).await);
    }
    let staff = token("STAFF", "ops", &[]);

    // 1. One quota across the three: 30 requests at once, 6 pass.
    let partner = token("PARTNER", "limited", &["customers:read"]);
    let sent = (0..30).map(|i| post(&instances[i % 3], &partner, "{ __typename }", json!({})));
    let statuses: Vec<u16> = join_all(sent)
        .await
        .into_iter()
        .map(|r| r.expect("answered").status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        6,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        24,
        "{statuses:?}"
    );

    // 2. A webhook registered through one, a subscriber on another, an order
    // posted to the third.
    let (receiver, hook) = Receiver::start(Script::new()).await;
    let created = post(
        &instances[2],
        &staff,
        "mutation($input: WebhookEndpointCreateInput!) { webhookEndpointCreate(input: $input) { endpoint { id } } }",
        json!({ "input": { "url": hook, "eventTypes": ["order.placed"] } }),
    )
    .await
    .expect("sent")
    .json::<Value>()
    .await
    .expect("JSON");
    assert!(created.get("errors").is_none(), "{created}");
    let mut request = format!("{}/graphql", instances[1].url.replace("http://", "ws://"))
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("upgrade");
    let send = |v: Value| Message::text(v.to_string());
    ws.send(send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {staff}") } }))).await.expect("init");
    ws.send(send(json!({ "type": "subscribe", "id": "1", "payload": {
        "query": "subscription($id: ID!) { customerEvents(customerId: $id, types: [\"order.placed\"]) { id data } }",
        "variables": { "id": format!("gid://c360/Customer/{}", customers[0]) }
    }}))).await.expect("subscribe");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(ingest(&instances[0], &staff, customers[0], "across-1").await);
    let event_id = loop {
        let message = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("the event within 10 s")
            .expect("open")
            .expect("a frame");
        let Message::Text(text) = message else {
            continue;
        };
        let v: Value = serde_json::from_str(text.as_str()).expect("JSON");
        if v["type"] == "next" {
            break v["payload"]["data"]["customerEvents"]["id"]
                .as_str()
                .expect("id")
                .to_owned();
        }
    };
    receiver.wait_for(1, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        receiver.ids(),
        [event_id],
        "one delivery, by one of the three"
    );

    // 3. Load on all three, one killed in the middle: every order that was
    // committed has its event delivered (a delivery the killed instance had
    // in flight goes again once its lease runs out, with the same id).
    let mut sent = 0;
    for i in 0..30usize {
        if i == 12 {
            instances[0].kill();
        }
        let served = &instances[i % 3];
        let _ = ingest(
            served,
            &staff,
            customers[i % customers.len()],
            &format!("load-{i}"),
        )
        .await;
        sent += 1;
    }
    assert_eq!(sent, 30);
    let committed = app
        .ids("SELECT COUNT(*) FROM orders WHERE external_ref LIKE 'load-%'")
        .await[0];
    assert!((19..=30).contains(&committed), "{committed}");
    let placed: Vec<String> = {
        use sea_orm::{ConnectionTrait, Statement};
        app.db
            .query_all_raw(Statement::from_string(
                app.db.get_database_backend(),
                "SELECT id FROM events WHERE event_type = 'order.placed'".to_owned(),
            ))
            .await
            .expect("events")
            .iter()
            .map(|r| r.try_get_by_index::<String>(0).expect("id"))
            .collect()
    };
    assert_eq!(placed.len() as i64, committed + 1);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let counts = receiver.id_counts();
        let missing: Vec<&String> = placed
            .iter()
            .filter(|id| !counts.contains_key(*id))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "never delivered: {missing:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Nothing but those events was delivered.
    assert!(receiver.id_counts().keys().all(|id| placed.contains(id)));
    drop(instances);
    keys.remove().await;
}
