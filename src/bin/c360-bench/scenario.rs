//! The requests each scenario sends, with a random customer each time.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use clap::ValueEnum;
use rand::Rng;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// The README's profile page: one customer with orders and lines,
    /// tickets and messages, reviews, loyalty and its ledger, referrals, stats.
    Profile,
    /// The same profile as a trusted document: sent by `documentId`, found
    /// in the server's manifest, run without full validation after the
    /// first time. Against `profile`, what trusted documents save.
    ProfileTrusted,
    /// `customers(first: 50)` with the same nesting one level shallower.
    List,
    /// `{ __typename }`: a request with nothing to read, so what it costs
    /// is the gateway's fixed cost (HTTP on both sides, the token, the
    /// document's cached checks, the response) with no SQL.
    Typename,
    /// The README's four-clause segment, counted: `segmentMembers { totalCount }`.
    SegmentCount,
    /// Monthly cohort retention of the last 24 months, each cohort followed
    /// for 24 months: `cohorts` with every figure of every cell.
    Cohorts,
    /// The same segment's first page of 20 members.
    SegmentPage,
    /// A POS partner's writes: order ingest and point redemption, 4 to 1.
    /// Every request is new (its own externalRef or idempotency key), so the
    /// data set grows.
    Writes,
    /// The profile in PostGraphile's generated schema, sent to
    /// `--postgraphile-url` instead of c360 (PostgreSQL only).
    PostgraphileProfile,
    /// The list in PostGraphile's generated schema: `allCustomers(first: 50)`
    /// from the same instant with the same nesting, sent to
    /// `--postgraphile-url` (PostgreSQL only).
    PostgraphileList,
    /// The four-clause segment tracked: its fill and re-evaluations timed
    /// in-process, no requests (`track`). Adds events to the outbox, so it
    /// is left out unless named.
    SegmentTrack,
    /// 10,000 orders ingested at once and timed until a webhook receiver
    /// on loopback has every `order.placed` (`burst`). Adds the orders to
    /// the data set, so it is left out unless named.
    WebhooksBurst,
    /// Orders ingested through one instance, one at a time, each timed
    /// until a GraphQL subscriber on a second instance receives its
    /// `order.placed` (`live`). PostgreSQL only; adds orders to the data set.
    LiveLatency,
    /// The lifetime-value refresh (read, fit, write) timed in-process, no
    /// requests, with the fitted parameters against the seed's (`clv`).
    /// Rewrites the predictions, as the schedule would.
    ClvFit,
    /// `c360 import orders` (6,000 orders of 200 customers) timed on fresh
    /// stores of its own, a batch at a time, again, and a record at a time
    /// (`import`); no data set, no server.
    Import,
}

/// Who sends a scenario's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    Staff,
    /// A POS integration: `orders:write loyalty:write` and the reads of what
    /// the mutations return.
    Partner,
    /// No token: PostGraphile serves the database without access rules.
    Anonymous,
}

/// What requests are drawn from.
pub struct Workload {
    pub customers: u64,
    /// Customers with at least [`REDEEMABLE_POINTS`] available points: the
    /// writes scenario redeems from them only, so a redemption never meets
    /// an empty balance (CONFLICT) and really writes.
    pub redeemable: Vec<i64>,
    /// The digest PostGraphile writes into cursors of `allCustomers` in the
    /// list's order, learnt from PostGraphile itself: `postgraphile-list`
    /// starts its pages at cursors built with it.
    pub postgraphile_cursor: OnceLock<String>,
    /// Makes every externalRef and idempotency key of this run new.
    run: u64,
    next: AtomicU64,
}

/// The balance a customer needs to take part in redemptions: far more than
/// one run's redemptions of one point could take from one customer.
pub const REDEEMABLE_POINTS: i64 = 50;

impl Workload {
    pub fn new(customers: u64, redeemable: Vec<i64>) -> Workload {
        let run = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Workload {
            customers,
            redeemable,
            postgraphile_cursor: OnceLock::new(),
            run,
            next: AtomicU64::new(0),
        }
    }

    fn key(&self, kind: &str) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("bench-{kind}-{}-{n}", self.run)
    }
}

/// Lapsed big spenders who are not wholesale accounts: the README's
/// four-clause segment (6,795 of 100,000 seeded customers).
pub const SEGMENT: &str = "amount_spent >= 500 AND number_of_orders >= 3 AND last_order_date < -90d AND NOT customer_tags CONTAINS 'wholesale'";

const PROFILE: &str = r#"query Profile($id: ID!) {
  customer(id: $id) {
    id email firstName lastName tags
    stats { ordersCount lifetimeValue { amount currencyCode } averageOrderValue { amount } lastOrderAt openTickets lastNpsScore }
    loyalty { tier pointsAvailable pointsPending transactions(first: 10) { edges { node { kind points state createdAt } } } }
    orders(first: 10) { edges { node { orderNumber status placedAt total { amount currencyCode }
      lines { edges { node { sku productName quantity unitPrice { amount } } } } } } }
    tickets(first: 5) { edges { node { subject status firstReplyMinutes satisfaction { score comment }
      messages { edges { node { authorKind body } } } } } }
    reviews(first: 5) { edges { node { productSku rating title verifiedPurchase } } }
    referralsMade(first: 5) { edges { node { refereeEmail status } } }
    referredBy { code referrer { email } }
    npsResponses(first: 3) { edges { node { score category comment } } }
  }
}"#;

pub const LIST: &str = r#"query List($before: DateTime!) {
  customers(first: 50, filter: { createdBefore: $before }) { edges { node {
    id email firstName lastName tags
    stats { ordersCount lifetimeValue { amount } lastOrderAt }
    loyalty { tier pointsAvailable }
    orders(first: 5) { edges { node { orderNumber status total { amount } } } }
    tickets(first: 3) { edges { node { subject status } } }
    reviews(first: 3) { edges { node { rating } } }
    referralsMade(first: 3) { edges { node { status } } }
    referredBy { code }
    npsResponses(first: 1) { edges { node { score } } }
  } } }
}"#;

/// Only the count: `first: 0` asks for no members.
const SEGMENT_COUNT: &str = r#"query SegmentCount($q: String!) {
  segmentMembers(query: $q, first: 0) { totalCount }
}"#;

const COHORTS: &str = r#"query Cohorts($from: DateTime!, $to: DateTime!) {
  cohorts(from: $from, to: $to, granularity: MONTH, periods: 24) { cohorts {
    label start customers
    periods { offset complete activeCustomers orders revenue { amount } retentionRate
      cumulativeRevenuePerCustomer { amount } }
  } }
}"#;

const SEGMENT_PAGE: &str = r#"query SegmentPage($q: String!) {
  segmentMembers(query: $q, first: 20) { edges { node { id email } } pageInfo { hasNextPage endCursor } }
}"#;

const INGEST: &str = r#"mutation Ingest($input: OrderIngestInput!) {
  orderIngest(input: $input) { id orderNumber status total { amount currencyCode } }
}"#;

const REDEEM: &str = r#"mutation Redeem($c: ID!, $k: String!) {
  redeemPoints(customerId: $c, points: 1, idempotencyKey: $k) { pointsAvailable pointsPending }
}"#;

/// A few products of the seed's catalogue (SKU, name, price in cents).
const PRODUCTS: &[(&str, &str, i64)] = &[
    ("LIP-001", "Velvet Matte Lipstick - Rosewood", 2_400),
    ("EYE-001", "Lengthening Mascara", 2_600),
    ("FCE-001", "Skin Tint Foundation", 3_800),
    ("SKN-002", "Hydrating Hyaluronic Serum", 4_600),
    ("HAI-003", "Bond Building Hair Mask", 3_600),
];

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Profile => "profile",
            Scenario::ProfileTrusted => "profile-trusted",
            Scenario::List => "list",
            Scenario::Typename => "typename",
            Scenario::SegmentCount => "segment-count",
            Scenario::Cohorts => "cohorts",
            Scenario::SegmentPage => "segment-page",
            Scenario::Writes => "writes",
            Scenario::PostgraphileProfile => "postgraphile-profile",
            Scenario::PostgraphileList => "postgraphile-list",
            Scenario::SegmentTrack => "segment-track",
            Scenario::WebhooksBurst => "webhooks-burst",
            Scenario::LiveLatency => "live-latency",
            Scenario::ClvFit => "clv-fit",
            Scenario::Import => "import",
        }
    }

    pub fn caller(self) -> Caller {
        match self {
            Scenario::Writes => Caller::Partner,
            Scenario::PostgraphileProfile | Scenario::PostgraphileList => Caller::Anonymous,
            _ => Caller::Staff,
        }
    }

    /// Whether it is sent to `--postgraphile-url` rather than to c360.
    pub fn is_postgraphile(self) -> bool {
        self.caller() == Caller::Anonymous
    }

    /// The scenario asking the other server for the same rows: c360's
    /// scenario for PostGraphile's and the other way round.
    pub fn counterpart(self) -> Option<Scenario> {
        match self {
            Scenario::Profile => Some(Scenario::PostgraphileProfile),
            Scenario::PostgraphileProfile => Some(Scenario::Profile),
            Scenario::List => Some(Scenario::PostgraphileList),
            Scenario::PostgraphileList => Some(Scenario::List),
            _ => None,
        }
    }

    /// Whether the raw-SQL floor applies. Replayed writes would repeat the
    /// captured keys and fail on them; PostGraphile's statements are not
    /// c360's; the trusted profile's are the profile's; `typename` runs
    /// none.
    pub fn has_floor(self) -> bool {
        !matches!(
            self,
            Scenario::Writes
                | Scenario::Typename
                | Scenario::PostgraphileProfile
                | Scenario::PostgraphileList
                | Scenario::ProfileTrusted
                | Scenario::SegmentTrack
                | Scenario::WebhooksBurst
                | Scenario::LiveLatency
                | Scenario::ClvFit
                | Scenario::Import
        )
    }

    /// The next request body.
    pub fn body(self, rng: &mut impl Rng, w: &Workload) -> Value {
        let pick = rng.random_range(1..=w.customers.max(1));
        match self {
            Scenario::Profile => json!({
                "query": PROFILE,
                "variables": { "id": format!("gid://c360/Customer/{pick}") },
            }),
            Scenario::ProfileTrusted => json!({
                "documentId": format!("sha256:{}", c360::graphql::trusted::sha256_hex(PROFILE)),
                "variables": { "id": format!("gid://c360/Customer/{pick}") },
            }),
            Scenario::List => {
                let before = list_start(pick, w.customers);
                json!({ "query": LIST, "variables": {
                    "before": before.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                } })
            }
            Scenario::Typename => json!({ "query": "{ __typename }" }),
            Scenario::SegmentCount => {
                json!({ "query": SEGMENT_COUNT, "variables": { "q": SEGMENT } })
            }
            Scenario::SegmentPage => {
                json!({ "query": SEGMENT_PAGE, "variables": { "q": SEGMENT } })
            }
            Scenario::Cohorts => {
                // The 24 months to the current one, in UTC (the server's
                // default time zone).
                let today = chrono::Utc::now().date_naive();
                let this_month =
                    today - chrono::Days::new(u64::from(chrono::Datelike::day0(&today)));
                let to = this_month + chrono::Months::new(1);
                let from = to - chrono::Months::new(24);
                let at = |d: chrono::NaiveDate| format!("{d}T00:00:00Z");
                json!({ "query": COHORTS, "variables": { "from": at(from), "to": at(to) } })
            }
            Scenario::Writes => {
                if rng.random_range(0..5) == 0 && !w.redeemable.is_empty() {
                    let customer = w.redeemable[rng.random_range(0..w.redeemable.len())];
                    json!({ "query": REDEEM, "variables": {
                        "c": format!("gid://c360/Customer/{customer}"),
                        "k": w.key("redeem"),
                    } })
                } else {
                    json!({ "query": INGEST, "variables": { "input": order(rng, pick, w.key("order")) } })
                }
            }
            Scenario::PostgraphileProfile => json!({
                "query": crate::postgraphile::PROFILE,
                "variables": { "id": pick },
            }),
            Scenario::PostgraphileList => {
                let digest = w.postgraphile_cursor.get().map_or("", String::as_str);
                let after = crate::postgraphile::list_cursor(digest, list_start(pick, w.customers));
                json!({ "query": crate::postgraphile::LIST, "variables": { "after": after } })
            }
            // Measured in-process (`track`): nothing is sent. Counting the
            // members is the closest request.
            Scenario::SegmentTrack => {
                json!({ "query": SEGMENT_COUNT, "variables": { "q": SEGMENT } })
            }
            // Measured in-process (`clv`): nothing is sent. The predictions
            // a profile reads are the closest request.
            Scenario::ClvFit => json!({
                "query": PROFILE,
                "variables": { "id": format!("gid://c360/Customer/{pick}") },
            }),
            // Driven by `burst` and `live`, which send these orders
            // themselves, and `import`, which writes them to a file.
            Scenario::WebhooksBurst | Scenario::LiveLatency | Scenario::Import => {
                json!({ "query": INGEST, "variables": { "input": order(rng, pick, w.key("order")) } })
            }
        }
    }
}

/// Where a list page starts: customers were added over about three years,
/// and a random instant in that span starts a random page. c360's list and
/// PostGraphile's both send it in whole microseconds, PostgreSQL's
/// precision, so that both compare with the same instant.
fn list_start(pick: u64, customers: u64) -> chrono::DateTime<chrono::Utc> {
    let span_secs = 3 * 365 * 24 * 3600;
    let back = (pick * span_secs) / customers.max(1);
    chrono::Utc::now() - chrono::Duration::seconds(back as i64)
}

/// The trusted-document manifest the bench's server loads: the profile.
pub fn manifest() -> Value {
    json!({ c360::graphql::trusted::sha256_hex(PROFILE): PROFILE })
}

/// A paid POS order of one to three lines, as a till would post it: paid
/// orders earn points and move the customer's metrics and tier.
pub fn order(rng: &mut impl Rng, customer: u64, external_ref: String) -> Value {
    let lines: Vec<Value> = (0..rng.random_range(1..=3))
        .map(|_| {
            let (sku, name, price) = PRODUCTS[rng.random_range(0..PRODUCTS.len())];
            json!({ "sku": sku, "productName": name, "quantity": rng.random_range(1..=2), "unitPrice": price })
        })
        .collect();
    let subtotal: i64 = lines
        .iter()
        .map(|l| l["quantity"].as_i64().unwrap_or(0) * l["unitPrice"].as_i64().unwrap_or(0))
        .sum();
    let tax = subtotal * 8 / 100;
    json!({
        "customerId": format!("gid://c360/Customer/{customer}"),
        "externalRef": external_ref,
        "status": "PAID",
        "channel": "POS",
        "currencyCode": "USD",
        "tax": tax,
        "total": subtotal + tax,
        "lines": lines,
    })
}
