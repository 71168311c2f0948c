//! `live-latency`: how long an order committed through one instance takes
//! to reach a GraphQL subscriber on another.
//!
//! A second `c360 serve` starts on the same PostgreSQL database; a staff
//! client subscribes there, over `graphql-transport-ws`, to `order.placed`
//! of [`SUBSCRIBED`] customers, and a POS partner ingests [`ORDERS`] orders
//! for them through the first instance, one at a time. Each latency runs
//! from the instant the ingest's response arrives (the order's transaction
//! committed before it was sent) to the event's `next` frame; the same from
//! the instant the request was sent is an upper bound that also holds the
//! write itself. Between orders the client waits a random part of a
//! second, so the commits fall at every phase of the instances' polling
//! (`--subscriptions-poll-interval`, which the server takes from the
//! environment as usual).

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::server::Server;

/// Orders sent, one at a time.
pub const ORDERS: usize = 400;
/// Customers the subscriber follows (one subscription each, within the
/// default 20 per connection).
const SUBSCRIBED: usize = 10;
/// How long one event may take before the run is called failed.
const PATIENCE: Duration = Duration::from_secs(10);

const INGEST: &str = r#"mutation Ingest($input: OrderIngestInput!) {
  orderIngest(input: $input) { id }
}"#;

const SUBSCRIBE: &str = r#"subscription($id: ID!) {
  customerEvents(customerId: $id, types: ["order.placed"]) { id data }
}"#;

/// What one run measured, in milliseconds.
pub struct Latency {
    from_commit: Vec<f64>,
    from_send: Vec<f64>,
    poll: String,
}

pub const HEADER: &str = "| orders | subscriptions poll | from the ingest's response: p50 ms | p99 ms | max ms | from sending it: p50 ms | p99 ms |\n|---:|---|---:|---:|---:|---:|---:|";

/// The nearest-rank percentile, as `load::summarise` takes it.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

impl std::fmt::Display for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (c, s) = (&self.from_commit, &self.from_send);
        write!(
            f,
            "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
            c.len(),
            self.poll,
            percentile(c, 0.5),
            percentile(c, 0.99),
            c.last().copied().unwrap_or_default(),
            percentile(s, 0.5),
            percentile(s, 0.99),
        )
    }
}

/// Measures against `first`, with a second instance started for the
/// subscriber and stopped afterwards.
pub async fn run(
    args: &crate::Args,
    store: &crate::store::Prepared,
    first: &Server,
) -> anyhow::Result<Latency> {
    let second = Server::start(args, store).await?;
    let outcome = measure(args, store, first, &second).await;
    second.stop().await;
    outcome
}

async fn measure(
    args: &crate::Args,
    store: &crate::store::Prepared,
    first: &Server,
    second: &Server,
) -> anyhow::Result<Latency> {
    let mut request = format!("ws://{}/graphql", second.addr).into_client_request()?;
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await?;
    let frame = |v: Value| Message::text(v.to_string());
    ws.send(frame(json!({
        "type": "connection_init",
        "payload": { "Authorization": format!("Bearer {}", second.token) }
    })))
    .await?;
    expect_frame(&mut ws, "connection_ack").await?;

    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let customers: Vec<u64> = (0..SUBSCRIBED)
        .map(|_| rng.random_range(1..=store.customers.max(1)))
        .collect();
    for (i, customer) in customers.iter().enumerate() {
        ws.send(frame(json!({
            "type": "subscribe",
            "id": i.to_string(),
            "payload": {
                "query": SUBSCRIBE,
                "variables": { "id": format!("gid://c360/Customer/{customer}") }
            }
        })))
        .await?;
    }
    // A subscription sees events committed after it started; the server
    // starts it on receipt, so one poll interval and a margin suffice.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut from_commit = Vec::with_capacity(ORDERS);
    let mut from_send = Vec::with_capacity(ORDERS);
    for i in 0..ORDERS {
        let customer = customers[i % SUBSCRIBED];
        let order = crate::scenario::order(&mut rng, customer, format!("live-{run}-{i}"));
        let sent = Instant::now();
        let body: Value = first
            .client
            .post(first.url("/graphql"))
            .bearer_auth(&first.partner_token)
            .json(&json!({ "query": INGEST, "variables": { "input": order } }))
            .send()
            .await?
            .json()
            .await?;
        let committed = Instant::now();
        let order_id = body["data"]["orderIngest"]["id"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("ingest failed: {body}"))?
            .to_owned();
        let arrived = next_event_naming(&mut ws, &order_id).await?;
        from_commit.push((arrived - committed).as_secs_f64() * 1e3);
        from_send.push((arrived - sent).as_secs_f64() * 1e3);
        let pause = rng.random_range(0..1000);
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    let _ = ws.close(None).await;
    from_commit.sort_by(f64::total_cmp);
    from_send.sort_by(f64::total_cmp);
    Ok(Latency {
        from_commit,
        from_send,
        poll: std::env::var("C360_SUBSCRIPTIONS_POLL_INTERVAL").unwrap_or_else(|_| "100ms".into()),
    })
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn expect_frame(ws: &mut Socket, kind: &str) -> anyhow::Result<()> {
    let message = tokio::time::timeout(PATIENCE, ws.next())
        .await
        .map_err(|_| anyhow::anyhow!("no {kind} within {PATIENCE:?}"))?
        .ok_or_else(|| anyhow::anyhow!("the subscriber's connection closed"))??;
    let v: Value = serde_json::from_str(message.to_text()?)?;
    anyhow::ensure!(v["type"] == kind, "expected {kind}, got {v}");
    Ok(())
}

/// The instant the `next` frame whose event names `order_id` arrives.
async fn next_event_naming(ws: &mut Socket, order_id: &str) -> anyhow::Result<Instant> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let message = tokio::time::timeout_at(deadline.into(), ws.next())
            .await
            .map_err(|_| {
                anyhow::anyhow!("the event of {order_id} did not come within {PATIENCE:?}")
            })?
            .ok_or_else(|| anyhow::anyhow!("the subscriber's connection closed"))??;
        let arrived = Instant::now();
        let Message::Text(text) = message else {
            continue;
        };
        let v: Value = serde_json::from_str(text.as_str())?;
        match v["type"].as_str() {
            Some("next")
                if v["payload"]["data"]["customerEvents"]["data"]
                    .to_string()
                    .contains(&format!("\"{order_id}\"")) =>
            {
                return Ok(arrived);
            }
            Some("error") => anyhow::bail!("subscription error: {v}"),
            _ => {}
        }
    }
}
