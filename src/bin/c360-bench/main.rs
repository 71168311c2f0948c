//! `c360-bench`: measures the gateway against the cost of the SQL it runs.
//!
//! For each store it seeds (or reuses) a data set, starts `c360 serve` as a
//! child process, and drives each scenario with a closed-loop load generator
//! at each concurrency: requests per second, p50 and p99 latency, SQL
//! statements per request and the server's peak RSS. Beside each row, the
//! floor: the very statements the gateway issued for the same requests,
//! replayed on one connection per worker without GraphQL.
//!
//! With `--postgraphile-url`, the scenarios `postgraphile-profile` and
//! `postgraphile-list` send the profile and the list, written in
//! PostGraphile's generated schema, to a PostGraphile serving the same
//! PostgreSQL database (`bench/postgraphile/run.sh`). Named with its c360
//! counterpart (`profile`, `list`), each runs right after it at each
//! concurrency, and a second table compares the two: req/s, p50 and p99 of
//! both, their ratio, and c360 against the floor.
//!
//! With `--rounds N`, each scenario is measured N times at each
//! concurrency, c360's and its PostGraphile counterpart's alternating, and
//! the tables show each scenario's median round by req/s, with the ratio of
//! every round beside it. One command measures the whole comparison:
//!
//! ```sh
//! bench/postgraphile/run.sh &
//! ./target/release/c360-bench --store postgres --customers 100000 \
//!   --scenario profile,postgraphile-profile,list,postgraphile-list \
//!   --postgraphile-url http://127.0.0.1:5678/graphql \
//!   --concurrency 1,16,64 --rounds 3 --duration 8s --warmup 2s
//! ```
//!
//! The scenario `segment-track` sends no requests: it times a tracked
//! segment's fill and re-evaluations in-process and reports events per
//! second (`track`).
//!
//! The scenario `clv-fit` sends none either: it times the lifetime-value
//! refresh in-process and compares the fit with the seed's processes (`clv`).
//!
//! The scenario `import` times `c360 import orders` on fresh stores of its
//! own (`import`); named alone, nothing is seeded and no server starts.
//!
//! The scenario `webhooks-burst` ingests 10,000 orders at once and reports
//! how fast a webhook receiver on loopback gets them (`burst`).
//!
//! The scenario `live-latency` starts a second server on the same
//! PostgreSQL database and times orders ingested through the first until a
//! GraphQL subscriber on the second receives them (`live`).
//!
//! With `--postgres-replica-url`, the PostgreSQL servers read from a
//! streaming replica of the data set's server, and each row reports the
//! share of statements the replica ran.
//!
//! ```sh
//! cargo run --release --bin c360-bench -- --store sqlite --customers 100000
//! ```

mod burst;
mod clv;
mod floor;
mod import;
mod live;
mod load;
mod postgraphile;
mod report;
mod scenario;
mod server;
mod store;
mod track;

use std::sync::Arc;
use std::time::Duration;

use c360::config::CombinePages;
use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    Sqlite,
    Postgres,
}

#[derive(Debug, Parser)]
#[command(
    name = "c360-bench",
    about = "Benchmarks c360 against the raw SQL it runs"
)]
pub struct Args {
    /// Stores to measure.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "sqlite,postgres"
    )]
    pub store: Vec<StoreKind>,
    /// Customers in the data set (about six orders each).
    #[arg(long, default_value_t = 100_000)]
    pub customers: u64,
    /// Seed of the data set.
    #[arg(long, default_value_t = 360)]
    pub seed: u64,
    /// Concurrency levels (closed-loop workers).
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    pub concurrency: Vec<usize>,
    /// Scenarios to run. `writes` adds orders and ledger rows to the data
    /// set, so it is left out unless asked for. A PostGraphile scenario named
    /// with its c360 counterpart (`profile` and `postgraphile-profile`,
    /// `list` and `postgraphile-list`) runs right after it at each
    /// concurrency, and the two are compared in a table of their own.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "profile,list,segment-count,segment-page"
    )]
    pub scenario: Vec<scenario::Scenario>,
    /// Measured time per scenario and concurrency.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Unmeasured warm-up before each measurement.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub warmup: Duration,
    /// Measurements of each scenario at each concurrency, back to back (a
    /// c360 scenario, then its PostGraphile counterpart, in each round). The
    /// tables show each scenario's median round by req/s, and the
    /// comparison of c360 with PostGraphile the ratio of every round.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: u32,
    /// Where the SQLite data set lives (kept between runs).
    #[arg(long, default_value = "target/bench")]
    pub data_dir: std::path::PathBuf,
    /// PostgreSQL server; the bench uses (and keeps) its own database on it,
    /// with this URL's parameters. The default leaves TLS off: the server is
    /// on loopback, and PostGraphile's client does not use TLS either.
    #[arg(
        long,
        env = "C360_BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
    )]
    pub postgres_url: String,
    /// A streaming replica of `--postgres-url`'s server: the PostgreSQL
    /// servers read from the same database on it (`--database-read-url`),
    /// and each row reports the share of statements it ran.
    #[arg(long, env = "C360_BENCH_POSTGRES_REPLICA_URL")]
    pub postgres_replica_url: Option<String>,
    /// PostgreSQL database of the data set (default `c360_bench_<customers>`),
    /// e.g. a `CREATE DATABASE … TEMPLATE` copy for the writes.
    #[arg(long)]
    pub pg_database: Option<String>,
    /// A PostGraphile serving the PostgreSQL data set, for the scenarios
    /// `postgraphile-profile` and `postgraphile-list`, e.g.
    /// `http://127.0.0.1:5678/graphql` (`bench/postgraphile/run.sh`).
    #[arg(long, env = "C360_BENCH_POSTGRAPHILE_URL")]
    pub postgraphile_url: Option<String>,
    /// Re-seed even when a data set of the right size exists.
    #[arg(long)]
    pub reseed: bool,
    /// Skip the raw-SQL floor.
    #[arg(long)]
    pub no_floor: bool,
    /// The `c360` binary to serve with (default: next to this one).
    #[arg(long)]
    pub server_bin: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(s) = args.scenario.iter().find(|s| s.is_postgraphile())
        && args.postgraphile_url.is_none()
    {
        anyhow::bail!("{} needs --postgraphile-url", s.name());
    }
    if args.scenario.contains(&scenario::Scenario::Import) {
        let rows = import::run(&args).await?;
        println!("{}", import::HEADER);
        for row in &rows {
            println!("{row}");
        }
        if args
            .scenario
            .iter()
            .all(|s| *s == scenario::Scenario::Import)
        {
            return Ok(());
        }
    }
    let mut rows = Vec::new();
    let mut comparisons = Vec::new();
    let mut tracked = Vec::new();
    let mut clv_fits = Vec::new();
    let mut bursts = Vec::new();
    let mut latencies = Vec::new();
    for kind in args.store.clone() {
        let prepared = store::prepare(&args, kind).await?;
        eprintln!("{}", prepared.describe());
        let redeemable = if args.scenario.contains(&scenario::Scenario::Writes) {
            prepared.redeemable(scenario::REDEEMABLE_POINTS).await?
        } else {
            Vec::new()
        };
        let workload = Arc::new(scenario::Workload::new(prepared.customers, redeemable));
        // In-process, before the server starts: its scheduler would
        // otherwise evaluate the segment between the timed passes.
        if args.scenario.contains(&scenario::Scenario::SegmentTrack) {
            for step in track::run(&prepared).await? {
                eprintln!("{step}");
                tracked.push(step);
            }
        }
        // In-process too, before the server's own refresh schedule starts.
        if args.scenario.contains(&scenario::Scenario::ClvFit) {
            let row = clv::run(&prepared).await?;
            eprintln!("{row}");
            clv_fits.push(row);
        }
        let server = server::Server::start(&args, &prepared).await?;
        let mut done = Vec::new();
        for scenario in &args.scenario {
            if matches!(
                scenario,
                scenario::Scenario::SegmentTrack
                    | scenario::Scenario::ClvFit
                    | scenario::Scenario::Import
            ) {
                continue;
            }
            if *scenario == scenario::Scenario::LiveLatency {
                if kind != StoreKind::Postgres {
                    eprintln!("live-latency runs on PostgreSQL only; skipped on {kind:?}");
                    continue;
                }
                let latency = live::run(&args, &prepared, &server).await?;
                eprintln!("{latency}");
                latencies.push(latency);
                continue;
            }
            if *scenario == scenario::Scenario::WebhooksBurst {
                let burst = burst::run(&server, kind, prepared.customers, args.seed).await?;
                eprintln!("{burst}");
                bursts.push(burst);
                continue;
            }
            if done.contains(scenario) {
                continue;
            }
            // c360's scenario first, then its PostGraphile counterpart when
            // both are named.
            let mut group = vec![*scenario];
            if let Some(other) = scenario.counterpart()
                && args.scenario.contains(&other)
            {
                group.push(other);
                group.sort_by_key(|s| s.is_postgraphile());
            }
            done.extend(group.iter().copied());
            let mut sides = Vec::new();
            for scenario in group {
                sides.push(Side::new(&args, &prepared, &server, &workload, scenario).await?);
            }
            let sides: Vec<Side> = sides.into_iter().flatten().collect();
            let mut measured: Vec<Vec<report::Row>> = sides.iter().map(|_| Vec::new()).collect();
            for &concurrency in &args.concurrency {
                let mut rounds: Vec<Vec<load::Measured>> =
                    sides.iter().map(|_| Vec::new()).collect();
                for round in 1..=args.rounds {
                    for (side, runs) in sides.iter().zip(&mut rounds) {
                        let gateway =
                            load::run(&args, &side.target, side.scenario, concurrency, &workload)
                                .await?;
                        if args.rounds > 1 {
                            let row = report::Row {
                                store: kind,
                                scenario: side.scenario,
                                concurrency,
                                gateway: gateway.clone(),
                                floor: None,
                            };
                            eprintln!("round {round} of {}: {}", args.rounds, row.markdown());
                        }
                        runs.push(gateway);
                    }
                }
                for ((side, runs), rows) in sides.iter().zip(&rounds).zip(&mut measured) {
                    let floor = match &side.samples {
                        Some((alone, busy)) => {
                            let combined = server_combines().combines(concurrency as u64);
                            let s = if combined { busy } else { alone };
                            Some(floor::run(&args, &prepared, s, concurrency).await?)
                        }
                        None => None,
                    };
                    let row = report::Row {
                        store: kind,
                        scenario: side.scenario,
                        concurrency,
                        gateway: report::median(runs).cloned().unwrap_or_default(),
                        floor,
                    };
                    eprintln!("{}", row.markdown());
                    rows.push(row);
                }
                if let [c360, postgraphile] = sides.as_slice() {
                    comparisons.push(report::Comparison {
                        scenario: c360.scenario,
                        counterpart: postgraphile.scenario,
                        concurrency,
                        c360: rounds[0].clone(),
                        postgraphile: rounds[1].clone(),
                        floor: measured[0].last().and_then(|r| r.floor.clone()),
                    });
                }
            }
            rows.extend(measured.into_iter().flatten());
        }
        server.stop().await;
    }
    if !rows.is_empty() {
        println!("{}", report::table(&rows));
    }
    if !comparisons.is_empty() {
        println!("\n{}", report::comparison_tables(&comparisons));
    }
    if !tracked.is_empty() {
        println!("{}", track::HEADER);
        for step in &tracked {
            println!("{step}");
        }
    }
    if !clv_fits.is_empty() {
        println!("{}", clv::HEADER);
        for row in &clv_fits {
            println!("{row}");
        }
    }
    if !latencies.is_empty() {
        println!("{}", live::HEADER);
        for latency in &latencies {
            println!("{latency}");
        }
    }
    if !bursts.is_empty() {
        println!("{}", burst::HEADER);
        for burst in &bursts {
            println!("{burst}");
        }
    }
    Ok(())
}

/// When the server, which inherits this environment, combines a level's
/// statements: `C360_COMBINE_PAGES` or the server's default, as the
/// server's own configuration reads them.
fn server_combines() -> CombinePages {
    c360::Config::for_store("sqlite::memory:").combine_pages
}

/// One scenario as measured: where its requests go, and the statements its
/// floor replays.
struct Side<'a> {
    scenario: scenario::Scenario,
    target: load::Target<'a>,
    /// What the server issues apart and combined.
    samples: Option<(floor::Samples, floor::Samples)>,
}

impl<'a> Side<'a> {
    /// `None` for a PostGraphile scenario on SQLite, which PostGraphile
    /// does not serve.
    async fn new(
        args: &Args,
        prepared: &store::Prepared,
        server: &'a server::Server,
        workload: &scenario::Workload,
        scenario: scenario::Scenario,
    ) -> anyhow::Result<Option<Side<'a>>> {
        let target = if !scenario.is_postgraphile() {
            server.target(scenario.caller())
        } else if prepared.kind != StoreKind::Postgres {
            eprintln!(
                "{} runs on PostgreSQL only; skipped on {:?}",
                scenario.name(),
                prepared.kind
            );
            return Ok(None);
        } else {
            let url = args
                .postgraphile_url
                .as_deref()
                .ok_or_else(|| anyhow::anyhow!("{} needs --postgraphile-url", scenario.name()))?;
            postgraphile::target(url, server.client.clone(), scenario, workload).await?
        };
        // The server combines a level's page statements on PostgreSQL as
        // `C360_COMBINE_PAGES` says: the floor replays what it issues
        // combined and what it issues apart, each where the server would.
        // A lone request's page and lists split in two (`split`, at
        // concurrency 1) are replayed as the one statement they would be
        // combined: the floor is what the level costs PostgreSQL, not how
        // the gateway spreads it over connections.
        let samples = if args.no_floor || !scenario.has_floor() {
            None
        } else {
            let capture =
                |combine| floor::capture(prepared, scenario, workload, args.seed, combine);
            let alone = capture(CombinePages::Never).await?;
            let busy = capture(CombinePages::Always).await?;
            Some((alone, busy))
        };
        Ok(Some(Side {
            scenario,
            target,
            samples,
        }))
    }
}
