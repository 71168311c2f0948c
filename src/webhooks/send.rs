//! The sender: claims due deliveries and posts them.
//!
//! A delivery is due when PENDING with `next_attempt_at <= now` (the app's
//! clock) and no earlier delivery of the same endpoint and customer is
//! still PENDING: a customer's events reach an endpoint in outbox order,
//! one at a time, even across retries. At most `webhooks_max_in_flight`
//! deliveries of one endpoint are leased at once, so a slow endpoint holds
//! back only its own. Claiming sets a lease; on PostgreSQL the claim locks
//! its rows `FOR UPDATE SKIP LOCKED`, so two `serve` instances never post
//! the same delivery at once (SQLite has one writer). A sender that dies
//! mid-request leaves a lease that runs out, and the delivery is tried
//! again: deliveries are at least once, and `webhook-id` lets receivers
//! drop the repeat.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use c360_entity::{event, webhook_delivery, webhook_endpoint};
use chrono::{DateTime, TimeDelta, Utc};
use reqwest::{StatusCode, Url};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, FromQueryResult, QueryFilter, Set,
    Statement,
    sea_query::{Expr, Func},
};
use serde_json::{Value, json};

use super::Status;
use super::address::{self, Policy};
use super::retry::{delay_before, due_at, jittered, parse_retry_after};
use super::signing::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, signature_header};
use crate::app::AppState;
use crate::error::{AppError, AppResult};

/// Candidates read per claim round.
const CANDIDATES: i64 = 200;

/// Bytes of a response body kept in the delivery log.
pub const EXCERPT_BYTES: usize = 1024;

#[derive(Debug, FromQueryResult)]
struct Candidate {
    id: i64,
}

/// How long a claim holds a delivery: past the longest a request may
/// take, so a live sender's lease never runs out under it.
fn lease(app: &AppState) -> TimeDelta {
    let request = app.config.webhooks_connect_timeout + app.config.webhooks_timeout;
    TimeDelta::from_std(request).unwrap_or(TimeDelta::MAX) + TimeDelta::seconds(30)
}

/// Claims the due deliveries this round may send, leasing them.
pub async fn claim(app: &AppState) -> AppResult<Vec<webhook_delivery::Model>> {
    let db = &app.store.conn;
    let backend = db.get_database_backend();
    let now = app.clock.now_secs();
    let cap = i64::from(app.config.webhooks_max_in_flight);
    // One pass over the PENDING deliveries of enabled endpoints: the first
    // of each customer's line (`in_line`; a delivery without a customer
    // is a line of its own) may go if it is due and not leased, and each
    // endpoint offers no more of those than its free slots (`nth` after
    // the `leased` ones). The cost follows the backlog, not the log: the
    // former "no earlier PENDING one" probe walked each customer's
    // delivered history for every candidate, so claims slowed as the log
    // grew (in a debug build, 9,177 of a 10,000-order burst had arrived
    // after 10 minutes; now all of it in under 3). And without the
    // per-endpoint bound, an endpoint with over `CANDIDATES` customers
    // waiting behind a receiver that hangs filled every round's
    // candidates and starved the endpoints whose events came later.
    let candidates = Candidate::find_by_statement(Statement::from_sql_and_values(
        backend,
        "WITH pending AS (
           SELECT d.id, d.endpoint_id, d.event_position, d.next_attempt_at, d.lease_until,
                  ROW_NUMBER() OVER (PARTITION BY d.endpoint_id, COALESCE(d.customer_id, -d.id)
                                     ORDER BY d.event_position) AS in_line,
                  COUNT(CASE WHEN d.lease_until > $1 THEN 1 END)
                    OVER (PARTITION BY d.endpoint_id) AS leased
           FROM webhook_deliveries d
           JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.disabled_at IS NULL
           WHERE d.status = 'PENDING'
         ), heads AS (
           SELECT id, event_position, leased,
                  ROW_NUMBER() OVER (PARTITION BY endpoint_id ORDER BY event_position) AS nth
           FROM pending
           WHERE in_line = 1 AND next_attempt_at <= $1
             AND (lease_until IS NULL OR lease_until <= $1)
         )
         SELECT id FROM heads WHERE nth + leased <= $3
         ORDER BY event_position LIMIT $2",
        [now.into(), CANDIDATES.into(), cap.into()],
    ))
    .all(db)
    .await?;
    let ids: Vec<i64> = candidates.into_iter().map(|c| c.id).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = ids
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let lock = match backend {
        DatabaseBackend::Postgres => "FOR UPDATE SKIP LOCKED",
        _ => "",
    };
    // The condition is checked again under the lock: a delivery another
    // sender claimed since the candidates were read is left alone.
    let sql = format!(
        "UPDATE webhook_deliveries SET lease_until = $1
         WHERE id IN (SELECT id FROM webhook_deliveries
              WHERE id IN ({list}) AND status = 'PENDING'
                AND (lease_until IS NULL OR lease_until <= $2) {lock})
         RETURNING *"
    );
    let until = now + lease(app);
    let mut claimed = webhook_delivery::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(
            backend,
            sql,
            [until.into(), now.into()],
        ))
        .all(db)
        .await?;
    claimed.sort_by_key(|d| d.event_position);
    Ok(claimed)
}

/// The body of a delivery, by the Standard Webhooks convention: `type`,
/// `timestamp` (when the event occurred) and `data`, the event's payload
/// with its `id`.
pub fn body(event: &event::Model) -> Value {
    let mut data = event.data.clone();
    if let Value::Object(fields) = &mut data {
        fields.insert("id".into(), Value::String(event.id.clone()));
    }
    json!({
        "type": event.event_type,
        "timestamp": event.occurred_at.to_rfc3339(),
        "data": data,
    })
}

/// The secrets that sign at `now`: the current one, and the previous one
/// while its rotation overlap lasts.
pub fn signing_secrets(endpoint: &webhook_endpoint::Model, now: DateTime<Utc>) -> Vec<&str> {
    let mut secrets = vec![endpoint.secret.as_str()];
    if let (Some(previous), Some(until)) = (
        &endpoint.previous_secret,
        endpoint.previous_secret_expires_at,
    ) && until > now
    {
        secrets.push(previous);
    }
    secrets
}

/// What one attempt came to.
#[derive(Debug)]
struct Attempt {
    status: Option<StatusCode>,
    retry_after: Option<Duration>,
    error: Option<String>,
    excerpt: Option<String>,
    latency: Duration,
}

/// Posts `delivery` once and records the outcome, in a span of its own
/// when traces are exported.
pub async fn attempt(
    app: &AppState,
    clients: &Clients,
    delivery: webhook_delivery::Model,
) -> AppResult<()> {
    use tracing::Instrument;
    let span = crate::telemetry::delivery_span(delivery.endpoint_id, &delivery.event_id);
    attempt_once(app, clients, delivery).instrument(span).await
}

async fn attempt_once(
    app: &AppState,
    clients: &Clients,
    delivery: webhook_delivery::Model,
) -> AppResult<()> {
    let db = &app.store.conn;
    let endpoint = webhook_endpoint::Entity::find_by_id(delivery.endpoint_id)
        .one(db)
        .await?;
    let event = event::Entity::find()
        .filter(event::Column::Id.eq(&delivery.event_id))
        .one(db)
        .await?;
    let (Some(endpoint), Some(event)) = (endpoint, event) else {
        return Err(AppError::Internal(anyhow::anyhow!(
            "delivery {} has lost its endpoint or event",
            delivery.id
        )));
    };
    if endpoint.disabled_at.is_some() {
        // Disabled since the claim: leave it PENDING for when it comes back.
        release(db, delivery.id).await?;
        return Ok(());
    }
    let outcome = post(app, clients, &endpoint, &event).await;
    record(app, &endpoint, &delivery, outcome).await
}

/// Checks the endpoint's addresses again, then posts the event, pinned to
/// a checked address.
async fn post(
    app: &AppState,
    clients: &Clients,
    endpoint: &webhook_endpoint::Model,
    event: &event::Model,
) -> Attempt {
    let started = Instant::now();
    let failed = |error: String| Attempt {
        status: None,
        retry_after: None,
        error: Some(error),
        excerpt: None,
        latency: started.elapsed(),
    };
    let policy = Policy::from_config(&app.config);
    let url = match address::parse("url", &endpoint.url, policy) {
        Ok(url) => url,
        Err(e) => return failed(e.to_string()),
    };
    let addrs = match address::resolve("url", &url, policy).await {
        Ok(addrs) => addrs,
        Err(e) => return failed(e.to_string()),
    };
    let client = match clients.pinned(app, &url, addrs) {
        Ok(client) => client,
        Err(e) => return failed(e.to_string()),
    };
    let payload = body(event).to_string();
    // The wall clock, not the app's: receivers check it against theirs.
    let timestamp = Utc::now().timestamp();
    let now = app.clock.now();
    let signature = match signature_header(
        &signing_secrets(endpoint, now),
        &event.id,
        timestamp,
        payload.as_bytes(),
    ) {
        Ok(s) => s,
        Err(e) => return failed(e.to_string()),
    };
    let sent = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::USER_AGENT, "c360-webhooks")
        .header(HEADER_ID, &event.id)
        .header(HEADER_TIMESTAMP, timestamp.to_string())
        .header(HEADER_SIGNATURE, signature)
        .body(payload)
        .send()
        .await;
    let mut response = match sent {
        Ok(r) => r,
        Err(e) => return failed(describe(&e)),
    };
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, Utc::now()));
    // Only the first KiB is kept; the rest is never read.
    let mut excerpt = Vec::with_capacity(EXCERPT_BYTES);
    let mut error = None;
    while excerpt.len() < EXCERPT_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = EXCERPT_BYTES - excerpt.len();
                excerpt.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(None) => break,
            Err(e) => {
                error = Some(describe(&e));
                break;
            }
        }
    }
    Attempt {
        status: Some(status),
        retry_after,
        error,
        excerpt: Some(String::from_utf8_lossy(&excerpt).into_owned()),
        latency: started.elapsed(),
    }
}

/// Most pinned clients kept; past it the cache starts over.
const PINNED_CLIENTS: usize = 256;

/// The sender's HTTP clients: one for hosts that are addresses already
/// (nothing to pin), and one per host name and set of checked addresses,
/// kept while DNS gives the same answer. A client built per delivery
/// reconnected (and, over https, handshook) every time: 10,000 deliveries
/// to `localhost` took 93 s with one, 74 s with these (debug build, as to
/// `127.0.0.1`). Pinning stays exact: a new answer gets its own client.
pub struct Clients {
    shared: reqwest::Client,
    pinned: Mutex<HashMap<(String, Vec<SocketAddr>), reqwest::Client>>,
}

impl Clients {
    pub fn new(app: &AppState) -> AppResult<Clients> {
        Ok(Clients {
            shared: build(client_builder(app))?,
            pinned: Mutex::default(),
        })
    }

    /// A client that connects to `addrs` for `url`'s host.
    fn pinned(
        &self,
        app: &AppState,
        url: &Url,
        mut addrs: Vec<SocketAddr>,
    ) -> AppResult<reqwest::Client> {
        let host = url.host_str().unwrap_or_default();
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if literal.parse::<std::net::IpAddr>().is_ok() {
            return Ok(self.shared.clone());
        }
        addrs.sort_unstable();
        let key = (host.to_owned(), addrs);
        let mut pinned = self.pinned.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = pinned.get(&key) {
            return Ok(client.clone());
        }
        let client = build(client_builder(app).resolve_to_addrs(host, &key.1))?;
        if pinned.len() >= PINNED_CLIENTS {
            pinned.clear();
        }
        pinned.insert(key, client.clone());
        Ok(client)
    }
}

fn build(builder: reqwest::ClientBuilder) -> AppResult<reqwest::Client> {
    builder
        .build()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("webhook client: {e}")))
}

/// The client settings every delivery uses: the configured timeouts, no
/// redirects (a redirect would lead past the address check), no proxy
/// from the environment.
pub fn client_builder(app: &AppState) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(app.config.webhooks_connect_timeout)
        .timeout(app.config.webhooks_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
}

/// An HTTP client error in a line, without the URL (already in the log).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    if cause.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {cause}")
    }
}

/// Gives a claimed delivery back untouched.
async fn release(db: &impl ConnectionTrait, id: i64) -> AppResult<()> {
    webhook_delivery::Entity::update_many()
        .col_expr(
            webhook_delivery::Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(webhook_delivery::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Stores an attempt's outcome on the delivery and the endpoint's health.
async fn record(
    app: &AppState,
    endpoint: &webhook_endpoint::Model,
    delivery: &webhook_delivery::Model,
    attempt: Attempt,
) -> AppResult<()> {
    let db = &app.store.conn;
    let now = app.clock.now_secs();
    let attempts = delivery.attempts + 1;
    let counters = &app.metrics.webhooks;
    let mut row = webhook_delivery::ActiveModel {
        id: Set(delivery.id),
        attempts: Set(attempts),
        lease_until: Set(None),
        last_status: Set(attempt.status.map(|s| i32::from(s.as_u16()))),
        last_error: Set(attempt.error.clone().map(|e| truncate(e, 500))),
        last_latency_ms: Set(Some(
            i32::try_from(attempt.latency.as_millis()).unwrap_or(i32::MAX),
        )),
        response_excerpt: Set(attempt.excerpt.clone()),
        ..Default::default()
    };
    let success = attempt.status.is_some_and(|s| s.is_success()) && attempt.error.is_none();
    let mut disable: Option<String> = None;
    if success {
        row.status = Set(Status::Delivered.as_str().to_owned());
        row.delivered_at = Set(Some(now));
        counters.delivered();
    } else if attempt.status == Some(StatusCode::GONE) {
        row.status = Set(Status::Failed.as_str().to_owned());
        row.last_error = Set(Some("the endpoint answered 410 Gone".into()));
        disable = Some("the endpoint answered 410 Gone".into());
        counters.failed();
    } else {
        let honoured = match attempt.status {
            Some(StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE) => {
                attempt.retry_after
            }
            _ => None,
        };
        let next = usize::try_from(attempts).unwrap_or(usize::MAX) + 1;
        match delay_before(&app.config.webhooks_retry_schedule, next) {
            Some(delay) => {
                // The endpoint's own word on when to come back beats the
                // schedule; it is exact, so no jitter.
                let wait = honoured.unwrap_or_else(|| jittered(delay));
                row.next_attempt_at = Set(due_at(app.clock.now(), wait));
                counters.retried();
            }
            None => {
                row.status = Set(Status::Failed.as_str().to_owned());
                counters.failed();
            }
        }
        if row.last_error.as_ref().is_none() {
            row.last_error = Set(attempt.status.map(|s| format!("HTTP {}", s.as_u16())));
        }
        let since = endpoint.failing_since.unwrap_or(now);
        let limit =
            TimeDelta::from_std(app.config.webhooks_disable_after).unwrap_or(TimeDelta::MAX);
        if now - since >= limit {
            disable = Some(format!(
                "every attempt has failed since {} (over {})",
                since.to_rfc3339(),
                humantime::format_duration(app.config.webhooks_disable_after)
            ));
        }
    }
    // The delivery and the endpoint's health change together: a reader
    // never sees a delivered attempt on an endpoint still failing.
    let txn = crate::db::begin_write(db).await?;
    webhook_delivery::Entity::update(row).exec(&txn).await?;
    let mut health = webhook_endpoint::Entity::update_many()
        .filter(webhook_endpoint::Column::Id.eq(endpoint.id));
    if success {
        // Cleared in the store, not by the endpoint read before the post:
        // another delivery may have failed meanwhile.
        health = health
            .col_expr(
                webhook_endpoint::Column::FailingSince,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(webhook_endpoint::Column::FailingSince.is_not_null());
    } else {
        // The first failure of a run starts it; later ones keep its start.
        health = health.col_expr(
            webhook_endpoint::Column::FailingSince,
            Func::coalesce([
                Expr::col(webhook_endpoint::Column::FailingSince),
                Expr::value(now),
            ])
            .into(),
        );
    }
    if let Some(reason) = &disable {
        tracing::warn!(endpoint = endpoint.id, url = %endpoint.url, "webhook endpoint disabled: {reason}");
        counters.disabled();
        health = health
            .col_expr(webhook_endpoint::Column::DisabledAt, Expr::value(Some(now)))
            .col_expr(
                webhook_endpoint::Column::DisabledReason,
                Expr::value(Some(reason.clone())),
            )
            .filter(webhook_endpoint::Column::DisabledAt.is_null());
    }
    health.exec(&txn).await?;
    txn.commit().await?;
    Ok(())
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// The sender's loop: claims and posts due deliveries, each in a task of
/// its own, until aborted (which aborts the tasks; their leases run out
/// and the deliveries are tried again). It claims again as soon as a post
/// finishes, so a customer's next event follows without waiting a tick.
pub async fn run(app: AppState) {
    let period = app.config.webhooks_poll_interval;
    let clients = match Clients::new(&app) {
        Ok(c) => std::sync::Arc::new(c),
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook client; webhooks are not sent");
            return;
        }
    };
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        match claim(&app).await {
            Ok(claimed) => {
                for delivery in claimed {
                    let (app, clients) = (app.clone(), clients.clone());
                    tasks.spawn(async move {
                        let id = delivery.id;
                        if let Err(e) = attempt(&app, &clients, delivery).await {
                            tracing::warn!(delivery = id, error = %e, "webhook attempt not recorded");
                        }
                    });
                }
            }
            Err(e) => tracing::warn!(error = %e, "claiming webhook deliveries failed"),
        }
        if tasks.is_empty() {
            tokio::time::sleep(period).await;
        } else {
            tokio::select! {
                _ = tasks.join_next() => {}
                () = tokio::time::sleep(period) => {}
            }
        }
    }
}
