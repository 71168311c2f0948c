//! `webhooks-burst`: how fast a burst of orders reaches a webhook endpoint.
//! A receiver on loopback is registered for `order.placed`, [`ORDERS`]
//! paid orders are ingested by [`IN_FLIGHT`] concurrent partner clients,
//! and the time until the receiver has had every one gives deliveries per
//! second. The server delivers with its defaults (a 1 s poll, 4 requests
//! in flight per endpoint). The endpoint is deleted afterwards; the orders
//! stay, so, like `writes`, it is run on a data set of its own.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use crate::StoreKind;
use crate::server::Server;

/// Orders in the burst.
pub const ORDERS: usize = 10_000;
/// Ingest requests in flight.
const IN_FLIGHT: usize = 16;
/// How long the deliveries may take before the run is called failed.
const PATIENCE: Duration = Duration::from_secs(1800);

const CREATE: &str = r#"mutation($url: String!) {
  webhookEndpointCreate(input: { url: $url, eventTypes: ["order.placed"] }) { endpoint { id } }
}"#;

const DELETE: &str = r#"mutation($id: ID!) { webhookEndpointDelete(id: $id) }"#;

const INGEST: &str = r#"mutation Ingest($input: OrderIngestInput!) {
  orderIngest(input: $input) { id }
}"#;

/// What one burst measured.
pub struct Burst {
    store: StoreKind,
    ingest: Duration,
    /// From the first ingest to the last delivery.
    delivered: Duration,
    /// Requests beyond one per event (the same `webhook-id` again).
    repeats: u64,
    peak_rss: Option<u64>,
}

pub const HEADER: &str = "| store | orders | ingested in s | orders/s | all delivered in s | deliveries/s | last delivery after the last ingest, s | repeats | server peak RSS MB |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|";

impl std::fmt::Display for Burst {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let store = match self.store {
            StoreKind::Sqlite => "SQLite",
            StoreKind::Postgres => "PostgreSQL",
        };
        let (ingest, delivered) = (self.ingest.as_secs_f64(), self.delivered.as_secs_f64());
        write!(
            f,
            "| {store} | {ORDERS} | {ingest:.1} | {:.0} | {delivered:.1} | {:.0} | {:.1} | {} | {} |",
            ORDERS as f64 / ingest,
            ORDERS as f64 / delivered,
            delivered - ingest,
            self.repeats,
            self.peak_rss.map_or("–".to_owned(), |b| format!(
                "{:.0}",
                b as f64 / 1_048_576.0
            )),
        )
    }
}

/// The receiver's count: requests, distinct ids, the last arrival.
#[derive(Default)]
struct Received {
    requests: AtomicU64,
    ids: Mutex<HashSet<String>>,
    last: Mutex<Option<Instant>>,
}

async fn receive(
    axum::extract::State(r): axum::extract::State<Arc<Received>>,
    headers: HeaderMap,
) -> &'static str {
    if let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok()) {
        r.ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_owned());
    }
    *r.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    r.requests.fetch_add(1, Ordering::SeqCst);
    "ok"
}

async fn graphql(
    server: &Server,
    token: &str,
    query: &str,
    variables: Value,
) -> anyhow::Result<Value> {
    let body: Value = server
        .client
        .post(server.url("/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await?
        .json()
        .await?;
    if let Some(errors) = body.get("errors") {
        anyhow::bail!("{query}: {errors}");
    }
    Ok(body["data"].clone())
}

pub async fn run(
    server: &Server,
    store: StoreKind,
    customers: u64,
    seed: u64,
) -> anyhow::Result<Burst> {
    let received = Arc::new(Received::default());
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let url = format!("http://{}/hooks", listener.local_addr()?);
    let app = axum::Router::new()
        .fallback(receive)
        .with_state(received.clone());
    let receiver = tokio::spawn(async move { axum::serve(listener, app).await });
    let data = graphql(server, &server.token, CREATE, json!({ "url": url })).await?;
    let endpoint = data["webhookEndpointCreate"]["endpoint"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let peak = Arc::new(AtomicU64::new(0));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, sampling, pid) = (peak.clone(), sampling.clone(), server.pid());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                if let Some(rss) = pid.and_then(crate::load::rss_of) {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let started = Instant::now();
    let workers = (0..IN_FLIGHT).map(|w| {
        let token = server.partner_token.clone();
        async move {
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ ((w as u64) << 20));
            for i in (w..ORDERS).step_by(IN_FLIGHT) {
                let customer = rand::Rng::random_range(&mut rng, 1..=customers.max(1));
                let order = crate::scenario::order(&mut rng, customer, format!("burst-{run}-{i}"));
                graphql(server, &token, INGEST, json!({ "input": order })).await?;
            }
            anyhow::Ok(())
        }
    });
    for outcome in futures_util::future::join_all(workers).await {
        outcome?;
    }
    let ingest = started.elapsed();
    let deadline = started + PATIENCE;
    while received.ids.lock().unwrap_or_else(|p| p.into_inner()).len() < ORDERS {
        if Instant::now() > deadline {
            anyhow::bail!("the deliveries did not all arrive within {PATIENCE:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let last = received
        .last
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .unwrap_or_else(Instant::now);
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.await;
    graphql(server, &server.token, DELETE, json!({ "id": endpoint })).await?;
    receiver.abort();
    Ok(Burst {
        store,
        ingest,
        delivered: last - started,
        repeats: received.requests.load(Ordering::SeqCst) - ORDERS as u64,
        peak_rss: Some(peak.load(Ordering::Relaxed)).filter(|p| *p > 0),
    })
}
