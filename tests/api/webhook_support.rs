//! What the webhook tests share: a receiver that records every request and
//! answers from a script (slowly when asked), hostile receivers (one that
//! never answers, one that trickles its answer, one that answers garbage,
//! one that streams a huge body), the GraphQL that registers and inspects
//! endpoints, and the flags and requests for `c360 serve` run as a process
//! (`served::Served`) by the tests that kill it or run two of it.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use c360::config::Config;
use serde_json::{Value, json};
use standardwebhooks::Webhook;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{StoreKind, TestApp};
use crate::writes_orders::{INGEST, order_of, partner};

pub const CREATE: &str = r#"
mutation($input: WebhookEndpointCreateInput!) {
  webhookEndpointCreate(input: $input) { secret endpoint { id url eventTypes enabled } } }"#;

pub const ENDPOINTS: &str = r#"
query { webhookEndpoints(first: 50) { edges { node {
  id url description eventTypes enabled disabledReason failingSince lastDeliveryStatus
  lastHttpStatus pendingCount } } } }"#;

pub const DELIVERIES: &str = r#"
query($id: ID!, $status: WebhookDeliveryStatus) {
  webhookDeliveries(endpointId: $id, first: 100, status: $status) { edges { node {
    id eventId customerId status attempts nextAttemptAt lastHttpStatus lastError latencyMs
    responseExcerpt deliveredAt } } } }"#;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
    pub fn header(&self, name: &str) -> String {
        self.headers[name].to_str().expect("a header").to_owned()
    }
    /// The `webhook-id`: the event's id.
    pub fn id(&self) -> String {
        self.header("webhook-id")
    }
}

/// Answers: status and headers, in order; 200 once the script runs out.
pub type Script = VecDeque<(u16, Vec<(&'static str, &'static str)>)>;

#[derive(Clone, Default)]
pub struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    pub script: Arc<Mutex<Script>>,
    /// How long each answer waits once its request is recorded, in ms.
    delay_ms: Arc<AtomicU64>,
}

impl Receiver {
    pub async fn start(script: Script) -> (Receiver, String) {
        let receiver = Receiver {
            script: Arc::new(Mutex::new(script)),
            ..Receiver::default()
        };
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind");
        let url = format!("http://{}/hooks", listener.local_addr().expect("addr"));
        let app = axum::Router::new()
            .fallback(record)
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.expect("receiver") });
        (receiver, url)
    }

    pub fn got(&self) -> Vec<Received> {
        self.got.lock().expect("lock").clone()
    }

    /// The `webhook-id` of every request, in arrival order.
    pub fn ids(&self) -> Vec<String> {
        self.got
            .lock()
            .expect("lock")
            .iter()
            .map(Received::id)
            .collect()
    }

    /// How many times each `webhook-id` arrived.
    pub fn id_counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for id in self.ids() {
            *counts.entry(id).or_default() += 1;
        }
        counts
    }

    /// Answers from now on wait `delay` before they are sent.
    pub fn set_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.delay_ms.store(ms, Ordering::Relaxed);
    }

    /// Waits until `n` requests arrived; fails after `within`.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let count = self.got.lock().expect("lock").len();
            if count >= n {
                return self.got();
            }
            assert!(
                start.elapsed() < within,
                "{count} of {n} deliveries after {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn record(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    r.got.lock().expect("lock").push(Received { headers, body });
    let (status, extra) = r
        .script
        .lock()
        .expect("lock")
        .pop_front()
        .unwrap_or((200, vec![]));
    let delay = r.delay_ms.load(Ordering::Relaxed);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let mut out = HeaderMap::new();
    for (k, v) in extra {
        out.insert(k, v.parse().expect("header value"));
    }
    (StatusCode::from_u16(status).expect("status"), out, "thanks")
}

/// Polls `check` every 50 ms until it gives a value; fails with `what`
/// after `within`.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls `check` every 20 ms until it holds; fails with `what` after
/// `within`.
pub async fn until(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How a hostile receiver misbehaves once it has read a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hostile {
    /// Accepts the connection, reads the request and never answers.
    Hang,
    /// Answers 200 with a 100,000-byte body, one byte every 100 ms.
    Trickle,
    /// Answers bytes that are not HTTP, without end.
    Garbage,
    /// Answers 200 with a 50 MB body, as fast as it is read.
    Huge,
}

/// What a hostile receiver saw.
#[derive(Debug, Clone, Default)]
pub struct HostileStats {
    accepted: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
    /// The most bytes written on one connection.
    most_written: Arc<AtomicU64>,
}

impl HostileStats {
    /// Connections accepted (one per attempt).
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
    /// Connections the sender has given up (closed or reset).
    pub fn closed(&self) -> usize {
        self.closed.load(Ordering::SeqCst)
    }
    pub fn most_written(&self) -> u64 {
        self.most_written.load(Ordering::SeqCst)
    }
}

/// Size of the body `Hostile::Huge` streams.
pub const HUGE_BODY: u64 = 50 * 1024 * 1024;

impl Hostile {
    /// Listens on loopback; the stats and the URL to register.
    pub async fn start(self) -> (HostileStats, String) {
        let stats = HostileStats::default();
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind");
        let url = format!("http://{}/hooks", listener.local_addr().expect("addr"));
        let shared = stats.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                shared.accepted.fetch_add(1, Ordering::SeqCst);
                let stats = shared.clone();
                tokio::spawn(async move {
                    let written = self.serve(stream).await;
                    stats.most_written.fetch_max(written, Ordering::SeqCst);
                    stats.closed.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        (stats, url)
    }

    /// Misbehaves on one connection until the sender gives it up; the
    /// bytes written.
    async fn serve(self, mut stream: TcpStream) -> u64 {
        if !read_request(&mut stream).await {
            return 0;
        }
        let mut written = 0u64;
        match self {
            Hostile::Hang => {
                // Nothing is written; a read ends when the sender hangs up.
                let mut buf = [0u8; 1024];
                while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
            }
            Hostile::Trickle => {
                let head = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 100000\r\n\r\n";
                if stream.write_all(head).await.is_err() {
                    return 0;
                }
                // Reading too notices the sender hanging up at once, not
                // at the next byte written.
                let (mut reader, mut writer) = stream.split();
                let mut buf = [0u8; 1024];
                loop {
                    tokio::select! {
                        read = reader.read(&mut buf) => {
                            if !matches!(read, Ok(n) if n > 0) {
                                break;
                            }
                        }
                        () = tokio::time::sleep(Duration::from_millis(100)) => {
                            if writer.write_all(b".").await.is_err() {
                                break;
                            }
                            written += 1;
                        }
                    }
                }
            }
            Hostile::Garbage => {
                let chunk: Vec<u8> = b"\x16\x03\x01\x00\xffnot http at all \x00\xfe"
                    .iter()
                    .copied()
                    .cycle()
                    .take(64 * 1024)
                    .collect();
                while stream.write_all(&chunk).await.is_ok() {
                    written += chunk.len() as u64;
                    if written >= HUGE_BODY {
                        break;
                    }
                }
            }
            Hostile::Huge => {
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {HUGE_BODY}\r\n\r\n"
                );
                if stream.write_all(head.as_bytes()).await.is_err() {
                    return 0;
                }
                let chunk = vec![b'x'; 64 * 1024];
                while written < HUGE_BODY && stream.write_all(&chunk).await.is_ok() {
                    written += chunk.len() as u64;
                }
            }
        }
        written
    }
}

/// Reads one request (head and `content-length` body); false when the
/// connection ends first.
async fn read_request(stream: &mut TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return false,
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return false,
        }
    }
    true
}

/// A gateway that polls every 100 ms and retries after 0 s, 1 s, 1 s.
pub async fn gateway(store: StoreKind, more: impl FnOnce(&mut Config)) -> TestApp {
    TestApp::spawn(store, |c| {
        c.webhooks_poll_interval = Duration::from_millis(100);
        c.webhooks_retry_schedule = vec![
            Duration::ZERO,
            Duration::from_secs(1),
            Duration::from_secs(1),
        ];
        more(c);
    })
    .await
}

/// Registers `url` as `token`; the endpoint's id and secret.
pub async fn register(app: &TestApp, token: &str, url: &str, types: Value) -> (String, String) {
    let (_, body) = app
        .post(
            CREATE,
            json!({ "input": { "url": url, "eventTypes": types } }),
            Some(token),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let created = &body["data"]["webhookEndpointCreate"];
    (
        created["endpoint"]["id"].as_str().expect("id").to_owned(),
        created["secret"].as_str().expect("secret").to_owned(),
    )
}

/// Ingests a PAID order of 25.00 for `customer`; its global id.
pub async fn ingest(app: &TestApp, customer: i64, reference: &str) -> String {
    let (_, body) = app
        .post(
            INGEST,
            json!({ "input": order_of(customer, reference, "PAID", 2500) }),
            Some(&partner(app)),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["orderIngest"]["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

pub async fn deliveries(app: &TestApp, endpoint: &str) -> Vec<Value> {
    let data = app.query(DELIVERIES, json!({ "id": endpoint })).await;
    data["webhookDeliveries"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

/// The delivery log once `settled` holds of it: the receiver sees a request
/// before the dispatcher has written down its answer.
pub async fn deliveries_once(
    app: &TestApp,
    endpoint: &str,
    settled: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = deliveries(app, endpoint).await;
        if settled(&log) {
            return log;
        }
        assert!(Instant::now() < deadline, "{log:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The endpoint `id` as `webhookEndpoints` lists it to staff, once
/// `settled` holds of it.
pub async fn endpoint_once(app: &TestApp, id: &str, settled: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let data = app.query(ENDPOINTS, json!({})).await;
        let node = data["webhookEndpoints"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| e["node"].clone())
            .find(|n| n["id"] == id)
            .expect("the endpoint is listed");
        if settled(&node) {
            return node;
        }
        assert!(Instant::now() < deadline, "{node}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn customers(app: &TestApp) -> Vec<i64> {
    app.ids("SELECT id FROM customers ORDER BY id").await
}

pub fn verifies(secret: &str, r: &Received) -> bool {
    Webhook::new(secret)
        .expect("a whsec_ secret")
        .verify(&r.body, &r.headers)
        .is_ok()
}

/// The flags that let `c360 serve` (`served::Served`) deliver webhooks
/// promptly and take a test's bursts: 100 ms polls, short timeouts, no
/// rate limit, a small pool.
pub const SERVE_WEBHOOKS: [&str; 10] = [
    "--webhooks-poll-interval",
    "100ms",
    "--webhooks-connect-timeout",
    "1s",
    "--rate-limit-partner",
    "0",
    "--rate-limit-staff",
    "0",
    "--db-max-connections",
    "4",
];

/// POSTs a GraphQL operation with `token` to a gateway at `base`
/// (`http://127.0.0.1:<port>`); its `data`, which must come without errors.
pub async fn graphql_at(base: &str, query: &str, variables: Value, token: &str) -> Value {
    let body: Value = reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("request sent")
        .json()
        .await
        .expect("a JSON body");
    assert!(body.get("errors").is_none(), "{body}");
    body["data"].clone()
}
