//! One typed configuration, loaded once from flags or the environment
//! (`DATABASE_URL`, `C360_*`). Defaults run on a laptop; secrets are never printed.

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretString;

/// The development secret used when `C360_JWT_SECRET` is unset. Anyone can mint
/// tokens with it, so the server refuses it unless `--dev` mode is on.
pub const DEV_JWT_SECRET: &str = "c360-development-secret-do-not-use-in-production";

#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Store URL: `sqlite://path.db?mode=rwc` (embedded default) or `postgres://user@host/db`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://c360.db?mode=rwc",
        global = true
    )]
    pub database_url: String,

    /// Maximum pooled database connections.
    #[arg(
        long,
        env = "C360_DB_MAX_CONNECTIONS",
        default_value_t = 10,
        global = true
    )]
    pub db_max_connections: u32,

    /// PostgreSQL streaming replicas that serve queries (`postgres://…`),
    /// repeated or comma-separated. Mutations, a caller's reads right after
    /// its own write, subscriptions and background jobs use the primary
    /// (`--database-url`), which must be PostgreSQL.
    #[arg(
        long = "database-read-url",
        env = "C360_DATABASE_READ_URLS",
        value_delimiter = ',',
        global = true
    )]
    pub database_read_urls: Vec<String>,

    /// A replica whose replay lags more than this is skipped until it
    /// catches up. A caller's reads stay on the primary this long, plus one
    /// check interval, after its own write.
    #[arg(long, env = "C360_REPLICA_MAX_LAG", default_value = "5s", value_parser = humantime::parse_duration, global = true)]
    pub replica_max_lag: Duration,

    /// How often `serve` checks that each replica answers and measures its lag.
    #[arg(long, env = "C360_REPLICA_CHECK_INTERVAL", default_value = "1s", value_parser = humantime::parse_duration, global = true)]
    pub replica_check_interval: Duration,

    /// Address the HTTP server binds (port 0 picks a free port).
    #[arg(
        long,
        env = "C360_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub listen: SocketAddr,

    /// HS256 secret that signs and verifies tokens. Unset means the development
    /// secret, accepted only with `--dev`.
    #[arg(long, env = "C360_JWT_SECRET", hide_env_values = true, global = true)]
    pub jwt_secret: Option<SecretString>,

    /// Required `iss` claim, when set.
    #[arg(long, env = "C360_JWT_ISSUER", global = true)]
    pub jwt_issuer: Option<String>,

    /// Required `aud` claim, when set.
    #[arg(long, env = "C360_JWT_AUDIENCE", global = true)]
    pub jwt_audience: Option<String>,

    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    #[arg(
        long,
        env = "C360_JWT_LEEWAY_SECS",
        default_value_t = 30,
        global = true
    )]
    pub jwt_leeway_secs: u64,

    /// JWKS with the RS256, ES256 and EdDSA keys tokens may be signed with: a
    /// file path or an http(s) URL. Refreshed when a token names an unknown `kid`.
    #[arg(long, env = "C360_JWT_JWKS", global = true)]
    pub jwt_jwks: Option<String>,

    /// Shortest time between two JWKS refreshes caused by unknown key ids.
    #[arg(long, env = "C360_JWT_JWKS_REFRESH", default_value = "60s", value_parser = humantime::parse_duration, global = true)]
    pub jwt_jwks_refresh: Duration,

    /// Development mode: allows the built-in JWT secret.
    #[arg(long, env = "C360_DEV", global = true)]
    pub dev: bool,

    /// ISO 4217 currency that metrics and loyalty are computed in.
    #[arg(long, env = "C360_BASE_CURRENCY", default_value = "USD", global = true)]
    pub base_currency: String,

    /// IANA time zone (e.g. `Europe/Paris`) whose calendar days segment dates
    /// (`today`, `-7d`, `2026-01-31`) and customer stats (days since, next birthday) count in.
    #[arg(long, env = "C360_TIMEZONE", default_value = "UTC", value_parser = parse_timezone, global = true)]
    pub timezone: chrono_tz::Tz,

    /// Largest accepted request body, in bytes (HTTP 413 past it).
    #[arg(long, env = "C360_BODY_LIMIT_BYTES", default_value_t = 256 * 1024, global = true)]
    pub body_limit_bytes: usize,

    /// Deadline of one GraphQL request (e.g. `10s`, `500ms`); past it the request is cancelled.
    #[arg(long, env = "C360_REQUEST_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration, global = true)]
    pub request_timeout: Duration,

    /// GraphQL requests executed at once; later ones wait (within their
    /// deadline) for a slot. Bounds the server's memory whatever the number
    /// of clients; beyond a few per pooled connection they would only queue
    /// on the pool holding their partial results.
    #[arg(long, env = "C360_MAX_CONCURRENT_REQUESTS", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub max_concurrent_requests: u32,

    /// Deepest selection nesting accepted.
    #[arg(long, env = "C360_MAX_DEPTH", default_value_t = 12, global = true)]
    pub max_depth: usize,

    /// Highest query cost accepted: every field costs 1, and a connection costs
    /// its page size (`first`, default 20) times the cost of one element.
    #[arg(
        long,
        env = "C360_MAX_COMPLEXITY",
        default_value_t = 50_000,
        global = true
    )]
    pub max_complexity: usize,

    /// Most aliases one document may use.
    #[arg(long, env = "C360_MAX_ALIASES", default_value_t = 30, global = true)]
    pub max_aliases: usize,

    /// Most root fields one operation may select.
    #[arg(
        long,
        env = "C360_MAX_ROOT_FIELDS",
        default_value_t = 10,
        global = true
    )]
    pub max_root_fields: usize,

    /// Largest query document, in bytes.
    #[arg(long, env = "C360_MAX_DOCUMENT_BYTES", default_value_t = 32 * 1024, global = true)]
    pub max_document_bytes: usize,

    /// Most lexical tokens (names, numbers, strings, punctuators) in one document.
    #[arg(long, env = "C360_MAX_TOKENS", default_value_t = 2_000, global = true)]
    pub max_tokens: usize,

    /// Most operations in one batched POST (a JSON array of requests).
    #[arg(long, env = "C360_MAX_BATCH", default_value_t = 10, global = true)]
    pub max_batch: usize,

    /// Requests per minute from one client IP without a token (bursts up to
    /// the same number); 0 turns the limit off.
    #[arg(
        long,
        env = "C360_RATE_LIMIT_ANONYMOUS",
        default_value_t = 60,
        global = true
    )]
    pub rate_limit_anonymous: u32,

    /// Requests per minute for one CUSTOMER token subject; 0 turns the limit off.
    #[arg(
        long,
        env = "C360_RATE_LIMIT_CUSTOMER",
        default_value_t = 300,
        global = true
    )]
    pub rate_limit_customer: u32,

    /// Requests per minute for one PARTNER token subject; 0 turns the limit off.
    #[arg(
        long,
        env = "C360_RATE_LIMIT_PARTNER",
        default_value_t = 600,
        global = true
    )]
    pub rate_limit_partner: u32,

    /// Requests per minute for one STAFF token subject; 0 turns the limit off.
    #[arg(
        long,
        env = "C360_RATE_LIMIT_STAFF",
        default_value_t = 1200,
        global = true
    )]
    pub rate_limit_staff: u32,

    /// Redis for rate limits shared by every instance (e.g.
    /// `redis://127.0.0.1:6379/0`). Unset: each process limits on its own.
    #[arg(long, env = "C360_REDIS_URL", global = true)]
    pub redis_url: Option<SecretString>,

    /// Prefix of every key c360 writes to Redis, so several deployments (or
    /// tests) can share one server.
    #[arg(
        long,
        env = "C360_REDIS_KEY_PREFIX",
        default_value = "c360:",
        global = true
    )]
    pub redis_key_prefix: String,

    /// The longest a request waits for Redis before the `--redis-down`
    /// policy decides instead.
    #[arg(long, env = "C360_REDIS_TIMEOUT", default_value = "100ms", value_parser = humantime::parse_duration, global = true)]
    pub redis_timeout: Duration,

    /// What rate limiting does while Redis is unreachable: `allow` lets
    /// requests through (logged once and counted in /metrics), `refuse`
    /// answers 503 UNAVAILABLE. Either way it recovers by itself.
    #[arg(
        long,
        env = "C360_REDIS_DOWN",
        value_enum,
        default_value_t = RedisDown::Allow,
        global = true
    )]
    pub redis_down: RedisDown,

    /// NATS server whose JetStream receives every outbox event (e.g.
    /// `nats://127.0.0.1:4222`), on `<prefix>.<event type>`. Unset: no stream.
    #[arg(long, env = "C360_EVENTS_NATS_URL", global = true)]
    pub events_nats_url: Option<String>,

    /// The JetStream stream events are published to; created when missing.
    #[arg(
        long,
        env = "C360_EVENTS_NATS_STREAM",
        default_value = "C360_EVENTS",
        global = true
    )]
    pub events_nats_stream: String,

    /// Subject prefix: an event goes to `<prefix>.<type>`, e.g.
    /// `c360.events.order.placed`.
    #[arg(
        long,
        env = "C360_EVENTS_NATS_SUBJECT_PREFIX",
        default_value = "c360.events",
        global = true
    )]
    pub events_nats_subject_prefix: String,

    /// How long a stream c360 creates keeps an event.
    #[arg(long, env = "C360_EVENTS_NATS_MAX_AGE", default_value = "7d", value_parser = humantime::parse_duration, global = true)]
    pub events_nats_max_age: Duration,

    /// How often `serve` publishes new events to the stream (`0s`: never).
    #[arg(long, env = "C360_EVENTS_NATS_POLL_INTERVAL", default_value = "250ms", value_parser = humantime::parse_duration, global = true)]
    pub events_nats_poll_interval: Duration,

    /// How often `serve` looks for new events for its GraphQL subscribers
    /// (only while there are some; `0s`: subscriptions receive nothing).
    #[arg(long, env = "C360_SUBSCRIPTIONS_POLL_INTERVAL", default_value = "100ms", value_parser = humantime::parse_duration, global = true)]
    pub subscriptions_poll_interval: Duration,

    /// Subscriptions one WebSocket connection may run at once.
    #[arg(
        long,
        env = "C360_MAX_SUBSCRIPTIONS_PER_CONNECTION",
        default_value_t = 20,
        global = true
    )]
    pub max_subscriptions_per_connection: usize,

    /// WebSocket connections one token subject may hold open on one instance.
    #[arg(
        long,
        env = "C360_MAX_CONNECTIONS_PER_SUBJECT",
        default_value_t = 10,
        global = true
    )]
    pub max_connections_per_subject: usize,

    /// How long a WebSocket client has to send `connection_init`.
    #[arg(long, env = "C360_WEBSOCKET_INIT_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration, global = true)]
    pub websocket_init_timeout: Duration,

    /// An OTLP/HTTP collector (e.g. `http://127.0.0.1:4318`) that receives
    /// traces at `<endpoint>/v1/traces`. Unset: no spans are made.
    #[arg(long, env = "C360_OTLP_ENDPOINT", global = true)]
    pub otlp_endpoint: Option<String>,

    /// `service.name` of the exported traces.
    #[arg(
        long,
        env = "C360_OTLP_SERVICE_NAME",
        default_value = "c360",
        global = true
    )]
    pub otlp_service_name: String,

    /// How logs are written to stderr: `json` (one object per line, for a
    /// log shipper), `text`, or `auto` (text on a terminal, JSON otherwise).
    #[arg(
        long,
        env = "C360_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Auto,
        global = true
    )]
    pub log_format: LogFormat,

    /// Who may introspect the schema and get "did you mean" field suggestions:
    /// a comma-separated list of `anonymous`, `customer`, `partner`, `staff`,
    /// or `none`. Unset: everyone in `--dev` mode, `customer,staff` otherwise.
    #[arg(
        long,
        env = "C360_INTROSPECTION_FOR",
        value_delimiter = ',',
        global = true
    )]
    pub introspection_for: Option<Vec<Audience>>,

    /// A trusted-document manifest: JSON mapping each document's id to its
    /// text, as Relay, graphql-codegen and Apollo's tooling write it. Loaded
    /// at start (a malformed one stops the server) and again on SIGHUP.
    #[arg(long, env = "C360_TRUSTED_DOCUMENTS", global = true)]
    pub trusted_documents: Option<std::path::PathBuf>,

    /// Callers who may run only documents of the manifest (a storefront's
    /// `customer` tokens, say): a comma-separated list of `anonymous`,
    /// `customer`, `partner`, `staff`. Unset: anyone may send any document.
    #[arg(
        long,
        env = "C360_TRUSTED_DOCUMENTS_ONLY",
        value_delimiter = ',',
        global = true
    )]
    pub trusted_documents_only: Vec<Audience>,

    /// Browser origins allowed to call the API cross-origin (comma-separated,
    /// e.g. `https://app.example.com`). Unset: no cross-origin access.
    #[arg(
        long,
        env = "C360_CORS_ALLOW_ORIGINS",
        value_delimiter = ',',
        global = true
    )]
    pub cors_allow_origins: Vec<String>,

    /// How long a DataLoader collects keys before it queries. Batches already
    /// wait for every resolver of their level (see `graphql::driver`), so the
    /// default adds no delay.
    #[arg(long, env = "C360_LOADER_DELAY", default_value = "0ms", value_parser = humantime::parse_duration, global = true)]
    pub loader_delay: Duration,

    /// PostgreSQL only: when the page statements of one level go out as one
    /// statement. `always` sends one statement a level, and reads a
    /// profile's lists ahead beside the customer, so that a profile is one
    /// statement; `split` (the default) does the same, but a request
    /// executing alone sends a level that reads a page of customers and
    /// lists below them as two statements side by side, the customers in
    /// one and the lists in the other (`read::combine`); `auto` combines
    /// only while other requests are executing, a request alone running its
    /// statements side by side on idle connections; `never` sends a
    /// statement a list.
    #[arg(
        long,
        env = "C360_COMBINE_PAGES",
        value_enum,
        default_value = "split",
        global = true
    )]
    pub combine_pages: CombinePages,

    /// Lists whose items are plain values of their rows (order lines, ticket
    /// messages, ledger rows, reviews, NPS answers) are written as JSON in one
    /// pass instead of field by field (`graphql::leaves`), and rows are read
    /// with only the columns their fields read; `false` sends them through
    /// the executor like every other field, with every column. The answers
    /// are the same.
    #[arg(long, env = "C360_LEAF_JSON", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub leaf_json: bool,

    /// Loyalty points earned per major unit of the base currency paid (e.g. 1
    /// point per dollar); orders in other currencies earn none, as metrics
    /// count only base-currency orders.
    #[arg(
        long,
        env = "C360_LOYALTY_POINTS_PER_UNIT",
        default_value_t = 1,
        global = true
    )]
    pub loyalty_points_per_unit: i64,

    /// How long earned points stay PENDING (the return window) before they
    /// become AVAILABLE, e.g. `14d`; `0s` makes them available at once.
    #[arg(long, env = "C360_LOYALTY_RETURN_WINDOW", default_value = "14d", value_parser = humantime::parse_duration, global = true)]
    pub loyalty_return_window: Duration,

    /// How long points stay spendable once AVAILABLE, e.g. `365d`; `0s` (the
    /// default) keeps them forever. Spending takes the points that expire
    /// first, so what expires is what is left of the oldest points.
    #[arg(long, env = "C360_LOYALTY_POINTS_EXPIRE_AFTER", default_value = "0s", value_parser = humantime::parse_duration, global = true)]
    pub loyalty_points_expire_after: Duration,

    /// How often `serve` settles due loyalty accounts in the background
    /// (reads settle the accounts they show on their own); `0s` turns it off.
    #[arg(long, env = "C360_LOYALTY_SETTLE_INTERVAL", default_value = "15m", value_parser = humantime::parse_duration, global = true)]
    pub loyalty_settle_interval: Duration,

    /// Trailing-12-month net spend (minor units of the base currency) that
    /// reaches SILVER; BRONZE starts at 0.
    #[arg(
        long,
        env = "C360_TIER_SILVER",
        default_value_t = 50_000,
        global = true
    )]
    pub tier_silver: i64,

    /// Trailing-12-month net spend (minor units) that reaches GOLD.
    #[arg(long, env = "C360_TIER_GOLD", default_value_t = 150_000, global = true)]
    pub tier_gold: i64,

    /// Trailing-12-month net spend (minor units) that reaches PLATINUM.
    #[arg(
        long,
        env = "C360_TIER_PLATINUM",
        default_value_t = 500_000,
        global = true
    )]
    pub tier_platinum: i64,

    /// How a tier follows spend over time. `retain` (the default): a tier
    /// reached is kept until its review (`--tier-retention`), where it
    /// becomes the tier trailing spend then reaches, so no member drops the
    /// day an old order leaves the window. `rolling`: the tier follows
    /// trailing spend at once, down as well as up.
    #[arg(long, env = "C360_TIER_POLICY", value_enum, default_value_t = TierPolicyKind::Retain, global = true)]
    pub tier_policy: TierPolicyKind,

    /// With `--tier-policy retain`, how long a tier is kept once reached,
    /// and then after each review: `next-year` (through 31 December of the
    /// calendar year after the one it was reached in, then a year at a
    /// time, years of `--timezone`; the default) or whole days such as
    /// `365d`. Refused with `rolling`, which keeps nothing.
    #[arg(long, env = "C360_TIER_RETENTION", value_parser = parse_tier_retention, global = true)]
    pub tier_retention: Option<TierRetention>,

    /// How long before a tier review an account whose trailing spend would
    /// not keep its tier is at risk and told (`loyalty.tier_at_risk`), in
    /// whole days (e.g. `30d`); `0s`: never told.
    #[arg(long, env = "C360_TIER_DOWNGRADE_NOTICE", default_value = "30d", value_parser = humantime::parse_duration, global = true)]
    pub tier_downgrade_notice: Duration,

    /// First-reply target of a support ticket (e.g. `1h`): `firstReplyBreached`
    /// is true once a ticket waited longer for its first agent reply.
    #[arg(long, env = "C360_TICKET_FIRST_REPLY_TARGET", default_value = "1h", value_parser = humantime::parse_duration, global = true)]
    pub ticket_first_reply_target: Duration,

    /// Smallest first PAID order (minor units of the base currency) of a
    /// referred customer that rewards both sides of the referral.
    #[arg(
        long,
        env = "C360_REFERRAL_MIN_ORDER",
        default_value_t = 0,
        global = true
    )]
    pub referral_min_order: i64,

    /// Points the referrer gets when the referral converts.
    #[arg(
        long,
        env = "C360_REFERRAL_REFERRER_POINTS",
        default_value_t = 1_000,
        global = true
    )]
    pub referral_referrer_points: i64,

    /// Points the referred customer gets when the referral converts.
    #[arg(
        long,
        env = "C360_REFERRAL_REFEREE_POINTS",
        default_value_t = 500,
        global = true
    )]
    pub referral_referee_points: i64,

    /// What the referrer gets when the referral converts: `points` (the
    /// default, `--referral-referrer-points`), `credit` (store credit of
    /// `--referral-referrer-credit` in the referred order's currency) or
    /// `both`.
    #[arg(long, env = "C360_REFERRAL_REFERRER_REWARD", value_enum, default_value_t = ReferralReward::Points, global = true)]
    pub referral_referrer_reward: ReferralReward,

    /// Store credit (minor units of the referred order's currency) the
    /// referrer gets with `--referral-referrer-reward credit|both`.
    #[arg(
        long,
        env = "C360_REFERRAL_REFERRER_CREDIT",
        default_value_t = 0,
        global = true
    )]
    pub referral_referrer_credit: i64,

    /// What the referred customer gets: `points` (the default), `credit` or
    /// `both`, as for the referrer.
    #[arg(long, env = "C360_REFERRAL_REFEREE_REWARD", value_enum, default_value_t = ReferralReward::Points, global = true)]
    pub referral_referee_reward: ReferralReward,

    /// Store credit (minor units) the referred customer gets with
    /// `--referral-referee-reward credit|both`.
    #[arg(
        long,
        env = "C360_REFERRAL_REFEREE_CREDIT",
        default_value_t = 0,
        global = true
    )]
    pub referral_referee_credit: i64,

    /// How long store credit from a refund or a referral reward stays
    /// spendable, e.g. `365d`; `0s` (the default) keeps it forever. Credit
    /// issued by staff or partners carries its own `expiresAt`.
    #[arg(long, env = "C360_STORE_CREDIT_EXPIRE_AFTER", default_value = "0s", value_parser = humantime::parse_duration, global = true)]
    pub store_credit_expire_after: Duration,

    /// How far ahead `store_credit.expiring` tells of unspent store credit
    /// about to expire (e.g. `14d`), once per credit entry.
    #[arg(long, env = "C360_STORE_CREDIT_EXPIRING_NOTICE", default_value = "14d", value_parser = humantime::parse_duration, global = true)]
    pub store_credit_expiring_notice: Duration,

    /// The half-life of a purchase in `Customer.interests` and
    /// `top_category`: a purchase this much older than another weighs half
    /// as much per unit of money (e.g. `180d`, the default; more than zero).
    #[arg(long, env = "C360_INTEREST_HALF_LIFE", default_value = "180d", value_parser = humantime::parse_duration, global = true)]
    pub interest_half_life: Duration,

    /// How often `serve` recomputes every customer's RFM scores and group
    /// and refits the lifetime-value models and their predictions (figures
    /// over all customers, so not kept in step with each write); `0s`
    /// disables the schedule (`c360 insights refresh` still works).
    #[arg(long, env = "C360_RFM_REFRESH_INTERVAL", default_value = "1h", value_parser = humantime::parse_duration, global = true)]
    pub rfm_refresh_interval: Duration,

    /// How often `serve` runs the events scheduler (points expiring,
    /// first-reply breaches, birthdays, sign-up anniversaries, tier reviews
    /// that have come due, tracked segments re-evaluated); `0s` turns it off (`c360 events tick` still runs
    /// one pass). Each event is emitted once however often it runs.
    #[arg(long, env = "C360_SCHEDULER_INTERVAL", default_value = "1m", value_parser = humantime::parse_duration, global = true)]
    pub scheduler_interval: Duration,

    /// How far ahead `loyalty.points_expiring` tells of AVAILABLE points
    /// about to expire, in whole days (e.g. `14d`).
    #[arg(long, env = "C360_POINTS_EXPIRING_NOTICE", default_value = "14d", value_parser = humantime::parse_duration, global = true)]
    pub points_expiring_notice: Duration,

    /// How far ahead `customer.birthday_upcoming` tells of a birthday, in
    /// whole days of the store's time zone (e.g. `7d`; `0s`: on the day).
    #[arg(long, env = "C360_BIRTHDAY_NOTICE", default_value = "7d", value_parser = humantime::parse_duration, global = true)]
    pub birthday_notice: Duration,

    /// How far ahead `customer.signup_anniversary` tells of the yearly
    /// return of a sign-up date, in whole days of the store's time zone
    /// (`0s`, the default: on the day).
    #[arg(long, env = "C360_SIGNUP_ANNIVERSARY_NOTICE", default_value = "0s", value_parser = humantime::parse_duration, global = true)]
    pub signup_anniversary_notice: Duration,

    /// How long after an order is fulfilled its post-purchase follow-up is
    /// due (`order.follow_up_due`, `followUpsDue`), e.g. `3d`; `0` or `off`
    /// turns follow-ups off. A week covers delivery and a few days of use,
    /// so the call is about the product rather than the parcel.
    #[arg(long, env = "C360_FOLLOW_UP_AFTER", default_value = "7d", value_parser = parse_follow_up_after, global = true)]
    pub follow_up_after: FollowUpDelay,

    /// The channels follow-ups may use, in the business's order of
    /// preference (comma-separated `email`, `sms`, `phone`). Each is used
    /// only for a customer who consents to it and has its contact point.
    /// Email by default: the one consent every customer record has.
    #[arg(
        long,
        env = "C360_FOLLOW_UP_CHANNELS",
        value_enum,
        value_delimiter = ',',
        default_value = "email",
        global = true
    )]
    pub follow_up_channels: Vec<FollowUpChannel>,

    /// How often `serve` turns new outbox events into webhook deliveries and
    /// sends the due ones; `0s` turns webhook delivery off.
    #[arg(long, env = "C360_WEBHOOKS_POLL_INTERVAL", default_value = "1s", value_parser = humantime::parse_duration, global = true)]
    pub webhooks_poll_interval: Duration,

    /// Webhook requests in flight to one endpoint at once, so a slow
    /// endpoint holds only its own deliveries back.
    #[arg(long, env = "C360_WEBHOOKS_MAX_IN_FLIGHT", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub webhooks_max_in_flight: u32,

    /// Time to open a connection to a webhook endpoint.
    #[arg(long, env = "C360_WEBHOOKS_CONNECT_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration, global = true)]
    pub webhooks_connect_timeout: Duration,

    /// Time for a whole webhook request, connection to response; past it the
    /// attempt failed.
    #[arg(long, env = "C360_WEBHOOKS_TIMEOUT", default_value = "15s", value_parser = humantime::parse_duration, global = true)]
    pub webhooks_timeout: Duration,

    /// Wait before each attempt of a webhook delivery, comma-separated: the
    /// first is the first attempt's; after the last attempt fails the
    /// delivery is FAILED. The Standard Webhooks schedule by default.
    #[arg(long, env = "C360_WEBHOOKS_RETRY_SCHEDULE", default_value = "0s,5s,5m,30m,2h,5h,10h,10h", value_delimiter = ',', value_parser = humantime::parse_duration, global = true)]
    pub webhooks_retry_schedule: Vec<Duration>,

    /// A webhook endpoint whose attempts have all failed for this long is
    /// disabled, with the reason.
    #[arg(long, env = "C360_WEBHOOKS_DISABLE_AFTER", default_value = "5d", value_parser = humantime::parse_duration, global = true)]
    pub webhooks_disable_after: Duration,

    /// Lets webhook endpoints be plain http and resolve to private, loopback
    /// and link-local addresses: for tests and deployments whose receivers
    /// sit on an internal network. Off, only https to public addresses is
    /// accepted (`--dev` adds http and loopback).
    #[arg(long, env = "C360_WEBHOOKS_ALLOW_PRIVATE", global = true)]
    pub webhooks_allow_private: bool,
}

/// When a level's page statements go out as one (PostgreSQL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CombinePages {
    /// While other requests are executing.
    Auto,
    Always,
    /// Always, a page and its lists in two statements when alone.
    Split,
    Never,
}

impl CombinePages {
    /// Whether a request runs combined while `running` requests execute
    /// (itself included).
    pub fn combines(self, running: u64) -> bool {
        match self {
            CombinePages::Always | CombinePages::Split => true,
            CombinePages::Never => false,
            CombinePages::Auto => running > 1,
        }
    }

    /// Whether a combined request sends a page and its lists as two
    /// statements while `running` requests execute (itself included):
    /// alone, where the second statement has a core and a connection to
    /// itself.
    pub fn splits(self, running: u64) -> bool {
        self == CombinePages::Split && running <= 1
    }
}

/// A kind of caller, for settings that differ by audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Audience {
    Anonymous,
    Customer,
    Partner,
    Staff,
    /// Nobody (only meaningful alone).
    None,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Auto,
    Json,
    Text,
}

/// How a tier follows spend over time (see `domain::tiers::policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TierPolicyKind {
    /// A tier reached is kept until its review, then set from trailing spend.
    Retain,
    /// The tier follows trailing spend at once, down as well as up.
    Rolling,
}

/// A channel a post-purchase follow-up may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FollowUpChannel {
    Email,
    Sms,
    Phone,
}

/// How long after fulfilment a follow-up is due; `None`: no follow-ups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowUpDelay(pub Option<Duration>);

/// A follow-up delay (`3d`, `36h`), or `0` / `off` for no follow-ups.
pub fn parse_follow_up_after(text: &str) -> Result<FollowUpDelay, String> {
    let text = text.trim();
    if text == "0" || text.eq_ignore_ascii_case("off") {
        return Ok(FollowUpDelay(None));
    }
    let delay = humantime::parse_duration(text).map_err(|_| {
        format!("`{text}` is not a follow-up delay: a duration such as `7d` or `36h`, or `off`")
    })?;
    Ok(FollowUpDelay(Some(delay).filter(|d| !d.is_zero())))
}

/// What one side of a referral gets when it converts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReferralReward {
    /// Loyalty points only.
    Points,
    /// Store credit only.
    Credit,
    /// Points and store credit.
    Both,
}

/// How long `retain` keeps a tier once reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TierRetention {
    /// Through the end of the next calendar year.
    NextYear,
    /// This many whole days.
    Days(u32),
}

/// `next-year`, or a whole number of days (`365d`, `52weeks`), at least one
/// and at most ten years.
pub fn parse_tier_retention(text: &str) -> Result<TierRetention, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("next-year") {
        return Ok(TierRetention::NextYear);
    }
    let refuse = || {
        format!(
            "`{text}` is not a tier retention: `next-year` or whole days such as `365d` \
             (1 to 3650 days; for no retention use --tier-policy rolling)"
        )
    };
    let duration = humantime::parse_duration(text).map_err(|_| refuse())?;
    let secs = duration.as_secs();
    if duration.subsec_nanos() != 0 || !secs.is_multiple_of(86_400) {
        return Err(refuse());
    }
    match u32::try_from(secs / 86_400) {
        Ok(days @ 1..=3650) => Ok(TierRetention::Days(days)),
        _ => Err(refuse()),
    }
}

/// What the shared rate limiter does without Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RedisDown {
    /// Let requests through: an outage of Redis is not an outage of c360.
    Allow,
    /// Refuse requests with 503: no caller may exceed its quota, ever.
    Refuse,
}

impl Config {
    /// Who may introspect, with the documented default.
    pub fn introspection_audiences(&self) -> Vec<Audience> {
        match &self.introspection_for {
            Some(list) => list.clone(),
            None if self.dev => vec![
                Audience::Anonymous,
                Audience::Customer,
                Audience::Partner,
                Audience::Staff,
            ],
            None => vec![Audience::Customer, Audience::Staff],
        }
    }

    /// The secret tokens are verified with: the configured one, or the
    /// development secret in dev mode.
    pub fn effective_jwt_secret(&self) -> Option<SecretString> {
        match (&self.jwt_secret, self.dev) {
            (Some(secret), _) => Some(secret.clone()),
            (None, true) => Some(SecretString::from(DEV_JWT_SECRET)),
            (None, false) => None,
        }
    }

    /// A configuration for tests and embedding: defaults everywhere, the given store,
    /// a free port on loopback, dev mode.
    pub fn for_store(database_url: impl Into<String>) -> Config {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            config: Config,
        }
        // An empty command line yields the documented defaults (and whatever
        // C360_* the environment sets, as for the binary); the fields a test
        // relies on are then set explicitly.
        let mut config = Defaults::parse_from(["c360"]).config;
        config.database_url = database_url.into();
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.dev = true;
        config.jwt_secret = None;
        config
    }
}

/// An IANA time-zone name, refused with the reason when unknown.
pub fn parse_timezone(name: &str) -> Result<chrono_tz::Tz, String> {
    name.trim()
        .parse::<chrono_tz::Tz>()
        .map_err(|_| format!("`{name}` is not an IANA time zone such as `UTC` or `Europe/Paris`"))
}
