//! Signed webhooks fed by the outbox (`docs/ARCHITECTURE.md`, "Webhooks").
//! A layer beside `events`: it reads the outbox `events` owns and never
//! writes it; the services know nothing of it.
//!
//! - [`endpoints`]: the endpoints partners and staff register, who may
//!   manage which, their validation, secrets and rotation, the delivery
//!   log, retry and replay;
//! - [`dispatch`]: outbox events → deliveries, following each endpoint's
//!   cursor in commit order, in one transaction per batch;
//! - [`send`]: due deliveries → signed POSTs, in order per customer, a
//!   bounded number in flight per endpoint, retried on [`retry`]'s
//!   schedule;
//! - [`signing`]: the Standard Webhooks signature and secrets;
//! - [`address`]: where endpoints may point (SSRF).
//!
//! `serve` runs the dispatcher and the sender as background jobs
//! ([`jobs`]); `c360 webhooks listen` receives and verifies deliveries
//! for development.

pub mod address;
pub mod dispatch;
pub mod endpoints;
pub mod metrics;
pub mod retry;
pub mod send;
pub mod signing;

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::task::JoinHandle;

use crate::app::AppState;

/// The state of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
#[graphql(name = "WebhookDeliveryStatus")]
pub enum Status {
    /// Waiting for its next attempt (or its first).
    Pending,
    /// An attempt got a 2xx answer.
    Delivered,
    /// Every attempt of the schedule failed, or the endpoint answered 410.
    Failed,
}

impl Status {
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "PENDING",
            Status::Delivered => "DELIVERED",
            Status::Failed => "FAILED",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        [Status::Pending, Status::Delivered, Status::Failed]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// Delivery outcomes since start, for `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    delivered: AtomicU64,
    retried: AtomicU64,
    failed: AtomicU64,
    disabled: AtomicU64,
    /// The backlog as the dispatcher last read it.
    gauges: std::sync::Mutex<Option<metrics::Gauges>>,
}

impl Counters {
    fn set_gauges(&self, gauges: metrics::Gauges) {
        *self.gauges.lock().unwrap_or_else(|p| p.into_inner()) = Some(gauges);
    }

    pub fn gauges(&self) -> Option<metrics::Gauges> {
        *self.gauges.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn delivered(&self) {
        self.delivered.fetch_add(1, Ordering::Relaxed);
    }
    fn retried(&self) {
        self.retried.fetch_add(1, Ordering::Relaxed);
    }
    fn failed(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }
    fn disabled(&self) {
        self.disabled.fetch_add(1, Ordering::Relaxed);
    }

    /// (delivered, retries scheduled, failed for good, endpoints disabled
    /// by the sender).
    pub fn totals(&self) -> (u64, u64, u64, u64) {
        (
            self.delivered.load(Ordering::Relaxed),
            self.retried.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            self.disabled.load(Ordering::Relaxed),
        )
    }
}

/// The webhook jobs of `serve`: the dispatcher every poll interval, and
/// the sender; none when the interval is zero.
pub fn jobs(app: &AppState) -> Vec<JoinHandle<()>> {
    let period = app.config.webhooks_poll_interval;
    if period.is_zero() {
        return Vec::new();
    }
    let dispatcher = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut gauges_read: Option<tokio::time::Instant> = None;
            loop {
                ticks.tick().await;
                if gauges_read.is_none_or(|at| at.elapsed() >= metrics::GAUGE_PERIOD) {
                    match metrics::read_gauges(&app).await {
                        Ok(g) => app.metrics.webhooks.set_gauges(g),
                        Err(e) => tracing::warn!(error = %e, "webhook gauges not read"),
                    }
                    gauges_read = Some(tokio::time::Instant::now());
                }
                let first = app
                    .config
                    .webhooks_retry_schedule
                    .first()
                    .copied()
                    .unwrap_or_default();
                let first = chrono::TimeDelta::from_std(first).unwrap_or_default();
                if let Err(e) =
                    dispatch::dispatch(&app.store.conn, app.clock.now_secs(), first).await
                {
                    tracing::warn!(error = %e, "webhook dispatch failed; retrying next interval");
                }
            }
        })
    };
    let sender = tokio::spawn(send::run(app.clone()));
    vec![dispatcher, sender]
}
