//! The seed follows the store's configured business rules, not defaults of
//! its own: a gateway configured with a rule differing from the default in
//! every number is seeded the way `c360 seed` seeds (the app's rules, at its
//! clock's time; and the `c360 seed` command itself), then tiers and their
//! reviews, pending points, earn rates, referral rewards and expiries are
//! checked against the configuration through the API and the raw rows.

use std::collections::BTreeMap;
use std::time::Duration;

use c360::config::{Config, TierPolicyKind};
use c360::domain::orders::SPENDING;
use c360::domain::tiers::policy::{Keep, TierPolicy};
use c360::domain::tiers::{TierThresholds, WINDOW, tier_for_spend};
use c360::service::Rules;
use c360_entity::enums::OrderStatus;
use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use sea_orm::{ActiveEnum, ConnectionTrait, QueryResult, Statement};
use serde_json::json;

use crate::cli::{c360, tier_reviews_settled};
use crate::each_store;
use crate::helpers::TestApp;

const DAY: u64 = 86_400;

/// Every rule away from its default (USD, 1 point, 14 days, no expiry,
/// 500/1,500/5,000, tiers kept through the next year with 30 days' notice,
/// no minimum, 1,000/500 points).
fn configure(config: &mut Config) {
    config.base_currency = "EUR".into();
    config.loyalty_points_per_unit = 3;
    config.loyalty_return_window = Duration::from_secs(10 * DAY);
    config.loyalty_points_expire_after = Duration::from_secs(400 * DAY);
    config.tier_silver = 20_000;
    config.tier_gold = 60_000;
    config.tier_platinum = 150_000;
    config.tier_policy = TierPolicyKind::Rolling;
    config.tier_downgrade_notice = Duration::from_secs(10 * DAY);
    config.referral_min_order = 6_000;
    config.referral_referrer_points = 700;
    config.referral_referee_points = 300;
}

/// The same rules as `c360 seed` flags.
const FLAGS: &[&str] = &[
    "--base-currency",
    "EUR",
    "--loyalty-points-per-unit",
    "3",
    "--loyalty-return-window",
    "10d",
    "--loyalty-points-expire-after",
    "400d",
    "--tier-silver",
    "20000",
    "--tier-gold",
    "60000",
    "--tier-platinum",
    "150000",
    "--tier-policy",
    "rolling",
    "--tier-downgrade-notice",
    "10d",
    "--referral-min-order",
    "6000",
    "--referral-referrer-points",
    "700",
    "--referral-referee-points",
    "300",
];

/// What `configure` must amount to, written out independently.
fn expected_rules() -> Rules {
    Rules {
        base_currency: "EUR".into(),
        points_per_unit: 3,
        return_window: TimeDelta::days(10),
        points_expire_after: Some(TimeDelta::days(400)),
        tiers: TierThresholds {
            silver: 20_000,
            gold: 60_000,
            platinum: 150_000,
        },
        tier_policy: TierPolicy {
            keep: Keep::Rolling,
            notice_days: 10,
            tz: chrono_tz::Tz::UTC,
        },
        referral_min_order: 6_000,
        referral_points: (700, 300),
        store_credit: Default::default(),
        interest_decay: Default::default(),
    }
}

/// Points for a kept amount of EUR (two decimals): 3 per major unit,
/// rounded down, as `loyalty::points_for` defines the rate.
fn points_for(amount_minor: i64) -> i64 {
    amount_minor * 3 / 100
}

async fn rows(app: &TestApp, sql: &str) -> Vec<QueryResult> {
    app.db
        .query_all_raw(Statement::from_string(
            app.db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .unwrap_or_else(|e| panic!("{e}: {sql}"))
}

fn get<T: sea_orm::TryGetable>(row: &QueryResult, i: usize) -> T {
    row.try_get_by_index::<T>(i)
        .unwrap_or_else(|e| panic!("column {i}: {e}"))
}

struct Order {
    id: i64,
    customer: i64,
    status: String,
    total: i64,
    refunded: i64,
    placed_at: DateTime<Utc>,
}

impl Order {
    fn paid(&self) -> bool {
        SPENDING.iter().any(|s| s.to_value() == self.status)
    }
    fn kept(&self) -> bool {
        self.paid() && self.refunded < self.total
    }
}

async fn orders(app: &TestApp) -> Vec<Order> {
    let sql = "SELECT id, customer_id, status, total, refunded, placed_at, currency FROM orders
               ORDER BY customer_id, placed_at, id";
    let mut out = Vec::new();
    for row in rows(app, sql).await {
        assert_eq!(
            get::<String>(&row, 6),
            "EUR",
            "every order in the base currency"
        );
        out.push(Order {
            id: get(&row, 0),
            customer: get(&row, 1),
            status: get(&row, 2),
            total: get(&row, 3),
            refunded: get(&row, 4),
            placed_at: get(&row, 5),
        });
    }
    out
}

/// Net spend of paid orders within the tier window ending at `now`.
fn trailing(orders: &[Order], customer: i64, now: DateTime<Utc>) -> i64 {
    orders
        .iter()
        .filter(|o| o.customer == customer && o.paid() && o.placed_at >= now - WINDOW)
        .map(|o| o.total - o.refunded)
        .sum()
}

/// The second after `now` at which the customer's trailing spend falls
/// below the threshold of `tier` if nothing more is bought: the rolling
/// policy's review; `None` at BRONZE.
fn rolling_review(
    orders: &[Order],
    customer: i64,
    now: DateTime<Utc>,
    tier: &str,
    rules: &Rules,
) -> Option<DateTime<Utc>> {
    let floor = match tier {
        "SILVER" => rules.tiers.silver,
        "GOLD" => rules.tiers.gold,
        "PLATINUM" => rules.tiers.platinum,
        _ => return None,
    };
    let mut counted: Vec<&Order> = orders
        .iter()
        .filter(|o| o.customer == customer && o.paid())
        .filter(|o| o.placed_at >= now - WINDOW && o.placed_at <= now)
        .collect();
    counted.sort_by_key(|o| o.placed_at);
    let mut left: i64 = counted.iter().map(|o| o.total - o.refunded).sum();
    for (i, o) in counted.iter().enumerate() {
        left -= o.total - o.refunded;
        let leaves = (o.placed_at + WINDOW).trunc_subsecs(0) + TimeDelta::seconds(1);
        let next_leaves_with_it = counted.get(i + 1).is_some_and(|n| {
            (n.placed_at + WINDOW).trunc_subsecs(0) + TimeDelta::seconds(1) == leaves
        });
        if left < floor && !next_leaves_with_it {
            return Some(leaves);
        }
    }
    None
}

/// Rows that only the configured rules explain, counted by [`check_rows`].
#[derive(Debug, Default)]
struct Evidence {
    /// Accounts whose tier the default thresholds would not give.
    tiers_moved: usize,
    /// EARN rows AVAILABLE that the default return window would keep PENDING.
    window_shorter: usize,
    /// Referrals left SIGNED_UP by a first order below the minimum.
    below_minimum: usize,
    pending: usize,
    rewarded: usize,
}

/// Checks the raw rows against `rules`, for a seed made at some instant in
/// `[from, to]` (whole seconds; the same instant when the clock was stopped).
async fn check_rows(
    app: &TestApp,
    rules: &Rules,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Evidence {
    let mut seen = Evidence::default();
    let orders = orders(app).await;
    let by_id: BTreeMap<i64, &Order> = orders.iter().map(|o| (o.id, o)).collect();
    let window = rules.return_window;
    let expire_after = rules.points_expire_after.expect("expiry configured");

    // Tiers: the configured thresholds over the trailing window's spend,
    // reviewed (rolling) the second that spend falls below the tier, with
    // the configured notice.
    let mut tiers = BTreeMap::<String, usize>::new();
    let sql = "SELECT customer_id, tier, tier_review_at, tier_notice_at FROM loyalty_accounts";
    for row in rows(app, sql).await {
        let (customer, tier): (i64, String) = (get(&row, 0), get(&row, 1));
        let candidates =
            [from, to].map(|t| tier_for_spend(trailing(&orders, customer, t), &rules.tiers));
        assert!(
            candidates.iter().any(|c| c.to_value() == tier),
            "customer {customer}: tier {tier}, configured thresholds give {candidates:?}"
        );
        let review: Option<DateTime<Utc>> = get(&row, 2);
        let reviews = [from, to].map(|t| rolling_review(&orders, customer, t, &tier, rules));
        assert!(
            reviews.contains(&review),
            "customer {customer}: {tier} reviewed at {review:?}, expected {reviews:?}"
        );
        let notice: Option<DateTime<Utc>> = get(&row, 3);
        let ten_days_before = review.map(|r| {
            (r.date_naive() - TimeDelta::days(10))
                .and_time(chrono::NaiveTime::MIN)
                .and_utc()
        });
        assert_eq!(notice, ten_days_before, "customer {customer}");
        let default = tier_for_spend(trailing(&orders, customer, to), &TierThresholds::default());
        seen.tiers_moved += usize::from(default.to_value() != tier);
        *tiers.entry(tier).or_default() += 1;
    }
    assert!(tiers.len() >= 3, "tiers seeded: {tiers:?}");

    // EARN rows: the configured rate on what the order kept, PENDING exactly
    // inside the configured return window, expiring as configured.
    let sql = "SELECT order_id, points, state, created_at, available_at, expires_at
               FROM loyalty_transactions WHERE kind = 'EARN'";
    let mut earned = BTreeMap::new();
    for row in rows(app, sql).await {
        let order = by_id[&get::<i64>(&row, 0)];
        let (points, state): (i64, String) = (get(&row, 1), get(&row, 2));
        let created: DateTime<Utc> = get(&row, 3);
        assert_eq!(created, order.placed_at, "order {}", order.id);
        earned.insert(order.id, points);
        if !order.kept() {
            assert_eq!(order.status, OrderStatus::Refunded.to_value());
            assert_eq!(
                (state.as_str(), points),
                ("CANCELLED", points_for(order.total))
            );
            continue;
        }
        assert_eq!(
            points,
            points_for(order.total - order.refunded),
            "order {}",
            order.id
        );
        let available: DateTime<Utc> = get(&row, 4);
        assert_eq!(available, created + window, "order {}", order.id);
        let expires: Option<DateTime<Utc>> = get(&row, 5);
        assert_eq!(
            expires,
            Some(available + expire_after),
            "order {}",
            order.id
        );
        match state.as_str() {
            "PENDING" => {
                assert!(
                    available > from,
                    "order {} pending past its window",
                    order.id
                );
                seen.pending += 1;
            }
            "AVAILABLE" => {
                assert!(
                    available <= to,
                    "order {} available inside its window",
                    order.id
                );
                seen.window_shorter += usize::from(created + TimeDelta::days(14) > to);
            }
            other => panic!("order {}: EARN row {other}", order.id),
        }
    }
    for order in orders.iter().filter(|o| o.paid()) {
        assert!(
            earned.contains_key(&order.id),
            "order {} earned nothing",
            order.id
        );
    }

    // Every credit expires the configured time after it became available,
    // and expired points were written off.
    let sql = "SELECT COUNT(*) FROM loyalty_transactions WHERE points > 0
               AND kind IN ('EARN', 'ADJUST', 'REFERRAL_BONUS') AND state <> 'CANCELLED'
               AND expires_at IS NULL";
    assert_eq!(app.scalar(sql).await, 0, "credits that never expire");
    let sql = "SELECT available_at, expires_at FROM loyalty_transactions
               WHERE points > 0 AND kind IN ('ADJUST', 'REFERRAL_BONUS')";
    for row in rows(app, sql).await {
        let available: DateTime<Utc> = get(&row, 0);
        assert_eq!(get::<DateTime<Utc>>(&row, 1), available + expire_after);
    }
    let sql = "SELECT COUNT(*) FROM loyalty_transactions WHERE kind = 'EXPIRE'";
    assert!(app.scalar(sql).await > 0, "nothing expired in three years");
    let sql = "SELECT COUNT(*) FROM loyalty_accounts WHERE points_available < 0";
    assert_eq!(app.scalar(sql).await, 0, "overdrawn accounts");

    // Referral bonuses: the configured points, for each side.
    let (referrer, referee) = rules.referral_points;
    let sql = "SELECT idempotency_key, points FROM loyalty_transactions
               WHERE kind = 'REFERRAL_BONUS'";
    let mut sides = BTreeMap::<String, usize>::new();
    for row in rows(app, sql).await {
        let (key, points): (String, i64) = (get(&row, 0), get(&row, 1));
        let side = key.rsplit(':').next().unwrap_or_default().to_owned();
        let expected = if side == "referrer" {
            referrer
        } else {
            referee
        };
        assert_eq!(points, expected, "{key}");
        *sides.entry(side).or_default() += 1;
    }
    assert_eq!(sides.keys().collect::<Vec<_>>(), ["referee", "referrer"]);
    assert_eq!(sides["referee"], sides["referrer"], "{sides:?}");

    // Referrals convert on the referee's first paid order, only if it
    // reaches the configured minimum; REWARDED once its window is over.
    let sql = "SELECT referee_customer_id, status, referrer_reward_points, referee_reward_points,
                      converted_at, rewarded_at
               FROM referrals WHERE referee_customer_id IS NOT NULL";

    for row in rows(app, sql).await {
        let (referee_id, status): (i64, String) = (get(&row, 0), get(&row, 1));
        let first = orders.iter().find(|o| o.customer == referee_id && o.paid());
        let converted: Option<DateTime<Utc>> = get(&row, 4);
        let points: (i64, i64) = (get(&row, 2), get(&row, 3));
        match status.as_str() {
            "REWARDED" | "CONVERTED" => {
                let first = first.expect("a converted referral has a paid order");
                assert!(first.total >= rules.referral_min_order, "{referee_id}");
                assert_eq!(converted, Some(first.placed_at));
                let rewarded_at: Option<DateTime<Utc>> = get(&row, 5);
                if status == "REWARDED" {
                    assert_eq!(rewarded_at, Some(first.placed_at + window));
                    assert_eq!(points, rules.referral_points);
                    seen.rewarded += 1;
                } else {
                    assert_eq!((rewarded_at, points), (None, (0, 0)));
                }
            }
            "SIGNED_UP" => {
                assert_eq!((converted, points), (None, (0, 0)));
                if let Some(first) = first {
                    assert!(first.total < rules.referral_min_order, "{referee_id}");
                    seen.below_minimum += 1;
                }
            }
            other => panic!("referral of {referee_id}: {other}"),
        }
    }
    assert_eq!(seen.rewarded, sides["referrer"]);
    assert!(seen.rewarded > 0, "no referral rewarded");
    assert!(seen.pending > 0, "no points pending");
    seen
}

/// Tiers and pending points as the API shows them, against the configured
/// thresholds and an independent sum of the EARN rows inside the window.
async fn check_api(app: &TestApp, rules: &Rules, now: DateTime<Utc>) {
    let orders = orders(app).await;
    let query = "query($after: String) { customers(first: 50, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes { id loyalty { tier pointsPending trailingSpend { amount currencyCode } } } } }";
    let (mut after, mut seen, mut pending_total) = (None::<String>, 0, 0);
    loop {
        let data = app.query(query, json!({ "after": after })).await;
        let page = &data["customers"];
        for node in page["nodes"].as_array().expect("nodes") {
            let id = node["id"].as_str().expect("id");
            let customer: i64 = id
                .rsplit('/')
                .next()
                .and_then(|n| n.parse().ok())
                .expect(id);
            let loyalty = &node["loyalty"];
            let spend = &loyalty["trailingSpend"];
            assert_eq!(spend["currencyCode"], "EUR");
            let minor: i64 = spend["amount"]
                .as_str()
                .expect("amount")
                .replace('.', "")
                .parse()
                .expect("minor");
            assert_eq!(
                minor,
                trailing(&orders, customer, now),
                "customer {customer}"
            );
            let tier = tier_for_spend(minor, &rules.tiers);
            assert_eq!(
                loyalty["tier"],
                tier.to_value(),
                "customer {customer} spent {minor}"
            );
            let pending: i64 = orders
                .iter()
                .filter(|o| o.customer == customer && o.kept())
                .filter(|o| o.placed_at + rules.return_window > now)
                .map(|o| points_for(o.total - o.refunded))
                .sum();
            assert_eq!(loyalty["pointsPending"], pending, "customer {customer}");
            pending_total += pending;
            seen += 1;
        }
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, app.scalar("SELECT COUNT(*) FROM customers").await);
    assert!(pending_total > 0);
}

each_store! {
    async fn seed_follows_the_configured_rules(store: StoreKind) {
        let app = TestApp::spawn(store, configure).await;
        assert_eq!(app.rules, expected_rules());
        // A fixed instant: the data, and so every count asserted, is the same
        // on every run.
        let now = DateTime::parse_from_rfc3339("2026-03-10T15:20:07Z")
            .expect("instant")
            .with_timezone(&Utc);
        app.clock.set(now);
        app.seed(200).await;
        let seen = check_rows(&app, &app.rules, now, now).await;
        // On a fixed day the data is known to hold rows that the defaults
        // would have made otherwise: the test fails if the seed ignored them.
        assert!(seen.tiers_moved > 0, "{seen:?}");
        assert!(seen.window_shorter > 0, "{seen:?}");
        assert!(seen.below_minimum > 0, "{seen:?}");
        check_api(&app, &app.rules, now).await;
    }
}

each_store! {
    async fn the_seed_command_applies_the_configuration(store: StoreKind) {
        let app = TestApp::spawn(store, configure).await;
        let from = Utc::now().trunc_subsecs(0);
        let out = c360()
            .args(["seed", "--customers", "200", "--seed", "7", "--database-url", &app.db_url])
            .args(FLAGS)
            .output()
            .expect("c360 seed runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let to = Utc::now();
        check_rows(&app, &expected_rules(), from, to).await;
    }
}

each_store! {
    async fn a_store_seeded_under_new_tier_rules_starts_with_nothing_due(store: StoreKind) {
        // The gateway starts under the default rules and records them; the
        // store is then seeded with thresholds of its own, as a program
        // seeding through the library does, without a start of its own.
        let app = TestApp::spawn(store, |_| {}).await;
        let mut config = Config::for_store(app.db_url.clone());
        config.tier_silver = 20_000;
        config.tier_gold = 60_000;
        config.tier_platinum = 150_000;
        let rules = Rules::from_config(&config).expect("rules");
        c360::seed::run(
            &app.db,
            &c360::seed::SeedOptions {
                customers: 200,
                seed: 7,
                rules,
                now: Utc::now(),
                progress: false,
            },
        )
        .await
        .expect("seed");
        let above_bronze = app
            .scalar("SELECT COUNT(*) FROM loyalty_accounts WHERE tier <> 'BRONZE'")
            .await;
        assert!(above_bronze > 0, "the seed holds tiers to review");
        // The seed reviewed every tier under its rules, so a start under
        // them marks none due and a pass finds nothing to review.
        let thresholds = ["--tier-silver", "20000", "--tier-gold", "60000", "--tier-platinum", "150000"];
        assert_eq!(
            tier_reviews_settled(&app.db_url, &thresholds),
            "reviewed 0 loyalty tiers; lowered 0; told 0 at risk"
        );
    }
}
