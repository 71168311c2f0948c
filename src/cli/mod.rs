//! The `c360` command line: serve, migrate, seed, import, token, schema,
//! loyalty and insights maintenance. Every command builds its app through
//! `startup`.

mod clv;
mod cohorts;
mod import;
mod log_lines;
mod serve;
mod webhooks;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use c360_migration::Migrator;
use c360_migration::sea_orm_migration::MigratorTrait;
use clap::{Parser, Subcommand, ValueEnum};

use crate::auth::{Role, TokenIssuer};
use crate::config::{Config, LogFormat};
use crate::domain::Clock;
use crate::error::{AppError, AppResult};
use crate::import::{Kind as ImportKind, read::Format as ImportFormat};
use crate::seed::{SeedOptions, run as seed_store};
use crate::startup::Purpose;

#[derive(Debug, Parser)]
#[command(name = "c360", version, about = "GraphQL customer-360 gateway")]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the store and serve GraphQL over HTTP.
    Serve {
        /// Seed demo data into an empty store and print a staff token and the GraphiQL address.
        #[arg(long)]
        seed_demo: bool,
    },
    /// Apply or inspect schema migrations.
    Migrate {
        #[arg(value_enum, default_value_t = MigrateAction::Up)]
        action: MigrateAction,
    },
    /// Fill an empty store with deterministic demo data.
    Seed {
        /// Number of customers (about six orders each).
        #[arg(long, default_value_t = serve::DEMO_CUSTOMERS)]
        customers: u64,
        /// Random seed; the same seed gives the same data.
        #[arg(long, default_value_t = 360)]
        seed: u64,
        /// Seed as if it were this RFC 3339 instant instead of now: the same
        /// seed and instant give the same data on any day.
        #[arg(long)]
        now: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Load records from a JSON Lines or CSV file through the API's rules.
    ///
    /// Running a file again changes nothing. Rejected lines are listed with
    /// their line number and reason; the exit status is 3 when any line was
    /// rejected, 1 when the import could not run.
    Import {
        /// What the file holds.
        #[arg(value_enum)]
        kind: ImportKind,
        /// The file: `.jsonl` / `.ndjson` (one JSON object per line) or `.csv`
        /// (a header row of field names).
        file: std::path::PathBuf,
        /// The file's format, when its extension does not say.
        #[arg(long, value_enum)]
        format: Option<ImportFormat>,
        /// Records per transaction.
        #[arg(long, default_value_t = crate::import::DEFAULT_BATCH_SIZE, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        batch_size: u64,
        /// Write the rejected lines to this file as JSON Lines (line, code,
        /// field, reason) instead of listing them on stderr.
        #[arg(long)]
        rejects: Option<std::path::PathBuf>,
        /// The system the file's external references belong to.
        #[arg(long, default_value = "import")]
        source: String,
        /// Write orders one by one through the services, as the other
        /// kinds, instead of a batch at a time; the result is the same.
        #[arg(long)]
        record_at_a_time: bool,
        /// Import as if it were this RFC 3339 instant instead of now: what
        /// every record is stamped with and checked against.
        #[arg(long)]
        now: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Mint a token signed with the configured HS256 secret.
    Token {
        /// CUSTOMER, PARTNER or STAFF.
        #[arg(long)]
        role: Role,
        /// A scope to grant; repeat the flag or separate scopes by spaces.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Token subject; a customer's numeric id for CUSTOMER tokens.
        #[arg(long)]
        sub: Option<String>,
        /// Lifetime, e.g. `1h`, `30m`, `7d`.
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        ttl: Duration,
    },
    /// Print the GraphQL schema (SDL) the server serves.
    Schema,
    /// Loyalty maintenance.
    Loyalty {
        #[command(subcommand)]
        action: LoyaltyAction,
    },
    /// Customer insights kept outside the write path.
    Insights {
        #[command(subcommand)]
        action: InsightsAction,
    },
    /// Webhook tools for development.
    Webhooks {
        #[command(subcommand)]
        action: webhooks::WebhooksAction,
    },
    /// The events scheduler.
    Events {
        #[command(subcommand)]
        action: EventsAction,
    },
}

#[derive(Debug, Clone, Copy, Subcommand)]
pub enum LoyaltyAction {
    /// Make PENDING points whose return window has ended AVAILABLE and expire
    /// credits whose period has ended, for every due account, then review
    /// the tiers whose review is due under the tier policy; prints what
    /// changed. `serve` also settles every C360_LOYALTY_SETTLE_INTERVAL and
    /// reviews tiers every C360_SCHEDULER_INTERVAL.
    Settle,
}

#[derive(Debug, Clone, Copy, Subcommand)]
pub enum EventsAction {
    /// Run one pass of the events scheduler now (points expiring,
    /// first-reply breaches, birthdays, sign-up anniversaries, tier reviews
    /// that have come due, tracked segments re-evaluated) and print what it
    /// emitted; each event is emitted once however often this runs. `serve`
    /// also runs it every C360_SCHEDULER_INTERVAL.
    Tick,
}

#[derive(Debug, Subcommand)]
pub enum InsightsAction {
    /// Recompute every customer's RFM scores and group, refit the
    /// lifetime-value models and rewrite every customer's predictions, and
    /// rebuild the co-purchase table recommendations read and every
    /// customer's top category, now.
    Refresh,
    /// Fit the lifetime-value models (BG/NBD, Gamma-Gamma) to a customer
    /// summary CSV and print the parameters, and predictions for the
    /// customers named, as JSON; reads no store.
    FitClv(clv::FitClvArgs),
    /// Print the cohort retention matrix: customers grouped by the period
    /// of their first counted order, and who of them ordered in each period
    /// after (as the `cohorts` query).
    Cohorts(cohorts::CohortsArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Revert the most recent migration.
    Down,
    /// List applied and pending migrations.
    Status,
    /// Revert every migration (dropping their tables) and apply them all again.
    Fresh,
}

/// Parses the command line and runs it.
pub async fn run() -> ExitCode {
    let cli = Cli::parse();
    let _flush = init_tracing(&cli.config);
    match dispatch(cli).await {
        Ok(code) => code,
        Err(err) => {
            match &err {
                AppError::Database(e) => eprintln!("error: database: {e}"),
                AppError::Internal(e) => eprintln!("error: {e:#}"),
                other => eprintln!("error: {other}"),
            }
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr: JSON lines for a log shipper, or text for a person
/// at a terminal. With `--otlp-endpoint`, spans are exported as well; the
/// returned guard flushes them at exit.
fn init_tracing(config: &Config) -> Option<crate::telemetry::Flush> {
    use std::io::IsTerminal;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer, fmt};
    let filter = EnvFilter::try_from_env("C360_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let json = match config.log_format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let logs = if json {
        fmt::layer()
            .event_format(<log_lines::JsonLines>::default())
            .with_writer(std::io::stderr)
            .boxed()
    } else {
        fmt::layer().with_writer(std::io::stderr).boxed()
    };
    let (traces, flush) = match &config.otlp_endpoint {
        Some(endpoint) => match crate::telemetry::layer(endpoint, &config.otlp_service_name) {
            Ok((layer, flush)) => (Some(layer), Some(flush)),
            Err(e) => {
                eprintln!("error: {e}; no traces will be exported");
                (None, None)
            }
        },
        None => (None, None),
    };
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(traces)
        .try_init();
    flush
}

async fn dispatch(cli: Cli) -> AppResult<ExitCode> {
    let config = cli.config;
    if let Command::Import {
        kind,
        file,
        format,
        batch_size,
        rejects,
        source,
        record_at_a_time,
        now,
    } = cli.command
    {
        return import::import(
            &config,
            kind,
            &file,
            format,
            batch_size,
            rejects.as_deref(),
            source,
            import::Run {
                record_at_a_time,
                now,
            },
        )
        .await;
    }
    run_command(config, cli.command)
        .await
        .map(|()| ExitCode::SUCCESS)
}

async fn run_command(config: Config, command: Command) -> AppResult<()> {
    match command {
        Command::Import { .. } => unreachable!("dispatched before"),
        Command::Serve { seed_demo } => serve::serve(config, seed_demo).await,
        Command::Migrate { action } => migrate(&config, action).await,
        Command::Seed {
            customers,
            seed,
            now,
        } => {
            let app = maintenance_at(config, now).await?;
            let report = seed_store(&app.store.conn, &seed_options(&app, customers, seed)).await?;
            println!("{report}");
            Ok(())
        }
        Command::Token {
            role,
            scopes,
            sub,
            ttl,
        } => {
            let issuer = issuer(&config)?;
            let scopes: Vec<String> = scopes
                .iter()
                .flat_map(|s| s.split_whitespace().map(str::to_owned))
                .collect();
            let sub = match (role, sub) {
                (_, Some(sub)) => sub,
                (Role::Customer, None) => {
                    return Err(AppError::bad_input(
                        "sub",
                        "a CUSTOMER token needs --sub <customer id>",
                    ));
                }
                (_, None) => format!("{}-cli", role.to_string().to_lowercase()),
            };
            println!("{}", issuer.mint(role, &sub, &scopes, ttl)?);
            Ok(())
        }
        Command::Webhooks { action } => webhooks::run(action).await,
        Command::Schema => {
            print!("{}", crate::graphql::sdl());
            Ok(())
        }
        Command::Loyalty {
            action: LoyaltyAction::Settle,
        } => {
            let app = maintenance(config).await?;
            let settled =
                crate::service::loyalty::settle_due(&app.store.conn, app.clock.now()).await?;
            println!(
                "settled {} loyalty transactions; expired {} points of {} accounts",
                settled.rows, settled.points_expired, settled.accounts_expired
            );
            let reviewed =
                crate::service::loyalty::review_due(&app.store.conn, &app.rules, app.clock.now())
                    .await?;
            println!(
                "reviewed {} loyalty tiers; lowered {}; told {} at risk",
                reviewed.accounts, reviewed.lowered, reviewed.told_at_risk
            );
            Ok(())
        }
        Command::Events {
            action: EventsAction::Tick,
        } => {
            let app = maintenance(config).await?;
            println!("{}", crate::events::scheduler::tick(&app).await?);
            Ok(())
        }
        Command::Insights {
            action: InsightsAction::Refresh,
        } => {
            let app = maintenance(config).await?;
            let now = app.clock.now();
            let rows = crate::service::rfm::refresh(&app.store.conn, now).await?;
            println!("RFM scores refreshed for {rows} customers");
            let clv = crate::service::clv::refresh(&app.store.conn, &app.config.base_currency, now)
                .await?;
            println!("{clv}");
            let affinities =
                crate::service::recommendations::refresh_now(&app.store.conn, &app.rules, now)
                    .await?;
            println!("{affinities}");
            Ok(())
        }
        Command::Insights {
            action: InsightsAction::Cohorts(args),
        } => {
            let app = maintenance_at(config, args.now).await?;
            cohorts::run(&app, &args).await
        }
        Command::Insights {
            action: InsightsAction::FitClv(args),
        } => clv::run(&args),
    }
}

/// Seeds under the app's own rules and clock, so the data follows the
/// configuration the server will apply to it.
fn seed_options(app: &crate::app::AppState, customers: u64, seed: u64) -> SeedOptions {
    SeedOptions {
        customers,
        seed,
        rules: app.rules.clone(),
        now: app.clock.now(),
        progress: std::io::stderr().is_terminal(),
    }
}

fn issuer(config: &Config) -> AppResult<TokenIssuer> {
    let secret = config.effective_jwt_secret().ok_or_else(|| {
        AppError::bad_input(
            "C360_JWT_SECRET",
            "no signing secret: set C360_JWT_SECRET (or pass --dev to use the development secret)",
        )
    })?;
    Ok(TokenIssuer::hs256(
        &secret,
        config.jwt_issuer.clone(),
        config.jwt_audience.clone(),
    ))
}

/// The app as maintenance commands use it: migrated, on the system clock,
/// with no bound on statement time.
async fn maintenance(config: Config) -> AppResult<crate::app::AppState> {
    maintenance_at(config, None).await
}

/// As [`maintenance`], with the clock stopped at `now` when given: a command
/// run as of a fixed instant gives the same answer on any day.
async fn maintenance_at(
    config: Config,
    now: Option<chrono::DateTime<chrono::Utc>>,
) -> AppResult<crate::app::AppState> {
    let clock = match now {
        Some(at) => {
            let clock = Clock::settable();
            clock.set(at);
            clock
        }
        None => Clock::system(),
    };
    crate::startup::build(config, Purpose::Maintenance, clock).await
}

async fn migrate(config: &Config, action: MigrateAction) -> AppResult<()> {
    // Not through `startup::build`, which migrates up: `down` and `status`
    // must see the store as it is.
    let store = crate::startup::open_store(config, Purpose::Maintenance).await?;
    let db = &store.conn;
    match action {
        MigrateAction::Up => Migrator::up(db, None).await?,
        MigrateAction::Down => Migrator::down(db, Some(1)).await?,
        // Each migration's own `down` drops its tables children first; a
        // blanket drop of every table breaks SQLite's foreign keys once
        // parents go before children.
        MigrateAction::Fresh => {
            Migrator::down(db, None).await?;
            Migrator::up(db, None).await?
        }
        MigrateAction::Status => {
            for migration in Migrator::get_migration_with_status(db).await? {
                println!(
                    "{:<10} {}",
                    migration.status().to_string(),
                    migration.name()
                );
            }
        }
    }
    Ok(())
}
