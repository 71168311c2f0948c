//! GraphQL subscriptions over WebSocket (`graphql-transport-ws`): events
//! reach subscribers on every instance, with the API's access rules, and a
//! client that breaks the protocol is closed with the protocol's codes.

use std::time::Duration;

use c360::auth::Role;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Message, http::HeaderValue};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::each_store;
use crate::helpers::{StoreKind, TestApp};
use crate::webhook_support::ingest;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const EVENTS: &str = "subscription($id: ID!, $types: [String!]) { customerEvents(customerId: $id, types: $types) { id type data customer { id } } }";

async fn open(app: &TestApp, protocol: Option<&str>) -> Ws {
    let mut request = format!("ws://{}/graphql", app.addr)
        .into_client_request()
        .expect("request");
    if let Some(p) = protocol {
        request.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_str(p).expect("header"),
        );
    }
    let (ws, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("upgrade");
    if protocol.is_some() {
        assert_eq!(
            response.headers()["sec-websocket-protocol"],
            "graphql-transport-ws"
        );
    }
    ws
}

async fn send(ws: &mut Ws, message: Value) {
    ws.send(Message::text(message.to_string()))
        .await
        .expect("sent");
}

/// The next protocol message; pings from the transport are skipped.
async fn next(ws: &mut Ws) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message within 10 s")
            .expect("the socket is open")
            .expect("a frame");
        match message {
            Message::Text(text) => return serde_json::from_str(text.as_str()).expect("JSON"),
            Message::Close(frame) => panic!("closed: {frame:?}"),
            _ => continue,
        }
    }
}

/// The close code and reason the server ends the connection with.
async fn closed(ws: &mut Ws) -> (u16, String) {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("closed within 10 s");
        match message {
            Some(Ok(Message::Close(Some(frame)))) => {
                return (u16::from(frame.code), frame.reason.to_string());
            }
            Some(Ok(Message::Close(None))) | None | Some(Err(_)) => return (0, String::new()),
            Some(Ok(_)) => continue,
        }
    }
}

async fn connected(app: &TestApp, token: &str) -> Ws {
    let mut ws = open(app, Some("graphql-transport-ws")).await;
    send(&mut ws, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } })).await;
    assert_eq!(next(&mut ws).await, json!({ "type": "connection_ack" }));
    ws
}

async fn gateway(store: StoreKind) -> TestApp {
    TestApp::spawn(store, |c| {
        c.subscriptions_poll_interval = Duration::from_millis(20)
    })
    .await
}

fn gid(id: i64) -> String {
    format!("gid://c360/Customer/{id}")
}

each_store! {
    async fn an_order_on_one_instance_reaches_a_subscriber_on_another(store: StoreKind) {
        let a = gateway(store).await;
        a.seed(2).await;
        let url = a.db_url.clone();
        // A second instance on the same store.
        let b = TestApp::spawn(store, move |c| {
            c.database_url = url;
            c.subscriptions_poll_interval = Duration::from_millis(20);
        })
        .await;
        let customer = a.ids("SELECT id FROM customers ORDER BY id").await[0];
        let mut ws = connected(&b, &b.staff()).await;
        send(&mut ws, json!({ "type": "subscribe", "id": "1", "payload": {
            "query": EVENTS, "variables": { "id": gid(customer), "types": ["order.placed", "loyalty.points_earned"] }
        }})).await;
        // The subscription starts from the outbox's end: let the follower
        // find it before the write.
        tokio::time::sleep(Duration::from_millis(200)).await;
        ingest(&a, customer, "live-1").await;
        let first = next(&mut ws).await;
        assert_eq!(first["type"], "next", "{first}");
        assert_eq!(first["id"], "1");
        let event = &first["payload"]["data"]["customerEvents"];
        assert_eq!(event["type"], "order.placed");
        assert_eq!(event["customer"]["id"], gid(customer));
        assert!(event["id"].as_str().is_some_and(|id| id.starts_with("evt_")));
        let second = next(&mut ws).await;
        assert_eq!(second["payload"]["data"]["customerEvents"]["type"], "loyalty.points_earned");
        assert_eq!(second["payload"]["data"]["customerEvents"]["data"]["points"], 25);

        // ping/pong, then the client completes the subscription: nothing more.
        send(&mut ws, json!({ "type": "ping" })).await;
        assert_eq!(next(&mut ws).await, json!({ "type": "pong" }));
        send(&mut ws, json!({ "type": "complete", "id": "1" })).await;
        ingest(&a, customer, "live-2").await;
        send(&mut ws, json!({ "type": "ping" })).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(next(&mut ws).await, json!({ "type": "pong" }));
    }
}

each_store! {
    async fn subscribers_see_what_their_token_may_read(store: StoreKind) {
        let app = gateway(store).await;
        app.seed(3).await;
        let ids = app.ids("SELECT id FROM customers ORDER BY id").await;
        let (mine, other) = (ids[0], ids[1]);

        // A partner reading orders only: loyalty events are withheld, and
        // asking for them by name is refused.
        let partner = app.token(Role::Partner, "crm", &["orders:read"]);
        let mut ws = connected(&app, &partner).await;
        send(&mut ws, json!({ "type": "subscribe", "id": "x", "payload": {
            "query": EVENTS, "variables": { "id": gid(mine), "types": ["loyalty.points_earned"] }
        }})).await;
        let refused = next(&mut ws).await;
        assert_eq!(refused["type"], "next", "{refused}");
        assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN");
        assert_eq!(next(&mut ws).await, json!({ "type": "complete", "id": "x" }));
        send(&mut ws, json!({ "type": "subscribe", "id": "all", "payload": {
            "query": "subscription($id: ID!) { customerEvents(customerId: $id) { type } }",
            "variables": { "id": gid(mine) }
        }})).await;

        // A customer: itself only.
        let customer = app.token(Role::Customer, &mine.to_string(), &[]);
        let mut own = connected(&app, &customer).await;
        send(&mut own, json!({ "type": "subscribe", "id": "them", "payload": {
            "query": EVENTS, "variables": { "id": gid(other) }
        }})).await;
        let refused = next(&mut own).await;
        assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND", "{refused}");
        assert_eq!(next(&mut own).await["type"], "complete");
        send(&mut own, json!({ "type": "subscribe", "id": "me", "payload": {
            "query": "subscription($id: ID!) { customerEvents(customerId: $id) { type } }",
            "variables": { "id": gid(mine) }
        }})).await;

        tokio::time::sleep(Duration::from_millis(200)).await;
        ingest(&app, mine, "scoped-1").await;
        ingest(&app, mine, "scoped-2").await;
        // Each paid order: order.placed, order.paid, loyalty.points_earned.
        let mut partners = Vec::new();
        for _ in 0..4 {
            partners.push(next(&mut ws).await["payload"]["data"]["customerEvents"]["type"].clone());
        }
        assert_eq!(partners, ["order.placed", "order.paid", "order.placed", "order.paid"]);
        let mut own_types = Vec::new();
        for _ in 0..6 {
            own_types.push(next(&mut own).await["payload"]["data"]["customerEvents"]["type"].clone());
        }
        let one = ["order.placed", "order.paid", "loyalty.points_earned"];
        assert_eq!(own_types, [one, one].concat());

        // Anonymous connections are acknowledged; their subscriptions are not.
        let mut anonymous = open(&app, Some("graphql-transport-ws")).await;
        send(&mut anonymous, json!({ "type": "connection_init" })).await;
        assert_eq!(next(&mut anonymous).await["type"], "connection_ack");
        send(&mut anonymous, json!({ "type": "subscribe", "id": "a", "payload": {
            "query": EVENTS, "variables": { "id": gid(mine) }
        }})).await;
        let refused = next(&mut anonymous).await;
        assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{refused}");
        assert_eq!(next(&mut anonymous).await, json!({ "type": "complete", "id": "a" }));

        // A document that does not validate is an `error` message.
        send(&mut anonymous, json!({ "type": "subscribe", "id": "b", "payload": { "query": "subscription { nope }" } })).await;
        let error = next(&mut anonymous).await;
        assert_eq!(error["type"], "error", "{error}");
        assert_eq!(error["id"], "b");
        assert!(error["payload"][0]["message"].as_str().is_some_and(|m| m.contains("nope")), "{error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_violations_close_with_the_protocols_codes() {
    let app = TestApp::spawn_sqlite_with(|c| {
        c.websocket_init_timeout = Duration::from_millis(300);
        c.max_connections_per_subject = 2;
        c.max_subscriptions_per_connection = 1;
    })
    .await;
    app.seed(1).await;
    let customer = app.ids("SELECT id FROM customers").await[0];

    // Without the subprotocol.
    let mut ws = open(&app, None).await;
    assert_eq!(closed(&mut ws).await.0, 4406);
    // Not JSON, and an unknown type.
    for garbage in ["{not json", r#"{"type":"hello"}"#, r#"{"id":"1"}"#] {
        let mut ws = open(&app, Some("graphql-transport-ws")).await;
        ws.send(Message::text(garbage)).await.expect("sent");
        let (code, reason) = closed(&mut ws).await;
        assert_eq!(code, 4400, "{garbage}: {reason}");
    }
    // Binary frames are not part of the protocol.
    let mut ws = open(&app, Some("graphql-transport-ws")).await;
    ws.send(Message::binary(vec![1u8, 2, 3]))
        .await
        .expect("sent");
    assert_eq!(closed(&mut ws).await.0, 4400);
    // Subscribing before connection_init.
    let mut ws = open(&app, Some("graphql-transport-ws")).await;
    send(
        &mut ws,
        json!({ "type": "subscribe", "id": "1", "payload": { "query": EVENTS } }),
    )
    .await;
    assert_eq!(closed(&mut ws).await, (4401, "Unauthorized".into()));
    // A token that does not verify.
    let mut ws = open(&app, Some("graphql-transport-ws")).await;
    send(
        &mut ws,
        json!({ "type": "connection_init", "payload": { "Authorization": "Bearer nope" } }),
    )
    .await;
    let (code, reason) = closed(&mut ws).await;
    assert_eq!(code, 4403);
    assert!(reason.starts_with("Forbidden"), "{reason}");
    // No connection_init in time.
    let mut ws = open(&app, Some("graphql-transport-ws")).await;
    assert_eq!(closed(&mut ws).await.0, 4408);
    // connection_init twice.
    let mut ws = connected(&app, &app.staff()).await;
    send(&mut ws, json!({ "type": "connection_init" })).await;
    assert_eq!(closed(&mut ws).await.0, 4429);
    // One id, one subscription; and one subscription per connection here.
    let mut ws = connected(&app, &app.staff()).await;
    let subscribe = json!({ "type": "subscribe", "id": "s", "payload": { "query": EVENTS, "variables": { "id": gid(customer) } } });
    send(&mut ws, subscribe.clone()).await;
    send(&mut ws, json!({ "type": "subscribe", "id": "t", "payload": { "query": EVENTS, "variables": { "id": gid(customer) } } })).await;
    let refused = next(&mut ws).await;
    assert_eq!(refused["type"], "error");
    assert_eq!(refused["id"], "t");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"],
        "QUERY_TOO_COMPLEX"
    );
    send(&mut ws, subscribe).await;
    let (code, reason) = closed(&mut ws).await;
    assert_eq!(
        (code, reason.as_str()),
        (4409, "Subscriber for s already exists")
    );
    // Two connections per subject here: the third is refused, and a slot
    // frees when one closes.
    let partner = app.token(Role::Partner, "many", &["orders:read"]);
    let mut first = connected(&app, &partner).await;
    let _second = connected(&app, &partner).await;
    let mut third = open(&app, Some("graphql-transport-ws")).await;
    send(
        &mut third,
        json!({ "type": "connection_init", "payload": { "token": partner } }),
    )
    .await;
    assert_eq!(closed(&mut third).await.0, 4429);
    first
        .close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        }))
        .await
        .expect("closed");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _again = connected(&app, &partner).await;
    // The server is still serving HTTP.
    assert_eq!(
        app.query("{ __typename }", json!({})).await["__typename"],
        "Query"
    );
}

each_store! {
    async fn segment_membership_tells_entries_and_exits_of_one_segment(store: StoreKind) {
        let app = gateway(store).await;
        app.seed(2).await;
        let customer = app.ids("SELECT id FROM customers ORDER BY id").await[0];
        let save = |name: &'static str| {
            let app = &app;
            async move {
                let data = app
                    .query(
                        "mutation($input: SegmentCreateInput!) { segmentCreate(input: $input) { id } }",
                        json!({ "input": { "name": name, "query": format!("customer_tags CONTAINS '{name}'"), "tracked": true } }),
                    )
                    .await;
                data["segmentCreate"]["id"].as_str().expect("id").to_owned()
            }
        };
        let (watched, other) = (save("vip").await, save("wholesale").await);
        let tags = |mutation: &'static str, tag: &'static str| {
            let app = &app;
            async move {
                let query = format!("mutation($id: ID!, $tags: [String!]!) {{ {mutation}(id: $id, tags: $tags) {{ tags }} }}");
                app.query(&query, json!({ "id": gid(customer), "tags": [tag] })).await;
            }
        };

        // segments:read is needed; a partner without it is refused.
        let crm = app.token(Role::Partner, "crm", &["customers:read"]);
        let mut refused = connected(&app, &crm).await;
        let membership = "subscription($id: ID!) { segmentMembership(segmentId: $id) { type data customer { id } } }";
        send(&mut refused, json!({ "type": "subscribe", "id": "m", "payload": { "query": membership, "variables": { "id": watched } } })).await;
        assert_eq!(next(&mut refused).await["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN");

        // An unknown segment is NOT_FOUND.
        let analyst = app.token(Role::Partner, "analyst", &["segments:read"]);
        let mut ws = connected(&app, &analyst).await;
        send(&mut ws, json!({ "type": "subscribe", "id": "m", "payload": { "query": membership, "variables": { "id": "gid://c360/Segment/999" } } })).await;
        assert_eq!(next(&mut ws).await["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND");
        assert_eq!(next(&mut ws).await["type"], "complete");
        send(&mut ws, json!({ "type": "subscribe", "id": "m", "payload": { "query": membership, "variables": { "id": watched } } })).await;
        tokio::time::sleep(Duration::from_millis(200)).await;

        // Entering the other segment tells nothing here; entering and
        // leaving the watched one tells both.
        tags("customerTagsAdd", "wholesale").await;
        tags("customerTagsAdd", "vip").await;
        app.tick().await;
        let entered = next(&mut ws).await;
        assert_eq!(entered["payload"]["data"]["segmentMembership"]["type"], "segment.entered", "{entered}");
        assert_eq!(entered["payload"]["data"]["segmentMembership"]["data"]["segment"]["id"], watched);
        assert_eq!(entered["payload"]["data"]["segmentMembership"]["customer"]["id"], gid(customer));
        tags("customerTagsRemove", "vip").await;
        app.tick().await;
        let exited = next(&mut ws).await;
        assert_eq!(exited["payload"]["data"]["segmentMembership"]["type"], "segment.exited", "{exited}");
        assert_ne!(other, watched);
    }
}

each_store! {
    /// Lists written as JSON reach a WebSocket client as they reach an HTTP one.
    async fn written_lists_answer_over_websocket_as_over_http(store: StoreKind) {
        let app = gateway(store).await;
        app.seed(3).await;
        let id = app
            .scalar("SELECT customer_id FROM orders GROUP BY customer_id ORDER BY COUNT(*) DESC, customer_id LIMIT 1")
            .await;
        let query = "query($id: ID!) { customer(id: $id) { orders(first: 3) { totalCount edges { cursor node { orderNumber total { amount } lines { edges { node { sku quantity } } } } } } } }";
        let variables = json!({ "id": gid(id) });
        let over_http = app.query(query, variables.clone()).await;
        assert!(over_http["customer"]["orders"]["totalCount"].as_i64() > Some(0), "{over_http}");
        let written = || async {
            let text = app.metrics_text().await;
            text.lines()
                .find_map(|l| l.strip_prefix("c360_graphql_leaf_lists_total{path=\"json\"} ")?.parse::<u64>().ok())
                .expect("the written lists' counter")
        };
        let before = written().await;
        let mut ws = connected(&app, &app.staff()).await;
        send(&mut ws, json!({ "type": "subscribe", "id": "q", "payload": { "query": query, "variables": variables } })).await;
        let answer = next(&mut ws).await;
        assert_eq!(answer["type"], "next", "{answer}");
        assert_eq!(answer["payload"]["data"], over_http);
        assert_eq!(next(&mut ws).await, json!({ "type": "complete", "id": "q" }));
        assert_eq!(written().await, before + 1, "the orders were written as JSON");
    }
}
