//! The events scheduler: each time-based event fires when the clock reaches
//! its moment (not a second before), once however many passes run, even
//! concurrently, with the data the catalogue promises; under the rolling
//! tier policy, tiers drop when spend ages out of the 365-day window (the
//! retaining policy is tested in `tier_reviews`).

use std::time::Duration;

use c360::config::TierPolicyKind;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

use crate::helpers::{TestApp, gid};
use crate::writes_orders::{INGEST, order_of, partner};
use crate::{both_stores, each_store};

const EVENTS: &str = r#"
query($types: [String!]) {
  events(first: 100, types: $types) {
    edges { node { type occurredAt customer { id } data } }
  }
}"#;

const CREATE: &str = r#"
mutation($input: CustomerCreateInput!) { customerCreate(input: $input) { id } }"#;

const OPEN: &str = r#"
mutation($c: ID!) {
  ticketOpen(customerId: $c, subject: "Where is my order?", body: "Hello", priority: HIGH, channel: CHAT) { id } }"#;

const REPLY: &str = r#"
mutation($id: ID!) { ticketReply(id: $id, authorKind: AGENT, body: "On its way", authorName: "Sam") { id } }"#;

const SOLVE: &str = r#"
mutation($id: ID!) { ticketUpdateStatus(id: $id, status: SOLVED) { status } }"#;

const REDEEM: &str = r#"
mutation($c: ID!, $p: Int!, $k: String!) {
  redeemPoints(customerId: $c, points: $p, idempotencyKey: $k) { pointsAvailable } }"#;

const TIER: &str = r#"query($id: ID!) { customer(id: $id) { loyalty { tier } } }"#;

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .expect("a time")
        .to_utc()
}

fn num(id: &Value) -> i64 {
    id.as_str()
        .expect("an id")
        .rsplit('/')
        .next()
        .expect("a number")
        .parse()
        .expect("an integer")
}

/// The events of `event_type`, oldest first.
async fn events(app: &TestApp, event_type: &str) -> Vec<Value> {
    let data = app.query(EVENTS, json!({ "types": [event_type] })).await;
    data["events"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

async fn customer(app: &TestApp, email: &str, birthday: Option<&str>) -> i64 {
    let input = json!({ "profile": { "email": email, "birthday": birthday } });
    let data = app.query(CREATE, json!({ "input": input })).await;
    num(&data["customerCreate"]["id"])
}

async fn paid_order(app: &TestApp, customer: i64, external_ref: &str, total: i64) {
    let input = order_of(customer, external_ref, "PAID", total);
    let (_, body) = app
        .post(INGEST, json!({ "input": input }), Some(&partner(app)))
        .await;
    assert!(body.get("errors").is_none(), "{body}");
}

async fn open_ticket(app: &TestApp, customer: i64) -> String {
    let data = app
        .query(OPEN, json!({ "c": gid("Customer", customer) }))
        .await;
    data["ticketOpen"]["id"].as_str().expect("id").to_owned()
}

async fn tier(app: &TestApp, customer: i64) -> String {
    let data = app
        .query(TIER, json!({ "id": gid("Customer", customer) }))
        .await;
    data["customer"]["loyalty"]["tier"]
        .as_str()
        .expect("tier")
        .to_owned()
}

/// Runs `passes` passes and returns how many events they emitted in all.
async fn ticks(app: &TestApp, passes: usize) -> u64 {
    let mut total = 0;
    for _ in 0..passes {
        total += app.tick().await.total();
    }
    total
}

each_store! {
    async fn points_expiring_is_told_once_within_the_notice_with_what_is_left(store: StoreKind) {
        let app = TestApp::spawn(store, |c| {
            c.loyalty_return_window = Duration::ZERO;
            c.loyalty_points_expire_after = Duration::from_secs(30 * 86_400);
        })
        .await;
        let t0 = at("2026-03-01T10:00:00Z");
        app.clock.set(t0);
        let c = customer(&app, "expiring@example.com", None).await;
        // 100.00 USD earns 100 points, available at once, expiring on day 30.
        paid_order(&app, c, "exp-1", 10_000).await;
        // Spending takes the points that expire first: 70 are left to expire.
        app.query(REDEEM, json!({ "c": gid("Customer", c), "p": 30, "k": "r1" }))
            .await;

        // The 14-day notice reaches day 30 at day 16, not a second before.
        app.clock.set(t0 + TimeDelta::days(16) - TimeDelta::seconds(1));
        assert_eq!(ticks(&app, 2).await, 0);
        assert!(events(&app, "loyalty.points_expiring").await.is_empty());

        app.clock.set(t0 + TimeDelta::days(16));
        assert_eq!(app.tick().await.points_expiring, 1);
        assert_eq!(ticks(&app, 2).await, 0, "told twice");
        app.clock.advance(TimeDelta::days(5));
        assert_eq!(ticks(&app, 1).await, 0, "told again on a later day");

        let told = events(&app, "loyalty.points_expiring").await;
        assert_eq!(told.len(), 1, "{told:?}");
        let e = &told[0];
        assert_eq!(e["customer"]["id"], gid("Customer", c));
        assert_eq!(e["occurredAt"], (t0 + TimeDelta::days(16)).to_rfc3339());
        assert_eq!(
            e["data"],
            json!({
                "customerId": gid("Customer", c),
                "points": 70,
                "expiresOn": "2026-03-31",
                "expiresAt": (t0 + TimeDelta::days(30)).to_rfc3339(),
            })
        );
    }
}

both_stores! {
    async fn a_first_reply_breach_is_told_when_the_target_passes_unanswered(app: TestApp) {
        let t0 = at("2026-05-04T08:00:00Z");
        app.clock.set(t0);
        let c = customer(&app, "waiting@example.com", None).await;
        let waiting = open_ticket(&app, c).await;
        let answered = open_ticket(&app, c).await;
        let solved = open_ticket(&app, c).await;
        app.clock.set(t0 + TimeDelta::minutes(10));
        app.query(REPLY, json!({ "id": answered })).await;
        app.query(SOLVE, json!({ "id": solved })).await;

        // The target is one hour: waiting exactly that long is no breach.
        app.clock.set(t0 + TimeDelta::hours(1));
        assert_eq!(ticks(&app, 2).await, 0);

        app.clock.set(t0 + TimeDelta::hours(1) + TimeDelta::seconds(1));
        assert_eq!(app.tick().await.first_reply_breached, 1);
        assert_eq!(ticks(&app, 3).await, 0, "told twice");
        // Answered late, it is not told again.
        app.query(REPLY, json!({ "id": waiting })).await;
        app.clock.advance(TimeDelta::hours(5));
        assert_eq!(ticks(&app, 1).await, 0);

        let told = events(&app, "ticket.first_reply_breached").await;
        assert_eq!(told.len(), 1, "{told:?}");
        let data = &told[0]["data"];
        assert_eq!(data["ticket"]["id"], waiting);
        assert_eq!(data["ticket"]["status"], "NEW");
        assert!(data["ticket"]["firstReplyAt"].is_null(), "{data}");
        assert_eq!(data["firstReplyDueAt"], (t0 + TimeDelta::hours(1)).to_rfc3339());
        assert_eq!(data["customerId"], gid("Customer", c));
    }
}

both_stores! {
    async fn birthdays_are_told_a_week_ahead_once_a_year_and_leap_days_on_the_28th(app: TestApp) {
        app.clock.set(at("2026-01-05T12:00:00Z"));
        let march = customer(&app, "march@example.com", Some("1990-03-10")).await;
        let leap = customer(&app, "leap@example.com", Some("2000-02-29")).await;
        customer(&app, "none@example.com", None).await;

        // 2027 is not a leap year: 29 February is celebrated on the 28th,
        // told 7 days ahead, on the 21st.
        app.clock.set(at("2027-02-20T23:59:59Z"));
        assert_eq!(app.tick().await.birthdays_upcoming, 0);
        app.clock.set(at("2027-02-21T00:00:00Z"));
        assert_eq!(app.tick().await.birthdays_upcoming, 1);
        assert_eq!(ticks(&app, 2).await, 0, "told twice");

        app.clock.set(at("2027-03-02T18:00:00Z"));
        assert_eq!(app.tick().await.birthdays_upcoming, 0, "8 days ahead");
        app.clock.set(at("2027-03-03T06:00:00Z"));
        assert_eq!(app.tick().await.birthdays_upcoming, 1);
        app.clock.set(at("2027-03-09T06:00:00Z"));
        assert_eq!(ticks(&app, 2).await, 0, "told twice in one year");

        // The next year, once more.
        app.clock.set(at("2028-03-04T06:00:00Z"));
        assert_eq!(app.tick().await.birthdays_upcoming, 1);

        let told = events(&app, "customer.birthday_upcoming").await;
        let seen: Vec<(Value, Value)> = told
            .iter()
            .map(|e| (e["customer"]["id"].clone(), e["data"]["date"].clone()))
            .collect();
        assert_eq!(
            seen,
            vec![
                (json!(gid("Customer", leap)), json!("2027-02-28")),
                (json!(gid("Customer", march)), json!("2027-03-10")),
                (json!(gid("Customer", march)), json!("2028-03-10")),
            ]
        );
        // The day only: never the birth date or an age.
        assert_eq!(
            told[0]["data"],
            json!({ "customerId": gid("Customer", leap), "date": "2027-02-28" })
        );
    }
}

each_store! {
    async fn signup_anniversaries_follow_the_stores_calendar_day(store: StoreKind) {
        let app = TestApp::spawn(store, |c| {
            c.timezone = "Pacific/Auckland".parse().expect("a zone");
        })
        .await;
        // 20:00 UTC on 15 June is 08:00 on 16 June in Auckland (UTC+12).
        app.clock.set(at("2025-06-15T20:00:00Z"));
        let c = customer(&app, "loyal@example.com", None).await;

        // On the signup day itself: no anniversary yet.
        assert_eq!(app.tick().await.signup_anniversaries, 0);
        // 23:00 on 15 June 2026 in Auckland: not yet.
        app.clock.set(at("2026-06-15T11:00:00Z"));
        assert_eq!(app.tick().await.signup_anniversaries, 0);
        // 00:30 on 16 June 2026 in Auckland: one year.
        app.clock.set(at("2026-06-15T12:30:00Z"));
        assert_eq!(app.tick().await.signup_anniversaries, 1);
        app.clock.set(at("2026-06-16T11:00:00Z"));
        assert_eq!(ticks(&app, 2).await, 0, "told twice");

        let told = events(&app, "customer.signup_anniversary").await;
        assert_eq!(told.len(), 1, "{told:?}");
        assert_eq!(
            told[0]["data"],
            json!({ "customerId": gid("Customer", c), "date": "2026-06-16", "years": 1 })
        );
    }
}

each_store! {
    async fn a_rolling_tier_drops_when_its_spend_ages_out_of_the_window(store: StoreKind) {
        let app = TestApp::spawn(store, |c| c.tier_policy = TierPolicyKind::Rolling).await;
        let t0 = at("2026-01-10T09:00:00Z");
        app.clock.set(t0);
        let aging = customer(&app, "aging@example.com", None).await;
        let recent = customer(&app, "recent@example.com", None).await;
        let gold = customer(&app, "gold@example.com", None).await;
        // 600.00 USD reaches SILVER (500.00); 1,600.00 USD reaches GOLD.
        paid_order(&app, aging, "tier-1", 60_000).await;
        paid_order(&app, gold, "tier-2", 160_000).await;
        app.clock.set(t0 + TimeDelta::days(100));
        paid_order(&app, recent, "tier-3", 60_000).await;
        assert_eq!(tier(&app, aging).await, "SILVER");
        assert_eq!(tier(&app, gold).await, "GOLD");

        // The window is the last 365 days, its start included.
        app.clock.set(t0 + TimeDelta::days(365));
        assert_eq!(app.tick().await.tiers_lowered, 0);
        assert_eq!(tier(&app, aging).await, "SILVER");

        app.clock.set(t0 + TimeDelta::days(365) + TimeDelta::seconds(1));
        assert_eq!(app.tick().await.tiers_lowered, 2);
        assert_eq!(tier(&app, aging).await, "BRONZE");
        assert_eq!(tier(&app, gold).await, "BRONZE");
        assert_eq!(tier(&app, recent).await, "SILVER");
        app.clock.advance(TimeDelta::hours(3));
        assert_eq!(ticks(&app, 2).await, 0, "told twice");

        let down: Vec<Value> = events(&app, "loyalty.tier_changed")
            .await
            .into_iter()
            .filter(|e| e["data"]["direction"] == "DOWN")
            .collect();
        assert_eq!(down.len(), 2, "{down:?}");
        let of = |c: i64| {
            down.iter()
                .find(|e| e["customer"]["id"] == gid("Customer", c))
                .map(|e| e["data"].clone())
        };
        assert_eq!(
            of(aging),
            Some(json!({
                "customerId": gid("Customer", aging),
                "from": "SILVER", "to": "BRONZE", "direction": "DOWN", "reason": "SPEND_WINDOW",
            }))
        );
        assert_eq!(of(gold).map(|d| d["from"].clone()), Some(json!("GOLD")));

        // The recent order ages out 100 days later.
        app.clock.set(t0 + TimeDelta::days(466));
        assert_eq!(app.tick().await.tiers_lowered, 1);
        assert_eq!(tier(&app, recent).await, "BRONZE");
    }
}

each_store! {
    async fn concurrent_passes_emit_each_event_once(store: StoreKind) {
        let app = TestApp::spawn(store, |c| c.tier_policy = TierPolicyKind::Rolling).await;
        let t0 = at("2026-04-01T09:00:00Z");
        app.clock.set(t0);
        let mut tickets = Vec::new();
        for i in 0..3 {
            let c = customer(&app, &format!("race{i}@example.com"), Some("1985-04-05")).await;
            paid_order(&app, c, &format!("race-{i}"), 60_000).await;
            tickets.push(open_ticket(&app, c).await);
        }
        // Birthdays on 5 April are within the week; the tickets breach.
        app.clock.set(t0 + TimeDelta::hours(2));
        let passes = tokio::join!(app.tick(), app.tick(), app.tick(), app.tick());
        let each = [passes.0, passes.1, passes.2, passes.3];
        let sum = |f: fn(&c360::events::scheduler::Ticked) -> u64| each.iter().map(f).sum::<u64>();
        assert_eq!(sum(|t| t.birthdays_upcoming), 3, "{each:?}");
        assert_eq!(sum(|t| t.first_reply_breached), 3, "{each:?}");
        assert_eq!(events(&app, "customer.birthday_upcoming").await.len(), 3);
        assert_eq!(events(&app, "ticket.first_reply_breached").await.len(), 3);

        // A year on, the tiers drop: racing passes lower and tell each once.
        app.clock.set(t0 + TimeDelta::days(366));
        let passes = tokio::join!(app.tick(), app.tick(), app.tick());
        let lowered = passes.0.tiers_lowered + passes.1.tiers_lowered + passes.2.tiers_lowered;
        assert_eq!(lowered, 3, "{passes:?}");
        let down = events(&app, "loyalty.tier_changed")
            .await
            .into_iter()
            .filter(|e| e["data"]["direction"] == "DOWN")
            .count();
        assert_eq!(down, 3);
    }
}

both_stores! {
    async fn a_pass_over_many_customers_runs_a_few_statements_per_trigger(app: TestApp) {
        // Seeded history: thousands of ledger rows, orders and tickets.
        app.seed(300).await;
        app.clock.advance(TimeDelta::days(1));
        app.tick().await;
        // Nothing new a second time, in a fixed number of statements: per
        // trigger one batch and, where it found candidates, one look-up of
        // their keys (and the ledgers of customers with expiring points).
        let (ticked, statements) = c360::db::count_statements(app.tick()).await;
        assert_eq!(ticked.total(), 0, "{ticked:?}");
        assert!(statements <= 12, "{statements} statements");
    }
}
