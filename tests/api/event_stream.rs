//! The event stream on NATS JetStream (`--events-nats-url`): each outbox
//! event once on `<prefix>.<type>` with its id as `Nats-Msg-Id`, a
//! re-publish deduplicated, and events kept in the outbox while NATS is
//! away. Run when `C360_TEST_NATS_URL` is set (`.ci/run` sets it); each test
//! makes its own stream and deletes it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::each_store;
use crate::helpers::{StoreKind, TestApp};
use crate::proxy::Proxy;
use crate::webhook_support::ingest;

static NEXT: AtomicU64 = AtomicU64::new(0);

fn nats_url() -> Option<String> {
    let url = std::env::var("C360_TEST_NATS_URL").ok();
    if url.is_none() {
        use std::io::Write;
        let test = std::thread::current().name().unwrap_or("a test").to_owned();
        let _ = writeln!(
            std::io::stderr(),
            "{test}: C360_TEST_NATS_URL is not set; not run"
        );
    }
    url
}

/// A stream name and subject prefix of the test's own, deleted on `remove`.
struct Stream {
    name: String,
    prefix: String,
    js: jetstream::Context,
}

impl Stream {
    async fn new(url: &str) -> Stream {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let client = async_nats::connect(url)
            .await
            .unwrap_or_else(|e| panic!("C360_TEST_NATS_URL is set but unreachable: {e}"));
        Stream {
            name: format!("C360_TEST_{}_{n}", std::process::id()),
            prefix: format!("c360test.{}.{n}", std::process::id()),
            js: jetstream::new(client),
        }
    }

    /// Messages in the stream; 0 while it does not exist.
    async fn count(&self) -> u64 {
        match self.js.get_stream(&self.name).await {
            Ok(mut s) => s.info().await.expect("stream info").state.messages,
            Err(_) => 0,
        }
    }

    async fn wait_for(&self, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.count().await < n {
            assert!(
                Instant::now() < deadline,
                "{} of {n} messages",
                self.count().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every message: subject, `Nats-Msg-Id` and body.
    async fn messages(&self) -> Vec<(String, String, Value)> {
        let stream = self.js.get_stream(&self.name).await.expect("stream");
        let mut out = Vec::new();
        for seq in 1..=self.count().await {
            let m = stream.get_raw_message(seq).await.expect("message");
            let id = m
                .headers
                .get("Nats-Msg-Id")
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default();
            out.push((
                m.subject.to_string(),
                id,
                serde_json::from_slice(&m.payload).expect("JSON"),
            ));
        }
        out
    }

    async fn remove(&self) {
        let _ = self.js.delete_stream(&self.name).await;
    }
}

async fn gateway(store: StoreKind, nats: &str, stream: &Stream) -> TestApp {
    let (nats, name, prefix) = (nats.to_owned(), stream.name.clone(), stream.prefix.clone());
    TestApp::spawn(store, move |c| {
        c.events_nats_url = Some(nats);
        c.events_nats_stream = name;
        c.events_nats_subject_prefix = prefix;
        c.events_nats_poll_interval = Duration::from_millis(50);
    })
    .await
}

/// The publisher's cursor; 0 before its first move.
const CURSOR: &str = "SELECT COALESCE(MAX(position), 0) FROM event_consumers";

async fn cursor_reaches(app: &TestApp, top: i64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while app.scalar(CURSOR).await < top {
        assert!(Instant::now() < deadline, "the cursor did not reach {top}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The outbox's ids and types in position order.
async fn outbox(app: &TestApp) -> Vec<(String, String)> {
    let data = app
        .query(
            "{ events(first: 100) { edges { node { id type } } } }",
            json!({}),
        )
        .await;
    let mut events: Vec<(String, String)> = data["events"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| {
            (
                e["node"]["id"].as_str().expect("id").to_owned(),
                e["node"]["type"].as_str().expect("type").to_owned(),
            )
        })
        .collect();
    events.sort();
    events
}

each_store! {
    async fn each_event_is_published_once_under_its_id(store: StoreKind) {
        let Some(url) = nats_url() else { return };
        let stream = Stream::new(&url).await;
        let app = gateway(store, &url, &stream).await;
        app.seed(2).await;
        let customer = app.ids("SELECT id FROM customers ORDER BY id").await[0];
        ingest(&app, customer, "stream-1").await;
        let expected = outbox(&app).await;
        assert!(expected.iter().any(|(_, t)| t == "order.placed"), "{expected:?}");
        stream.wait_for(expected.len() as u64).await;

        let messages = stream.messages().await;
        let mut got: Vec<(String, String)> = messages
            .iter()
            .map(|(_, id, body)| (id.clone(), body["type"].as_str().expect("type").to_owned()))
            .collect();
        got.sort();
        assert_eq!(got, expected);
        for (subject, id, body) in &messages {
            assert_eq!(*subject, format!("{}.{}", stream.prefix, body["type"].as_str().expect("type")));
            assert_eq!(body["data"]["id"], *id);
        }
        let placed = messages.iter().find(|(_, _, b)| b["type"] == "order.placed").expect("order.placed");
        assert_eq!(placed.2["data"]["customerId"], format!("gid://c360/Customer/{customer}"));

        // A crash between the publish and the cursor's move publishes the
        // batch again: the stream drops every repeat by its id. The cursor
        // moves after JetStream acknowledges, so it is reset only once it
        // has reached the top.
        let top = app.scalar("SELECT MAX(position) FROM events").await;
        cursor_reaches(&app, top).await;
        app.db.execute_unprepared("UPDATE event_consumers SET position = 0").await.expect("cursor reset");
        cursor_reaches(&app, top).await;
        assert_eq!(stream.count().await, expected.len() as u64);

        // Later events follow, each once.
        ingest(&app, customer, "stream-2").await;
        let expected = outbox(&app).await;
        stream.wait_for(expected.len() as u64).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(stream.count().await, expected.len() as u64);
        stream.remove().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_wait_in_the_outbox_while_nats_is_away() {
    let Some(url) = nats_url() else { return };
    let stream = Stream::new(&url).await;
    let address = url
        .trim_start_matches("nats://")
        .trim_end_matches('/')
        .to_owned();
    let proxy = Proxy::start(&address).await;
    proxy.cut().await;
    let through = format!("nats://127.0.0.1:{}", proxy.port);
    let app = gateway(StoreKind::Sqlite, &through, &stream).await;
    app.seed(2).await;
    let customer = app.ids("SELECT id FROM customers ORDER BY id").await[0];
    ingest(&app, customer, "away-1").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(stream.count().await, 0);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM event_consumers").await, 0);

    // NATS back: the publisher catches up without a restart.
    proxy.restore();
    let expected = outbox(&app).await;
    stream.wait_for(expected.len() as u64).await;
    let ids: Vec<String> = stream
        .messages()
        .await
        .into_iter()
        .map(|(_, id, _)| id)
        .collect();
    let mut ids_sorted = ids.clone();
    ids_sorted.sort();
    assert_eq!(
        ids_sorted,
        expected
            .iter()
            .map(|(id, _)| id.clone())
            .collect::<Vec<_>>()
    );
    stream.remove().await;
}
