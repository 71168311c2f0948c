//! Rate limits shared through Redis (`--redis-url`): several instances
//! charge one quota per caller, and an unreachable Redis follows
//! `--redis-down`, recovering by itself. Run when `C360_TEST_REDIS_URL` is
//! set (`.ci/run` sets it); each test writes under its own key prefix and
//! deletes it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use c360::auth::Role;
use c360::config::{Config, RedisDown};
use futures_util::future::join_all;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::helpers::{TestApp, metric};
use crate::proxy::Proxy;

static NEXT: AtomicU64 = AtomicU64::new(0);

/// The test Redis, or `None` (and a line saying so) when unset.
fn redis_url() -> Option<String> {
    let url = std::env::var("C360_TEST_REDIS_URL").ok();
    if url.is_none() {
        use std::io::Write;
        let test = std::thread::current().name().unwrap_or("a test").to_owned();
        let _ = writeln!(
            std::io::stderr(),
            "{test}: C360_TEST_REDIS_URL is not set; not run"
        );
    }
    url
}

/// A key prefix of a test's own, removed from Redis by `remove`.
pub struct Keys {
    url: String,
    pub prefix: String,
}

impl Keys {
    pub fn new(url: &str) -> Keys {
        Keys {
            url: url.to_owned(),
            prefix: format!(
                "c360-test:{}:{}:",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ),
        }
    }

    async fn count(&self) -> usize {
        let client = redis::Client::open(self.url.as_str()).expect("redis url");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .unwrap_or_else(|e| panic!("C360_TEST_REDIS_URL is set but unreachable: {e}"));
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query_async(&mut conn)
            .await
            .expect("keys");
        keys.len()
    }

    pub async fn remove(&self) {
        let client = redis::Client::open(self.url.as_str()).expect("redis url");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("redis");
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query_async(&mut conn)
            .await
            .expect("keys");
        if !keys.is_empty() {
            let _: () = redis::cmd("DEL")
                .arg(keys)
                .query_async(&mut conn)
                .await
                .expect("del");
        }
    }
}

async fn instance(redis: &str, keys: &Keys, configure: impl FnOnce(&mut Config)) -> TestApp {
    let (redis, prefix) = (redis.to_owned(), keys.prefix.clone());
    TestApp::spawn_sqlite_with(move |c| {
        c.redis_url = Some(redis.into());
        c.redis_key_prefix = prefix;
        c.rate_limit_staff = 0;
        configure(c);
    })
    .await
}

async fn ask(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .post(app.url("/graphql"))
        .header("accept", "application/graphql-response+json")
        .bearer_auth(token)
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .expect("sent")
}

async fn unchecked(app: &TestApp) -> f64 {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    metric(&text, "c360_rate_limit_unchecked_total").expect("c360_rate_limit_unchecked_total")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_share_one_quota_per_caller() {
    let Some(url) = redis_url() else { return };
    let keys = Keys::new(&url);
    let quota = |c: &mut Config| c.rate_limit_partner = 6;
    let apps = [
        instance(&url, &keys, quota).await,
        instance(&url, &keys, quota).await,
        instance(&url, &keys, quota).await,
    ];
    let pos = apps[0].token(Role::Partner, "pos", &["customers:read"]);

    // 30 requests at once, spread over the three: the quota is 6 a minute
    // whichever instance each lands on.
    let sent = (0..30).map(|i| ask(&apps[i % 3], &pos));
    let statuses: Vec<u16> = join_all(sent)
        .await
        .iter()
        .map(|r| r.status().as_u16())
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

    // The refusal is the usual one, with the wait until the next slot.
    let r = ask(&apps[1], &pos).await;
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("secs");
    assert!((1..=10).contains(&wait), "{wait}");
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["errors"][0]["extensions"]["code"], "RATE_LIMITED");

    // Another subject has its own quota; one key per caller, none per request.
    let helpdesk = apps[2].token(Role::Partner, "helpdesk", &["tickets:read"]);
    assert_eq!(ask(&apps[0], &helpdesk).await.status(), 200);
    assert_eq!(keys.count().await, 2);
    for app in &apps {
        assert_eq!(unchecked(app).await, 0.0);
    }
    keys.remove().await;
}

/// `host:port` of a `redis://host:port/...` URL.
fn address(url: &str) -> String {
    let rest = url.trim_start_matches("redis://");
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_redis_is_away_requests_pass_and_limits_return_with_it() {
    let Some(url) = redis_url() else { return };
    let keys = Keys::new(&url);
    let proxy = Proxy::start(&address(&url)).await;
    let through = format!("redis://127.0.0.1:{}/", proxy.port);
    let app = instance(&through, &keys, |c| c.rate_limit_partner = 3).await;
    let pos = app.token(Role::Partner, "pos", &[]);
    for _ in 0..3 {
        assert_eq!(ask(&app, &pos).await.status(), 200);
    }
    assert_eq!(ask(&app, &pos).await.status(), 429);

    // Redis unreachable: the default lets requests through, and counts them.
    proxy.cut().await;
    let started = Instant::now();
    for _ in 0..3 {
        assert_eq!(ask(&app, &pos).await.status(), 200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(unchecked(&app).await >= 3.0);

    // Back without a restart: the caller's state was kept in Redis, so it is
    // still over its quota.
    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = ask(&app, &pos).await.status();
        if status == 429 {
            break;
        }
        assert_eq!(status, 200);
        assert!(Instant::now() < deadline, "limits did not come back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    keys.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusing_without_redis_answers_503_unavailable() {
    let Some(url) = redis_url() else { return };
    let keys = Keys::new(&url);
    // A port nothing listens on.
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let app = instance(&format!("redis://127.0.0.1:{port}/"), &keys, |c| {
        c.rate_limit_partner = 100;
        c.redis_down = RedisDown::Refuse;
    })
    .await;
    let pos = app.token(Role::Partner, "pos", &[]);
    let r = ask(&app, &pos).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    let body: Value = r.json().await.expect("json");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "UNAVAILABLE",
        "{body}"
    );
    assert_eq!(
        body["errors"][0]["message"],
        "the rate limiter cannot reach its store; retry in a moment"
    );
    assert!(body.get("data").is_none());
    // Unlimited callers are never asked about, so never refused.
    assert_eq!(ask(&app, &app.staff()).await.status(), 200);
    assert_eq!(unchecked(&app).await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_never_answers_costs_a_request_its_timeout_only() {
    let Some(url) = redis_url() else { return };
    let keys = Keys::new(&url);
    // Accepts connections and never says a word.
    let silent = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let app = instance(&format!("redis://127.0.0.1:{port}/"), &keys, |c| {
        c.rate_limit_partner = 100;
        c.redis_timeout = Duration::from_millis(100);
    })
    .await;
    let pos = app.token(Role::Partner, "pos", &[]);
    let started = Instant::now();
    for _ in 0..3 {
        assert_eq!(ask(&app, &pos).await.status(), 200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(unchecked(&app).await, 3.0);
    held.abort();
}
