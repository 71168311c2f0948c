//! The closed-loop load generator: a fixed number of workers, each sending
//! its next request as soon as the last one is answered.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::Args;
use crate::scenario::{Scenario, Workload};
use crate::server::Server;

/// What one measurement saw.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    pub requests: u64,
    /// Non-200 answers and 200s carrying `errors`.
    pub failures: u64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Mean SQL statements per request, from the server's histogram.
    pub statements: Option<f64>,
    /// With a read replica: the share of the requests' statements it ran.
    pub replica_share: Option<f64>,
    pub peak_rss: Option<u64>,
}

/// Latencies in microseconds, and failures.
pub struct WorkerResult {
    pub latencies: Vec<u32>,
    pub failures: u64,
}

pub fn summarise(results: Vec<WorkerResult>, elapsed: Duration) -> Measured {
    let failures = results.iter().map(|r| r.failures).sum();
    let mut all: Vec<u32> = results.into_iter().flat_map(|r| r.latencies).collect();
    all.sort_unstable();
    let pick = |q: f64| -> f64 {
        if all.is_empty() {
            return 0.0;
        }
        let i = ((all.len() as f64 * q).ceil() as usize).clamp(1, all.len()) - 1;
        f64::from(all[i]) / 1000.0
    };
    Measured {
        requests: all.len() as u64,
        failures,
        rps: all.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: pick(0.50),
        p99_ms: pick(0.99),
        statements: None,
        replica_share: None,
        peak_rss: None,
    }
}

async fn worker(
    target: Arc<Shared>,
    scenario: Scenario,
    workload: Arc<Workload>,
    seed: u64,
    until: Instant,
) -> WorkerResult {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut latencies = Vec::with_capacity(4096);
    let mut failures = 0;
    while Instant::now() < until {
        let body = scenario.body(&mut rng, &workload).to_string();
        let started = Instant::now();
        let mut request = target
            .client
            .post(&target.url)
            .header("content-type", "application/json")
            .header("accept", "application/graphql-response+json");
        if let Some(token) = &target.token {
            request = request.bearer_auth(token);
        }
        let answer = match request.body(body.clone()).send().await {
            Ok(resp) => {
                let status = resp.status();
                match resp.bytes().await {
                    Ok(bytes) if status.is_success() && !contains(&bytes, b"\"errors\"") => Ok(()),
                    Ok(bytes) => Err(format!("{status} {}", String::from_utf8_lossy(&bytes))),
                    Err(e) => Err(e.to_string()),
                }
            }
            Err(e) => Err(e.to_string()),
        };
        let micros = started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
        match answer {
            Ok(()) => latencies.push(micros),
            Err(answer) => {
                failures += 1;
                if !target.reported.swap(true, Ordering::Relaxed) {
                    eprintln!(
                        "first failure on {}: {body}\n  -> {}",
                        scenario.name(),
                        answer.chars().take(500).collect::<String>()
                    );
                }
            }
        }
    }
    WorkerResult {
        latencies,
        failures,
    }
}

/// Searched with `memchr`'s substring search rather than by comparing every
/// window of the answer: the load generator's time is taken from the cores
/// the server under test runs on.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

/// Where requests go: c360's `/graphql` or an endpoint this bench did not start.
pub struct Target<'a> {
    pub client: reqwest::Client,
    pub url: String,
    pub token: Option<String>,
    /// The serving process, for its peak RSS.
    pub pid: Option<u32>,
    /// c360 itself, for the statements-per-request histogram in `/metrics`.
    pub server: Option<&'a Server>,
}

/// What the workers share.
struct Shared {
    client: reqwest::Client,
    url: String,
    token: Option<String>,
    reported: AtomicBool,
}

async fn round(
    target: &Arc<Shared>,
    scenario: Scenario,
    concurrency: usize,
    workload: &Arc<Workload>,
    length: Duration,
    seed: u64,
) -> (Vec<WorkerResult>, Duration) {
    let started = Instant::now();
    let until = started + length;
    let handles: Vec<_> = (0..concurrency)
        .map(|w| {
            tokio::spawn(worker(
                target.clone(),
                scenario,
                workload.clone(),
                seed ^ (w as u64) << 20,
                until,
            ))
        })
        .collect();
    let mut results = Vec::with_capacity(concurrency);
    for h in handles {
        if let Ok(r) = h.await {
            results.push(r);
        }
    }
    (results, started.elapsed())
}

pub async fn run(
    args: &Args,
    target: &Target<'_>,
    scenario: Scenario,
    concurrency: usize,
    workload: &Arc<Workload>,
) -> anyhow::Result<Measured> {
    let shared = Arc::new(Shared {
        client: target.client.clone(),
        url: target.url.clone(),
        token: target.token.clone(),
        reported: AtomicBool::new(false),
    });
    round(
        &shared,
        scenario,
        concurrency,
        workload,
        args.warmup,
        args.seed,
    )
    .await;

    let before = match target.server {
        Some(s) => Some(s.statement_totals().await?),
        None => None,
    };
    let peak = Arc::new(AtomicU64::new(0));
    let sampling = Arc::new(AtomicBool::new(true));
    let pid = target.pid;
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                if let Some(rss) = pid.and_then(rss_of) {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let (results, elapsed) = round(
        &shared,
        scenario,
        concurrency,
        workload,
        args.duration,
        args.seed + 1,
    )
    .await;
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.await;

    let mut measured = summarise(results, elapsed);
    if let (Some(server), Some((sum_before, count_before, replica_before))) =
        (target.server, before)
    {
        let (sum_after, count_after, replica_after) = server.statement_totals().await?;
        let requests = count_after - count_before;
        if requests > 0.0 {
            measured.statements = Some((sum_after - sum_before) / requests);
        }
        let statements = sum_after - sum_before;
        if server.reads_replica && statements > 0.0 {
            measured.replica_share = Some((replica_after - replica_before) / statements);
        }
    }
    measured.peak_rss = Some(peak.load(Ordering::Relaxed)).filter(|p| *p > 0);
    Ok(measured)
}

pub fn rss_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
