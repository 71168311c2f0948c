//! `/metrics` in the Prometheus text format: GraphQL requests by outcome,
//! their latency and SQL statements per request as histograms, the
//! statement totals per pool (the primary and each read replica), and the
//! replicas' health.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::HttpState;
use crate::db::replicas::ReplicaStatus;
use crate::graphql::Outcome;

const OUTCOMES: [Outcome; 5] = [
    Outcome::Ok,
    Outcome::PartialErrors,
    Outcome::Invalid,
    Outcome::TooComplex,
    Outcome::Timeout,
];

const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];
const STATEMENT_BUCKETS: [f64; 8] = [1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 50.0, 100.0];

/// A cumulative histogram with fixed buckets.
#[derive(Debug)]
struct Histogram<const N: usize> {
    bounds: [f64; N],
    counts: [AtomicU64; N],
    count: AtomicU64,
    /// Sum in millionths, to stay an integer.
    sum_micros: AtomicU64,
}

impl<const N: usize> Histogram<N> {
    fn new(bounds: [f64; N]) -> Self {
        Histogram {
            bounds,
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    fn observe(&self, value: f64) {
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            if value <= *bound {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add((value * 1_000_000.0) as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        let total = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {total}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1_000_000.0
        );
        let _ = writeln!(out, "{name}_count {total}");
    }
}

#[derive(Debug)]
pub struct Metrics {
    requests: [AtomicU64; OUTCOMES.len()],
    latency: Histogram<{ LATENCY_BUCKETS.len() }>,
    statements: Histogram<{ STATEMENT_BUCKETS.len() }>,
    rate_limited: AtomicU64,
    /// Requests the shared limiter could not check because Redis did not
    /// answer (let through or refused by `--redis-down`).
    rate_limit_unchecked: AtomicU64,
    /// Lists of leaf items written as JSON, and resolved by the executor
    /// (`graphql::leaves`).
    leaf_lists: [AtomicU64; 2],
    /// Webhook delivery outcomes, counted by the sender.
    pub webhooks: crate::webhooks::Counters,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: std::array::from_fn(|_| AtomicU64::new(0)),
            latency: Histogram::new(LATENCY_BUCKETS),
            statements: Histogram::new(STATEMENT_BUCKETS),
            rate_limited: AtomicU64::new(0),
            rate_limit_unchecked: AtomicU64::new(0),
            leaf_lists: Default::default(),
            webhooks: Default::default(),
        }
    }
}

impl Metrics {
    pub fn observe(&self, outcome: Outcome, elapsed: Duration, statements: u64) {
        if let Some(i) = OUTCOMES.iter().position(|o| *o == outcome) {
            self.requests[i].fetch_add(1, Ordering::Relaxed);
        }
        self.latency.observe(elapsed.as_secs_f64());
        self.statements.observe(statements as f64);
    }

    /// A request refused with 429.
    pub fn rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    /// A list of leaf items or a customer answered, as JSON in one pass or
    /// by the executor.
    pub fn leaf_list(&self, as_json: bool) {
        self.leaf_lists[usize::from(!as_json)].fetch_add(1, Ordering::Relaxed);
    }

    /// A request the shared limiter could not check.
    pub fn rate_limit_unchecked(&self) {
        self.rate_limit_unchecked.fetch_add(1, Ordering::Relaxed);
    }
}

/// A count a pool's statistics keep.
type Counter = fn(&crate::db::SqlStats) -> u64;

/// Statements per pool (`primary`, `replica-0`, …) and each replica's
/// health as its last check found it.
fn render_pools(app: &crate::app::App, out: &mut String) {
    let replicas = app.replicas.status();
    let pools: Vec<(&str, &crate::db::SqlStats)> = std::iter::once(("primary", &*app.store.stats))
        .chain(replicas.iter().map(|r| (r.name.as_str(), &*r.stats)))
        .collect();
    let counters: [(&str, &str, Counter); 3] = [
        (
            "c360_sql_statements_total",
            "SQL statements run since start, per pool.",
            crate::db::SqlStats::statements,
        ),
        (
            "c360_sql_statement_errors_total",
            "SQL statements that failed, per pool.",
            crate::db::SqlStats::failed,
        ),
        (
            "c360_sql_split_reruns_total",
            "Levels a lone request sent as two statements whose pages differed, run again as one.",
            crate::db::SqlStats::reruns,
        ),
    ];
    for (name, help, value) in counters {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for (pool, stats) in &pools {
            let _ = writeln!(out, "{name}{{pool=\"{pool}\"}} {}", value(stats));
        }
    }
    if replicas.is_empty() {
        return;
    }
    let flag = |on: bool| Some(if on { 1.0 } else { 0.0 });
    gauge(
        out,
        "c360_db_replica_up",
        "Whether the read replica answered its last check.",
        &replicas,
        |r| flag(r.up),
    );
    gauge(
        out,
        "c360_db_replica_lag_seconds",
        "Replay lag the read replica reported at its last check.",
        &replicas,
        |r| r.lag_seconds,
    );
    gauge(
        out,
        "c360_db_replica_in_use",
        "Whether queries go to the read replica (it answers and lags at most --replica-max-lag).",
        &replicas,
        |r| flag(r.used),
    );
}

/// One gauge with a sample per replica; a replica without a value (a lag
/// not known) has no sample.
fn gauge(
    out: &mut String,
    name: &str,
    help: &str,
    replicas: &[ReplicaStatus],
    value: impl Fn(&ReplicaStatus) -> Option<f64>,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    for replica in replicas {
        if let Some(v) = value(replica) {
            let _ = writeln!(out, "{name}{{pool=\"{}\"}} {v}", replica.name);
        }
    }
}

pub async fn metrics(State(state): State<HttpState>) -> impl IntoResponse {
    let m = &state.app.metrics;
    let mut out = String::with_capacity(4096);
    let _ = writeln!(
        out,
        "# HELP c360_graphql_requests_total GraphQL requests by outcome.\n# TYPE c360_graphql_requests_total counter"
    );
    for (outcome, count) in OUTCOMES.iter().zip(&m.requests) {
        let _ = writeln!(
            out,
            "c360_graphql_requests_total{{outcome=\"{}\"}} {}",
            outcome.label(),
            count.load(Ordering::Relaxed)
        );
    }
    m.latency.render(
        &mut out,
        "c360_graphql_request_duration_seconds",
        "Time to execute a GraphQL request.",
    );
    m.statements.render(
        &mut out,
        "c360_graphql_sql_statements",
        "SQL statements issued by one GraphQL request.",
    );
    let _ = writeln!(
        out,
        "# HELP c360_rate_limited_total Requests refused with 429 by the rate limiter.\n# TYPE c360_rate_limited_total counter\nc360_rate_limited_total {}",
        m.rate_limited.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP c360_rate_limit_unchecked_total Requests the shared rate limiter could not check because Redis did not answer.\n# TYPE c360_rate_limit_unchecked_total counter\nc360_rate_limit_unchecked_total {}",
        m.rate_limit_unchecked.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP c360_graphql_leaf_lists_total Lists of leaf items (customers, orders, order lines, tickets, ticket messages, ledger rows, reviews, referrals, NPS answers) and single customers, outermost first, by how they were answered: written as JSON in one pass, or by the executor (a fragment, directive or field that needs more in the selection, or --leaf-json false).\n# TYPE c360_graphql_leaf_lists_total counter\nc360_graphql_leaf_lists_total{{path=\"json\"}} {}\nc360_graphql_leaf_lists_total{{path=\"executor\"}} {}",
        m.leaf_lists[0].load(Ordering::Relaxed),
        m.leaf_lists[1].load(Ordering::Relaxed)
    );
    render_pools(&state.app, &mut out);
    let executions = &state.app.executions;
    let _ = writeln!(
        out,
        "# HELP c360_graphql_requests_in_flight GraphQL requests executing, and waiting for a slot (C360_MAX_CONCURRENT_REQUESTS).\n# TYPE c360_graphql_requests_in_flight gauge\n\
         c360_graphql_requests_in_flight{{state=\"running\"}} {}\nc360_graphql_requests_in_flight{{state=\"waiting\"}} {}",
        executions.running(),
        executions.waiting()
    );
    let pool = state.app.store.pool_usage();
    let _ = writeln!(
        out,
        "# HELP c360_db_pool_connections Pooled database connections by state.\n# TYPE c360_db_pool_connections gauge\n\
         c360_db_pool_connections{{state=\"in_use\"}} {}\nc360_db_pool_connections{{state=\"idle\"}} {}\n\
         # HELP c360_db_pool_max_connections Largest size the pool may grow to.\n# TYPE c360_db_pool_max_connections gauge\n\
         c360_db_pool_max_connections {}",
        pool.in_use(),
        pool.idle,
        pool.max
    );
    crate::webhooks::metrics::render(&state.app, &mut out);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}
