//! Tracked segments: the kept membership fills silently when tracking
//! starts, each later change is told once as `segment.entered` /
//! `segment.exited` by the next scheduler pass (however many run, even at
//! once), `members`, `count` and `statistics` read the kept membership, and
//! a customer who comes back is told again.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

use crate::each_store;
use crate::helpers::{TestApp, codes, gid};

const CREATE_SEGMENT: &str = r#"
mutation($input: SegmentCreateInput!) {
  segmentCreate(input: $input) { id name tracked evaluatedAt } }"#;

const UPDATE_SEGMENT: &str = r#"
mutation($id: ID!, $input: SegmentUpdateInput!) {
  segmentUpdate(id: $id, input: $input) { id query tracked evaluatedAt } }"#;

const REFRESH: &str = r#"
mutation($id: ID!) { segmentRefresh(id: $id) { id evaluatedAt count } }"#;

const SEGMENT: &str = r#"
query($id: ID!, $first: Int, $after: String) {
  segment(id: $id) {
    tracked evaluatedAt count
    members(first: $first, after: $after) {
      totalCount edges { node { id } } pageInfo { hasNextPage endCursor } }
    statistics { customers totalLifetimeValue { amount } orders points promoters detractors npsRespondents }
  } }"#;

const EVENTS: &str = r#"
query($types: [String!]) {
  events(first: 100, types: $types) {
    edges { node { id type occurredAt customer { id } data } }
  }
}"#;

const CREATE_CUSTOMER: &str = r#"
mutation($input: CustomerCreateInput!) { customerCreate(input: $input) { id } }"#;

const TAGS_ADD: &str =
    r#"mutation($id: ID!, $tags: [String!]!) { customerTagsAdd(id: $id, tags: $tags) { tags } }"#;

const TAGS_REMOVE: &str = r#"mutation($id: ID!, $tags: [String!]!) { customerTagsRemove(id: $id, tags: $tags) { tags } }"#;

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

async fn customer(app: &TestApp, email: &str) -> i64 {
    let input = json!({ "profile": { "email": email } });
    let data = app.query(CREATE_CUSTOMER, json!({ "input": input })).await;
    num(&data["customerCreate"]["id"])
}

async fn tag(app: &TestApp, customer: i64, tag: &str) {
    let vars = json!({ "id": gid("Customer", customer), "tags": [tag] });
    app.query(TAGS_ADD, vars).await;
}

async fn untag(app: &TestApp, customer: i64, tag: &str) {
    let vars = json!({ "id": gid("Customer", customer), "tags": [tag] });
    app.query(TAGS_REMOVE, vars).await;
}

/// Saves a segment and returns its global id.
async fn save(app: &TestApp, name: &str, query: &str, tracked: bool) -> String {
    let input = json!({ "name": name, "query": query, "tracked": tracked });
    let data = app.query(CREATE_SEGMENT, json!({ "input": input })).await;
    assert_eq!(data["segmentCreate"]["tracked"], tracked);
    data["segmentCreate"]["id"].as_str().expect("id").to_owned()
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

/// Every member of a saved segment through `members`, page by page.
async fn members(app: &TestApp, segment: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let vars = json!({ "id": segment, "first": 7, "after": after });
        let data = app.query(SEGMENT, vars).await;
        let page = &data["segment"]["members"];
        for edge in page["edges"].as_array().expect("edges") {
            seen.push(edge["node"]["id"].as_str().expect("id").to_owned());
        }
        if page["pageInfo"]["hasNextPage"] != true {
            return seen;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

/// The kept membership, straight from the table.
async fn kept(app: &TestApp, segment: &str) -> Vec<String> {
    let sql = format!(
        "SELECT customer_id FROM segment_members WHERE segment_id = {} ORDER BY customer_id",
        num(&json!(segment))
    );
    app.ids(&sql)
        .await
        .into_iter()
        .map(|c| gid("Customer", c))
        .collect()
}

/// The (customer, segment) each event of `event_type` is about, in order.
async fn told(app: &TestApp, event_type: &str) -> Vec<(String, String)> {
    events(app, event_type)
        .await
        .iter()
        .map(|e| {
            let customer = e["customer"]["id"].as_str().expect("customer").to_owned();
            let segment = e["data"]["segment"]["id"]
                .as_str()
                .expect("segment")
                .to_owned();
            (customer, segment)
        })
        .collect()
}

each_store! {
    async fn tracking_keeps_the_current_members_silently_and_reads_them_like_the_query(store: StoreKind) {
        let app = TestApp::spawn(store, |_| {}).await;
        let t0 = app.clock.now_secs();
        app.clock.set(t0);
        app.seed(60).await;
        let q = "number_of_orders >= 2 AND NOT customer_tags CONTAINS 'wholesale'";
        let tracked = save(&app, "Repeat buyers", q, true).await;
        let live = save(&app, "Repeat buyers, live", q, false).await;

        let expected = members(&app, &live).await;
        assert!(expected.len() >= 8, "the seed gives too few members: {expected:?}");
        assert_eq!(kept(&app, &tracked).await, expected, "filled when tracking started");
        assert_eq!(members(&app, &tracked).await, expected);
        // Already being in the segment is not entering it.
        assert_eq!(events(&app, "segment.entered").await, Vec::<Value>::new());

        let data = app.query(SEGMENT, json!({ "id": tracked, "first": 0 })).await;
        let twin = app.query(SEGMENT, json!({ "id": live, "first": 0 })).await;
        let (seg, twin) = (&data["segment"], &twin["segment"]);
        assert_eq!(seg["evaluatedAt"], t0.to_rfc3339());
        assert!(twin["evaluatedAt"].is_null(), "{twin}");
        assert_eq!(seg["count"], expected.len());
        assert_eq!(seg["members"]["totalCount"], expected.len());
        assert_eq!(seg["statistics"], twin["statistics"]);

        // Nothing changed: passes tell nothing and keep the same members.
        app.clock.advance(TimeDelta::minutes(1));
        let ticked = app.tick().await;
        assert_eq!((ticked.segments_entered, ticked.segments_exited), (0, 0), "{ticked:?}");
        assert_eq!(members(&app, &tracked).await, expected);
        let data = app.query(SEGMENT, json!({ "id": tracked, "first": 0 })).await;
        assert_eq!(data["segment"]["evaluatedAt"], app.clock.now().to_rfc3339());
    }
}

each_store! {
    async fn a_customer_moved_in_or_out_is_told_once_at_the_next_pass(store: StoreKind) {
        let app = TestApp::spawn(store, |_| {}).await;
        let t0 = at("2026-06-01T09:00:00Z");
        app.clock.set(t0);
        let joining = customer(&app, "joining@example.com").await;
        let leaving = customer(&app, "leaving@example.com").await;
        customer(&app, "never@example.com").await;
        tag(&app, leaving, "vip").await;
        let segment = save(&app, "VIPs", "customer_tags CONTAINS 'vip'", true).await;
        assert_eq!(kept(&app, &segment).await, vec![gid("Customer", leaving)]);

        app.clock.set(t0 + TimeDelta::hours(1));
        tag(&app, joining, "vip").await;
        untag(&app, leaving, "vip").await;
        // Until a pass, members are those kept.
        assert_eq!(members(&app, &segment).await, vec![gid("Customer", leaving)]);

        app.clock.set(t0 + TimeDelta::hours(2));
        let ticked = app.tick().await;
        assert_eq!((ticked.segments_entered, ticked.segments_exited), (1, 1), "{ticked:?}");
        for _ in 0..3 {
            assert_eq!(app.tick().await.total(), 0, "told twice");
        }
        app.clock.advance(TimeDelta::days(3));
        assert_eq!(app.tick().await.total(), 0, "told again later");

        let entered = events(&app, "segment.entered").await;
        let exited = events(&app, "segment.exited").await;
        assert_eq!((entered.len(), exited.len()), (1, 1), "{entered:?} {exited:?}");
        let shape = |c: i64| json!({
            "segment": { "id": segment, "name": "VIPs" },
            "customerId": gid("Customer", c),
        });
        assert_eq!(entered[0]["customer"]["id"], gid("Customer", joining));
        assert_eq!(entered[0]["data"], shape(joining));
        assert_eq!(entered[0]["occurredAt"], (t0 + TimeDelta::hours(2)).to_rfc3339());
        assert_eq!(exited[0]["customer"]["id"], gid("Customer", leaving));
        assert_eq!(exited[0]["data"], shape(leaving));
        assert!(entered[0]["id"].as_str().expect("id").starts_with("evt_"));

        let expected = vec![gid("Customer", joining)];
        assert_eq!(kept(&app, &segment).await, expected);
        assert_eq!(members(&app, &segment).await, expected);
        let live = app
            .query(
                "{ segmentMembers(query: \"customer_tags CONTAINS 'vip'\") { edges { node { id } } } }",
                json!({}),
            )
            .await;
        assert_eq!(live["segmentMembers"]["edges"], json!([{ "node": { "id": expected[0] } }]));
    }
}

each_store! {
    async fn a_customer_who_leaves_and_comes_back_is_told_each_time(store: StoreKind) {
        let app = TestApp::spawn(store, |_| {}).await;
        let c = customer(&app, "back@example.com").await;
        let segment = save(&app, "VIPs", "customer_tags CONTAINS 'vip'", true).await;
        for step in 0..2 {
            tag(&app, c, "vip").await;
            app.clock.advance(TimeDelta::minutes(5));
            assert_eq!(app.tick().await.segments_entered, 1, "entry {step}");
            untag(&app, c, "vip").await;
            app.clock.advance(TimeDelta::minutes(5));
            assert_eq!(app.tick().await.segments_exited, 1, "exit {step}");
            assert_eq!(app.tick().await.total(), 0);
        }
        let who = (gid("Customer", c), segment.clone());
        assert_eq!(told(&app, "segment.entered").await, vec![who.clone(), who.clone()]);
        assert_eq!(told(&app, "segment.exited").await, vec![who.clone(), who]);
        let id = num(&json!(segment));
        let keys = app
            .scalar(&format!(
                "SELECT COUNT(DISTINCT natural_key) FROM events WHERE natural_key LIKE 'segment_%:{id}:{c}:%'"
            ))
            .await;
        assert_eq!(keys, 4, "each entry and exit has a key of its own");
        assert_eq!(kept(&app, &segment).await, Vec::<String>::new());
    }
}

each_store! {
    async fn days_passing_move_customers_in_without_a_write(store: StoreKind) {
        let app = TestApp::spawn(store, |_| {}).await;
        let t0 = at("2026-03-10T12:00:00Z");
        app.clock.set(t0);
        let c = customer(&app, "new@example.com").await;
        let segment = save(&app, "A week in", "customer_added_date <= -7d", true).await;
        assert_eq!(kept(&app, &segment).await, Vec::<String>::new());

        // Six days on, the customer is not a week in yet.
        app.clock.set(t0 + TimeDelta::days(6));
        assert_eq!(app.tick().await.segments_entered, 0);
        app.clock.set(t0 + TimeDelta::days(7));
        assert_eq!(app.tick().await.segments_entered, 1);
        assert_eq!(told(&app, "segment.entered").await, vec![(gid("Customer", c), segment.clone())]);
        assert_eq!(members(&app, &segment).await, vec![gid("Customer", c)]);
    }
}

each_store! {
    async fn concurrent_passes_tell_each_change_once(store: StoreKind) {
        let app = TestApp::spawn(store, |_| {}).await;
        let mut ids = Vec::new();
        for i in 0..4 {
            ids.push(customer(&app, &format!("race{i}@example.com")).await);
        }
        let first = save(&app, "VIPs", "customer_tags CONTAINS 'vip'", true).await;
        let second = save(&app, "VIPs again", "customer_tags CONTAINS 'vip'", true).await;
        for &c in &ids {
            tag(&app, c, "vip").await;
        }
        app.clock.advance(TimeDelta::minutes(1));
        let passes = tokio::join!(app.tick(), app.tick(), app.tick(), app.tick());
        let each = [passes.0, passes.1, passes.2, passes.3];
        let entered: u64 = each.iter().map(|t| t.segments_entered).sum();
        assert_eq!(entered, 8, "{each:?}");
        assert_eq!(events(&app, "segment.entered").await.len(), 8);
        for segment in [&first, &second] {
            let expected: Vec<String> = ids.iter().map(|&c| gid("Customer", c)).collect();
            assert_eq!(kept(&app, segment).await, expected);
        }
    }
}

each_store! {
    async fn a_changed_query_is_evaluated_at_the_next_pass_and_refresh_tells_at_once(store: StoreKind) {
        let app = TestApp::spawn(store, |_| {}).await;
        app.clock.set(at("2026-05-01T10:00:00Z"));
        let vip = customer(&app, "vip@example.com").await;
        let gold = customer(&app, "gold@example.com").await;
        tag(&app, vip, "vip").await;
        tag(&app, gold, "gold").await;
        let segment = save(&app, "Chosen", "customer_tags CONTAINS 'vip'", true).await;

        app.clock.advance(TimeDelta::minutes(1));
        let vars = json!({ "id": segment, "input": { "query": "customer_tags CONTAINS 'gold'" } });
        let data = app.query(UPDATE_SEGMENT, vars).await;
        assert_eq!(data["segmentUpdate"]["tracked"], true);
        assert_eq!(kept(&app, &segment).await, vec![gid("Customer", vip)], "kept until a pass");
        app.tick().await;
        assert_eq!(told(&app, "segment.exited").await, vec![(gid("Customer", vip), segment.clone())]);
        assert_eq!(told(&app, "segment.entered").await, vec![(gid("Customer", gold), segment.clone())]);

        // segmentRefresh evaluates now and tells; the next pass has nothing left.
        tag(&app, vip, "gold").await;
        app.clock.advance(TimeDelta::minutes(1));
        let data = app.query(REFRESH, json!({ "id": segment })).await;
        assert_eq!(data["segmentRefresh"]["count"], 2);
        assert_eq!(data["segmentRefresh"]["evaluatedAt"], app.clock.now().to_rfc3339());
        assert_eq!(events(&app, "segment.entered").await.len(), 2);
        assert_eq!(app.tick().await.total(), 0);
        assert_eq!(
            app.scalar("SELECT COUNT(*) FROM audit_events WHERE action = 'segment.refresh'").await,
            1
        );
    }
}

each_store! {
    async fn untracking_and_deleting_drop_the_membership_without_telling_exits(store: StoreKind) {
        let app = TestApp::spawn(store, |_| {}).await;
        let c = customer(&app, "kept@example.com").await;
        tag(&app, c, "vip").await;
        let segment = save(&app, "VIPs", "customer_tags CONTAINS 'vip'", true).await;
        assert_eq!(kept(&app, &segment).await.len(), 1);

        let vars = json!({ "id": segment, "input": { "tracked": false } });
        let data = app.query(UPDATE_SEGMENT, vars).await;
        assert_eq!(data["segmentUpdate"]["tracked"], false);
        assert!(data["segmentUpdate"]["evaluatedAt"].is_null(), "{data}");
        assert_eq!(kept(&app, &segment).await.len(), 0);
        // Untracked, members are the query's again.
        assert_eq!(members(&app, &segment).await, vec![gid("Customer", c)]);

        // Tracked again: filled silently, so nobody is told of entering.
        let vars = json!({ "id": segment, "input": { "tracked": true } });
        app.query(UPDATE_SEGMENT, vars).await;
        assert_eq!(kept(&app, &segment).await.len(), 1);
        app.query("mutation($id: ID!) { segmentDelete(id: $id) }", json!({ "id": segment })).await;
        assert_eq!(app.scalar("SELECT COUNT(*) FROM segment_members").await, 0);
        app.clock.advance(TimeDelta::minutes(1));
        assert_eq!(app.tick().await.total(), 0);
        let none = app
            .scalar("SELECT COUNT(*) FROM events WHERE event_type IN ('segment.entered', 'segment.exited')")
            .await;
        assert_eq!(none, 0);
    }
}

each_store! {
    async fn a_page_of_tracked_members_costs_the_same_statements_whatever_its_size(store: StoreKind) {
        let app = TestApp::spawn(store, |_| {}).await;
        app.seed(60).await;
        let segment = save(&app, "Everyone", "number_of_orders >= 0", true).await;
        assert_eq!(kept(&app, &segment).await.len(), 60);
        let page = "query($id: ID!, $first: Int) { segment(id: $id) { members(first: $first) {
            totalCount edges { node { id email stats { ordersCount } } } } } }";
        let mut costs = Vec::new();
        for first in [2, 50] {
            let before = app.sql_statements().await;
            let data = app.query(page, json!({ "id": segment, "first": first })).await;
            costs.push(app.sql_statements().await - before);
            let edges = data["segment"]["members"]["edges"].as_array().expect("edges").len();
            assert_eq!(edges, first);
            assert_eq!(data["segment"]["members"]["totalCount"], 60);
        }
        assert_eq!(costs[0], costs[1], "{costs:?}");
        // The segment, its page, its count.
        assert!(costs[0] <= 3, "{costs:?}");
    }
}

each_store! {
    async fn tracking_what_does_not_exist_is_refused_with_a_code(store: StoreKind) {
        let app = TestApp::spawn(store, |_| {}).await;
        let untracked = save(&app, "Live", "number_of_orders >= 1", false).await;
        let missing = gid("Segment", 999);
        let staff = app.staff();
        let cases = [
            (UPDATE_SEGMENT, json!({ "id": missing, "input": { "tracked": true } }), "NOT_FOUND"),
            (REFRESH, json!({ "id": missing }), "NOT_FOUND"),
            (REFRESH, json!({ "id": untracked }), "CONFLICT"),
            (REFRESH, json!({ "id": gid("Customer", 1) }), "BAD_USER_INPUT"),
        ];
        for (doc, vars, code) in cases {
            let (status, body) = app.post(doc, vars.clone(), Some(&staff)).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(codes(&body), vec![code.to_owned()], "{vars}: {body}");
        }
        let reader = app.token(c360::auth::Role::Partner, "crm", &["segments:read", "customers:read"]);
        let (_, body) = app.post(REFRESH, json!({ "id": untracked }), Some(&reader)).await;
        assert_eq!(codes(&body), vec!["FORBIDDEN".to_owned()], "{body}");
        let input = json!({ "input": { "name": "Sneaky", "query": "number_of_orders >= 1", "tracked": true } });
        let (_, body) = app.post(CREATE_SEGMENT, input, Some(&reader)).await;
        assert_eq!(codes(&body), vec!["FORBIDDEN".to_owned()], "{body}");
        assert_eq!(app.scalar("SELECT COUNT(*) FROM segment_members").await, 0);
    }
}
