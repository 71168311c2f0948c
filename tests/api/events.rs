//! The outbox through the API: each committed write emits exactly its
//! events in its transaction, stamped with the write's clock; failed,
//! conflicting and retried writes emit nothing; `Query.events` pages the
//! log in `seq` order for staff only.

use c360::auth::Role;
use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::both_stores;
use crate::helpers::TestApp;
use crate::writes_orders::{INGEST, REFUND, STATUS, codes, field, gid, order_of, partner};

const EVENTS: &str = r#"
query($first: Int, $after: String, $types: [String!], $customer: ID) {
  events(first: $first, after: $after, types: $types, customerId: $customer) {
    edges { cursor node { id type occurredAt customer { id } data } }
    pageInfo { hasNextPage endCursor }
  }
}"#;

const CREATE: &str = r#"
mutation($input: CustomerCreateInput!) {
  customerCreate(input: $input) { id loyalty { referralCode } } }"#;

const ORDER: &str = r#"
query($id: ID!) { node(id: $id) { ... on Order {
  status total { amount currencyCode } refunded { amount currencyCode } } } }"#;

const REDEEM: &str = r#"
mutation($c: ID!, $p: Int!, $k: String!) {
  redeemPoints(customerId: $c, points: $p, idempotencyKey: $k) { pointsAvailable } }"#;

const ADJUST: &str = r#"
mutation($c: ID!, $p: Int!) {
  adjustPoints(customerId: $c, points: $p, reason: "goodwill") { pointsAvailable } }"#;

const LOYALTY: &str = r#"
query($id: ID!) { customer(id: $id) { loyalty { pointsAvailable pointsPending } } }"#;

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .expect("a time")
        .to_utc()
}

/// A time as the API writes it.
fn shown(t: DateTime<Utc>) -> String {
    t.to_rfc3339()
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

/// Every event about `customer`, oldest first, read page by page.
async fn events_of(app: &TestApp, customer: i64) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = Value::Null;
    loop {
        let vars = json!({ "first": 3, "after": after, "customer": gid("Customer", customer) });
        let data = app.query(EVENTS, vars).await;
        let page = &data["events"];
        out.extend(
            page["edges"]
                .as_array()
                .expect("edges")
                .iter()
                .map(|e| e["node"].clone()),
        );
        if page["pageInfo"]["hasNextPage"] != true {
            return out;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

fn types(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["type"].as_str().expect("type"))
        .collect()
}

/// The events of `customer` after the first `skip`.
async fn new_events(app: &TestApp, customer: i64, skip: usize) -> Vec<Value> {
    events_of(app, customer).await.split_off(skip)
}

async fn outbox_size(app: &TestApp) -> i64 {
    app.scalar("SELECT COUNT(*) FROM events").await
}

async fn create_customer(app: &TestApp, email: &str, code: Option<&str>) -> (i64, String) {
    let input = json!({ "profile": { "email": email }, "referralCode": code });
    let (_, body) = app
        .post(CREATE, json!({ "input": input }), Some(&app.staff()))
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let c = &body["data"]["customerCreate"];
    let code = c["loyalty"]["referralCode"]
        .as_str()
        .expect("code")
        .to_owned();
    (num(&c["id"]), code)
}

both_stores! {
    async fn a_paid_ingest_emits_its_events_once_and_failed_writes_emit_none(app: TestApp) {
        // The demo data is history, not news.
        app.seed(3).await;
        assert_eq!(outbox_size(&app).await, 0, "seeding emitted events");

        let t0 = at("2026-11-30T10:00:00Z");
        app.clock.set(t0);
        let (id, _) = create_customer(&app, "ada@example.com", None).await;
        let created = events_of(&app, id).await;
        assert_eq!(types(&created), ["customer.created"]);
        assert_eq!(created[0]["data"]["customer"]["emailMarketingState"], "NOT_SUBSCRIBED");

        // 600.00 USD paid: placed and paid, 600 points pending through the
        // 14-day window, BRONZE to SILVER (500.00), all in one write.
        let t1 = t0 + TimeDelta::minutes(5);
        app.clock.set(t1);
        let input = order_of(id, "evt-1", "PAID", 60_000);
        let (_, body) = app.post(INGEST, json!({ "input": input.clone() }), Some(&partner(&app))).await;
        assert!(body.get("errors").is_none(), "{body}");
        let order = body["data"]["orderIngest"]["id"].clone();
        let emitted = new_events(&app, id, 1).await;
        assert_eq!(
            types(&emitted),
            ["order.placed", "order.paid", "loyalty.points_earned", "loyalty.tier_changed"]
        );
        for e in &emitted {
            assert_eq!(e["occurredAt"], shown(t1), "the write's clock, not the wall clock: {e}");
            assert_eq!(e["customer"]["id"], gid("Customer", id));
            assert_eq!(e["data"]["customerId"], gid("Customer", id));
        }
        let shown_order = app.query(ORDER, json!({ "id": order })).await;
        assert_eq!(emitted[0]["data"]["order"]["id"], order);
        assert_eq!(emitted[0]["data"]["order"]["total"], shown_order["node"]["total"]);
        assert_eq!(emitted[0]["data"]["order"]["total"], json!({ "amount": "600.00", "currencyCode": "USD" }));
        assert_eq!(emitted[0]["data"]["order"]["status"], "PAID");
        assert_eq!(emitted[0]["data"]["order"]["externalRef"], "evt-1");
        let earned = &emitted[2]["data"];
        assert_eq!(earned["points"], 600);
        assert_eq!(earned["transaction"]["kind"], "EARN");
        assert_eq!(earned["transaction"]["state"], "PENDING");
        assert_eq!(earned["transaction"]["orderId"], order);
        assert_eq!(earned["transaction"]["availableAt"], shown(t1 + TimeDelta::days(14)));
        assert_eq!(
            emitted[3]["data"],
            json!({ "customerId": gid("Customer", id), "from": "BRONZE", "to": "SILVER",
                    "direction": "UP", "reason": "ORDER_PAID" })
        );

        // Ids are unique, and sort as the outbox does.
        let all = events_of(&app, id).await;
        let ids: Vec<&str> = all.iter().map(|e| e["id"].as_str().expect("id")).collect();
        assert!(ids.iter().all(|i| i.starts_with("evt_") && i.len() == 30), "{ids:?}");
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids out of seq order: {ids:?}");

        // A retry is the first order and tells nothing new; a different
        // payload under the same ref, bad input and a customer token's PAID
        // order are refused and tell nothing either.
        let before = outbox_size(&app).await;
        let (_, again) = app.post(INGEST, json!({ "input": input }), Some(&partner(&app))).await;
        assert_eq!(again["data"]["orderIngest"]["id"], order, "{again}");
        let different = order_of(id, "evt-1", "PAID", 70_000);
        let (_, body) = app.post(INGEST, json!({ "input": different }), Some(&partner(&app))).await;
        assert_eq!(codes(&body), ["CONFLICT"], "{body}");
        let mut wrong_total = order_of(id, "evt-2", "PAID", 1_000);
        wrong_total["total"] = json!(999);
        let (_, body) = app.post(INGEST, json!({ "input": wrong_total }), Some(&partner(&app))).await;
        assert_eq!((codes(&body), field(&body)), (vec!["BAD_USER_INPUT".to_owned()], "total"), "{body}");
        let own = app.token(Role::Customer, &id.to_string(), &[]);
        let (_, body) = app.post(INGEST, json!({ "input": order_of(id, "evt-3", "PAID", 1_000) }), Some(&own)).await;
        assert_eq!(codes(&body), ["FORBIDDEN"], "{body}");
        assert_eq!(outbox_size(&app).await, before);
    }
}

both_stores! {
    async fn status_moves_refunds_and_settlement_emit_api_shaped_events(app: TestApp) {
        let t0 = at("2026-12-01T09:00:00Z");
        app.clock.set(t0);
        let (id, _) = create_customer(&app, "bo@example.com", None).await;
        let partner = partner(&app);

        let (_, body) = app.post(INGEST, json!({ "input": order_of(id, "mv-1", "PENDING", 30_000) }), Some(&partner)).await;
        let order = body["data"]["orderIngest"]["id"].clone();
        assert_eq!(types(&new_events(&app, id, 1).await), ["order.placed"]);

        let t1 = t0 + TimeDelta::hours(1);
        app.clock.set(t1);
        let (_, body) = app.post(STATUS, json!({ "id": order, "status": "PAID" }), Some(&partner)).await;
        assert!(body.get("errors").is_none(), "{body}");
        let paid = new_events(&app, id, 2).await;
        assert_eq!(types(&paid), ["order.paid", "loyalty.points_earned"]);
        assert!(paid.iter().all(|e| e["occurredAt"] == shown(t1)), "{paid:?}");
        assert_eq!(paid[0]["data"]["order"]["status"], "PAID");

        let t2 = t1 + TimeDelta::hours(1);
        app.clock.set(t2);
        let (_, body) = app.post(STATUS, json!({ "id": order, "status": "FULFILLED" }), Some(&partner)).await;
        assert!(body.get("errors").is_none(), "{body}");
        // Moves the state machine refuses, and refunds over what is left, tell nothing.
        let before = outbox_size(&app).await;
        let (_, body) = app.post(STATUS, json!({ "id": order, "status": "PAID" }), Some(&partner)).await;
        assert_eq!(codes(&body), ["CONFLICT"], "{body}");
        let (_, body) = app.post(REFUND, json!({ "id": order, "amount": 30_001 }), Some(&partner)).await;
        assert_eq!((codes(&body), field(&body)), (vec!["BAD_USER_INPUT".to_owned()], "amount"), "{body}");
        assert_eq!(outbox_size(&app).await, before);

        let t3 = t2 + TimeDelta::days(1);
        app.clock.set(t3);
        let (_, body) = app.post(REFUND, json!({ "id": order, "amount": 10_000 }), Some(&partner)).await;
        assert!(body.get("errors").is_none(), "{body}");
        let moved = new_events(&app, id, 4).await;
        assert_eq!(types(&moved), ["order.fulfilled", "order.refunded"]);
        assert_eq!(moved[0]["occurredAt"], shown(t2));
        assert_eq!(moved[0]["data"]["order"]["status"], "FULFILLED");
        let refunded = &moved[1];
        assert_eq!(refunded["occurredAt"], shown(t3));
        let shown_order = app.query(ORDER, json!({ "id": order })).await;
        let api = &shown_order["node"];
        assert_eq!(refunded["data"]["order"]["total"], api["total"]);
        assert_eq!(refunded["data"]["order"]["refunded"], api["refunded"]);
        assert_eq!(refunded["data"]["order"]["status"], api["status"]);
        assert_eq!(refunded["data"]["order"]["status"], "PARTIALLY_REFUNDED");
        assert_eq!(refunded["data"]["amount"], json!({ "amount": "100.00", "currencyCode": "USD" }));
        assert_eq!(refunded["data"]["pointsTakenBack"], 100);

        // The return window ends; the next read settles and tells: the 300
        // points earned less the 100 taken back while still pending.
        let t4 = t1 + TimeDelta::days(15);
        app.clock.set(t4);
        let data = app.query(LOYALTY, json!({ "id": gid("Customer", id) })).await;
        assert_eq!(data["customer"]["loyalty"]["pointsAvailable"], 200, "{data}");
        let settled = new_events(&app, id, 6).await;
        assert_eq!(types(&settled), ["loyalty.points_available"]);
        assert_eq!(settled[0]["occurredAt"], shown(t4));
        assert_eq!(settled[0]["data"]["points"], 200);
        // Reading again settles nothing and tells nothing.
        app.query(LOYALTY, json!({ "id": gid("Customer", id) })).await;
        assert_eq!(events_of(&app, id).await.len(), 7);

        // A pending order cancelled earned nothing and takes nothing back.
        let (_, body) = app.post(INGEST, json!({ "input": order_of(id, "mv-2", "PENDING", 5_000) }), Some(&partner)).await;
        let second = body["data"]["orderIngest"]["id"].clone();
        let (_, body) = app.post(STATUS, json!({ "id": second, "status": "CANCELLED" }), Some(&partner)).await;
        assert!(body.get("errors").is_none(), "{body}");
        let cancelled = new_events(&app, id, 7).await;
        assert_eq!(types(&cancelled), ["order.placed", "order.cancelled"]);
        assert_eq!(cancelled[1]["data"]["order"]["status"], "CANCELLED");
        assert_eq!(cancelled[1]["data"]["pointsTakenBack"], 0);
    }
}

both_stores! {
    async fn redemptions_emit_once_per_key_and_never_when_refused(app: TestApp) {
        let t0 = at("2026-12-02T08:30:00Z");
        app.clock.set(t0);
        let (id, _) = create_customer(&app, "cy@example.com", None).await;
        let c = gid("Customer", id);
        let own = app.token(Role::Customer, &id.to_string(), &[]);

        // Over the balance: CONFLICT, nothing told.
        let before = outbox_size(&app).await;
        let (_, body) = app.post(REDEEM, json!({ "c": c, "p": 10, "k": "r-1" }), Some(&own)).await;
        assert_eq!(codes(&body), ["CONFLICT"], "{body}");
        let (_, body) = app.post(REDEEM, json!({ "c": c, "p": 0, "k": "r-1" }), Some(&own)).await;
        assert_eq!((codes(&body), field(&body)), (vec!["BAD_USER_INPUT".to_owned()], "points"), "{body}");
        // A staff correction is not in the catalogue.
        let (_, body) = app.post(ADJUST, json!({ "c": c, "p": 500 }), Some(&app.staff())).await;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(outbox_size(&app).await, before);

        let t1 = t0 + TimeDelta::minutes(1);
        app.clock.set(t1);
        let (_, body) = app.post(REDEEM, json!({ "c": c, "p": 120, "k": "r-1" }), Some(&own)).await;
        assert_eq!(body["data"]["redeemPoints"]["pointsAvailable"], 380, "{body}");
        let redeemed = new_events(&app, id, 1).await;
        assert_eq!(types(&redeemed), ["loyalty.points_redeemed"]);
        assert_eq!(redeemed[0]["occurredAt"], shown(t1));
        assert_eq!(redeemed[0]["data"]["points"], 120);
        assert_eq!(redeemed[0]["data"]["transaction"]["kind"], "REDEEM");
        assert_eq!(redeemed[0]["data"]["transaction"]["points"], -120);

        // The same key again answers as before and tells nothing new.
        let (_, body) = app.post(REDEEM, json!({ "c": c, "p": 120, "k": "r-1" }), Some(&own)).await;
        assert_eq!(body["data"]["redeemPoints"]["pointsAvailable"], 380, "{body}");
        let (_, body) = app.post(REDEEM, json!({ "c": c, "p": 121, "k": "r-1" }), Some(&own)).await;
        assert_eq!(codes(&body), ["CONFLICT"], "{body}");
        assert_eq!(events_of(&app, id).await.len(), 2);
    }
}

both_stores! {
    async fn customer_ticket_review_nps_and_referral_writes_emit_their_events(app: TestApp) {
        let staff = app.staff();
        let (referrer, code) = create_customer(&app, "ref@example.com", None).await;
        let (id, _) = create_customer(&app, "dee@example.com", Some(&code)).await;
        let cid = gid("Customer", id);
        let signed_up = new_events(&app, referrer, 1).await;
        assert_eq!(types(&signed_up), ["referral.signed_up"]);
        assert_eq!(signed_up[0]["data"]["referral"]["status"], "SIGNED_UP");
        assert_eq!(signed_up[0]["data"]["referral"]["referee"]["id"], cid);

        // Profile: only changed fields are named, and only values that change tell.
        let update = "mutation($id: ID!, $p: CustomerProfileInput!) { customerUpdate(id: $id, profile: $p) { id } }";
        let tags = "mutation($id: ID!, $t: [String!]!) { customerTagsAdd(id: $id, tags: $t) { tags } }";
        let consent = "mutation($id: ID!, $s: EmailMarketingState!) { customerSetEmailConsent(id: $id, state: $s) { id } }";
        for (query, vars) in [
            (update, json!({ "id": cid, "p": { "city": "Oslo", "email": "dee@example.com" } })),
            (update, json!({ "id": cid, "p": { "city": "Oslo" } })),
            (tags, json!({ "id": cid, "t": ["vip"] })),
            (tags, json!({ "id": cid, "t": ["vip"] })),
            (consent, json!({ "id": cid, "s": "SUBSCRIBED" })),
            (consent, json!({ "id": cid, "s": "SUBSCRIBED" })),
        ] {
            let (_, body) = app.post(query, vars, Some(&staff)).await;
            assert!(body.get("errors").is_none(), "{body}");
        }
        let profile = new_events(&app, id, 1).await;
        assert_eq!(types(&profile), ["customer.updated", "customer.updated", "customer.consent_changed"]);
        assert_eq!(profile[0]["data"]["changedFields"], json!(["city"]));
        assert_eq!(profile[1]["data"]["changedFields"], json!(["tags"]));
        assert_eq!(profile[2]["data"]["from"], "NOT_SUBSCRIBED");
        assert_eq!(profile[2]["data"]["to"], "SUBSCRIBED");
        assert!(!profile[0]["data"].to_string().contains("Oslo"), "values stay out: {}", profile[0]["data"]);

        // A ticket: opened, a customer reply (not told), the agent's first
        // reply, solved, rated.
        let own = app.token(Role::Customer, &id.to_string(), &[]);
        let (_, body) = app.post(
            "mutation($c: ID!) { ticketOpen(customerId: $c, subject: \"Zip\", body: \"Broken.\") { id } }",
            json!({ "c": cid }), Some(&own)).await;
        let ticket = body["data"]["ticketOpen"]["id"].clone();
        let reply = "mutation($id: ID!, $k: AuthorKind!) { ticketReply(id: $id, authorKind: $k, body: \"Hi\") { status } }";
        for (query, vars, token) in [
            (reply, json!({ "id": ticket, "k": "CUSTOMER" }), &own),
            (reply, json!({ "id": ticket, "k": "AGENT" }), &staff),
            (reply, json!({ "id": ticket, "k": "AGENT" }), &staff),
            ("mutation($id: ID!) { ticketUpdateStatus(id: $id, status: SOLVED) { status } }", json!({ "id": ticket }), &staff),
            ("mutation($id: ID!) { ticketRate(id: $id, score: 4, comment: \"Quick\") { status } }", json!({ "id": ticket }), &own),
        ] {
            let (_, body) = app.post(query, vars, Some(token)).await;
            assert!(body.get("errors").is_none(), "{body}");
        }
        let support = new_events(&app, id, 4).await;
        assert_eq!(
            types(&support),
            ["ticket.opened", "ticket.agent_replied", "ticket.agent_replied", "ticket.solved", "ticket.rated"]
        );
        assert_eq!(support[0]["data"]["ticket"]["id"], ticket);
        assert_eq!(support[0]["data"]["ticket"]["status"], "NEW");
        assert_eq!((support[1]["data"]["firstReply"].clone(), support[2]["data"]["firstReply"].clone()), (json!(true), json!(false)));
        assert_eq!(support[3]["data"]["ticket"]["status"], "SOLVED");
        assert_eq!(support[4]["data"]["satisfaction"]["score"], 4);
        assert!(!support[4]["data"].to_string().contains("Quick"), "free text stays out");

        // A review, published by moderation; an NPS answer with its category.
        let (_, body) = app.post(
            "mutation($c: ID!) { reviewSubmit(customerId: $c, sku: \"SKU-9\", rating: 5) { id } }",
            json!({ "c": cid }), Some(&own)).await;
        let review = body["data"]["reviewSubmit"]["id"].clone();
        let moderate = "mutation($id: ID!, $s: ReviewStatus!) { reviewModerate(id: $id, status: $s) { status } }";
        for status in ["PUBLISHED", "PUBLISHED"] {
            let (_, body) = app.post(moderate, json!({ "id": review, "s": status }), Some(&staff)).await;
            assert!(body.get("errors").is_none(), "{body}");
        }
        let (_, body) = app.post("mutation($c: ID!) { npsRecord(customerId: $c, score: 6) { id } }", json!({ "c": cid }), Some(&own)).await;
        assert!(body.get("errors").is_none(), "{body}");
        let feedback = new_events(&app, id, 9).await;
        assert_eq!(types(&feedback), ["review.submitted", "review.published", "nps.answered"]);
        assert_eq!(feedback[0]["data"]["review"]["id"], review);
        assert_eq!(feedback[1]["data"]["review"]["status"], "PUBLISHED");
        assert_eq!(feedback[2]["data"]["npsResponse"]["score"], 6);
        assert_eq!(feedback[2]["data"]["npsResponse"]["category"], "DETRACTOR");

        // A refused invitation, the first paid order rewarding the referral.
        let (_, body) = app.post(
            "mutation($c: ID!) { referralInvite(customerId: $c, email: \"ref@example.com\") { status } }",
            json!({ "c": gid("Customer", referrer) }), Some(&staff)).await;
        assert_eq!(body["data"]["referralInvite"]["status"], "REJECTED", "{body}");
        let (_, body) = app.post(INGEST, json!({ "input": order_of(id, "dee-1", "PAID", 5_000) }), Some(&partner(&app))).await;
        assert!(body.get("errors").is_none(), "{body}");
        let order = body["data"]["orderIngest"]["id"].clone();
        let referral = new_events(&app, referrer, 2).await;
        assert_eq!(types(&referral), ["referral.rejected", "referral.rewarded"]);
        assert_eq!(referral[0]["data"]["referral"]["rejectionReason"], "SELF_REFERRAL");
        assert_eq!(referral[1]["data"]["referral"]["status"], "REWARDED");
        assert_eq!(referral[1]["data"]["orderId"], order);
        assert_eq!(types(&new_events(&app, id, 12).await), ["order.placed", "order.paid", "loyalty.points_earned"]);

        // Merging tells of the keeper; the merged customer's events stay its own.
        let merged_events = events_of(&app, id).await.len();
        let (_, body) = app.post(
            "mutation($k: ID!, $m: ID!) { customerMerge(keep: $k, merge: $m) { id } }",
            json!({ "k": gid("Customer", referrer), "m": cid }), Some(&staff)).await;
        assert!(body.get("errors").is_none(), "{body}");
        let merge = new_events(&app, referrer, 4).await;
        assert_eq!(types(&merge), ["customer.merged"]);
        assert_eq!(merge[0]["data"]["mergedCustomerId"], cid);
        let kept = events_of(&app, id).await;
        assert_eq!(kept.len(), merged_events);
        assert!(kept[0]["customer"].is_null(), "the merged customer is gone: {}", kept[0]);

        // Erasure is told once.
        let erase = "mutation($id: ID!) { customerErase(id: $id) { erasedAt } }";
        for _ in 0..2 {
            let (_, body) = app.post(erase, json!({ "id": gid("Customer", referrer) }), Some(&staff)).await;
            assert!(body.get("errors").is_none(), "{body}");
        }
        assert_eq!(types(&new_events(&app, referrer, 5).await), ["customer.erased"]);
    }
}

both_stores! {
    async fn the_log_pages_by_seq_filters_by_type_and_is_for_staff_only(app: TestApp) {
        for n in 0..4 {
            create_customer(&app, &format!("p{n}@example.com"), None).await;
        }
        let (id, _) = create_customer(&app, "last@example.com", None).await;
        let (_, body) = app.post(INGEST, json!({ "input": order_of(id, "pg-1", "PENDING", 1_000) }), Some(&partner(&app))).await;
        assert!(body.get("errors").is_none(), "{body}");

        // Pages of two follow one another without gap or overlap.
        let mut seen = Vec::new();
        let mut after = Value::Null;
        loop {
            let data = app.query(EVENTS, json!({ "first": 2, "after": after })).await;
            let edges = data["events"]["edges"].as_array().expect("edges").clone();
            assert!(edges.len() <= 2);
            seen.extend(edges.iter().map(|e| e["node"]["id"].as_str().expect("id").to_owned()));
            if data["events"]["pageInfo"]["hasNextPage"] != true {
                break;
            }
            after = data["events"]["pageInfo"]["endCursor"].clone();
        }
        let stored: Vec<String> = app.db
            .query_all_raw(sea_orm::Statement::from_string(
                app.db.get_database_backend(),
                "SELECT id FROM events ORDER BY seq".to_owned(),
            ))
            .await
            .expect("ids")
            .iter()
            .map(|r| r.try_get_by_index::<String>(0).expect("id"))
            .collect();
        assert_eq!(seen, stored);
        assert_eq!(seen.len(), 6);

        let data = app.query(EVENTS, json!({ "types": ["order.placed"] })).await;
        let only = data["events"]["edges"].as_array().expect("edges");
        assert_eq!(only.len(), 1);
        assert_eq!(only[0]["node"]["type"], "order.placed");

        // An unknown type names the argument and lists the catalogue.
        let (_, body) = app.post(EVENTS, json!({ "types": ["order.placed", "order.shipped"] }), Some(&app.staff())).await;
        assert_eq!((codes(&body), field(&body)), (vec!["BAD_USER_INPUT".to_owned()], "types[1]"), "{body}");
        let message = body["errors"][0]["message"].as_str().expect("message");
        assert!(message.contains("order.shipped") && message.contains("loyalty.tier_changed") && message.contains("nps.answered"), "{message}");

        // Partners, customers and anonymous callers do not read the log.
        let nosy = app.token(Role::Partner, "esp", &["customers:read", "orders:read", "loyalty:read"]);
        let (_, body) = app.post(EVENTS, json!({}), Some(&nosy)).await;
        assert_eq!(codes(&body), ["FORBIDDEN"], "{body}");
        assert!(body["data"].is_null() || body["data"]["events"].is_null(), "{body}");
        let own = app.token(Role::Customer, &id.to_string(), &[]);
        let (_, body) = app.post(EVENTS, json!({}), Some(&own)).await;
        assert_eq!(codes(&body), ["FORBIDDEN"], "{body}");
        let (_, body) = app.post(EVENTS, json!({}), None).await;
        assert_eq!(codes(&body), ["UNAUTHENTICATED"], "{body}");
    }
}

both_stores! {
    async fn an_event_with_a_natural_key_is_emitted_once(app: TestApp) {
        use c360::events::{EventType, NewEvent, emit_once};
        let (id, _) = create_customer(&app, "nk@example.com", None).await;
        let at = at("2026-12-24T00:00:00Z");
        let event = || NewEvent {
            event_type: EventType::CustomerBirthdayUpcoming,
            customer_id: Some(id),
            data: json!({ "customerId": gid("Customer", id) }),
        };
        let key = format!("birthday:{id}:2026");
        assert!(emit_once(&app.db, at, event(), &key).await.expect("emit"));
        assert!(!emit_once(&app.db, at, event(), &key).await.expect("emit again"));
        assert!(emit_once(&app.db, at, event(), &format!("birthday:{id}:2027")).await.expect("next year"));
        let told = new_events(&app, id, 1).await;
        assert_eq!(types(&told), ["customer.birthday_upcoming", "customer.birthday_upcoming"]);
        assert_eq!(told[0]["occurredAt"], shown(at));
    }
}

/// Runs `c360 import <kind>` on `contents` against the app's store; the
/// exit code.
async fn import(app: &TestApp, kind: &str, contents: &str) -> i32 {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(format!("{kind}.jsonl"));
    std::fs::write(&path, contents).expect("write the file");
    let args = [
        "import".to_owned(),
        kind.to_owned(),
        path.to_str().expect("utf-8 path").to_owned(),
        "--database-url".to_owned(),
        app.db_url.clone(),
    ];
    let out = tokio::task::spawn_blocking(move || {
        crate::cli::c360()
            .args(&args)
            .output()
            .expect("c360 import runs")
    })
    .await
    .expect("joined");
    out.status.code().unwrap_or(-1)
}

both_stores! {
    async fn imports_emit_what_the_api_would_and_reruns_emit_nothing(app: TestApp) {
        let customers = r#"{"externalRef":"imp-1","email":"imp@example.com"}"#;
        // A refunded order replays placed, paid and refunded; the second
        // line's total is wrong and is rejected whole.
        let orders = r#"{"externalRef":"imp-o1","customerEmail":"imp@example.com","status":"REFUNDED","currency":"USD","total":2000,"lines":[{"sku":"A","productName":"A","quantity":1,"unitPrice":2000}]}
{"externalRef":"imp-o2","customerEmail":"imp@example.com","status":"PAID","currency":"USD","total":5,"lines":[{"sku":"B","productName":"B","quantity":1,"unitPrice":6}]}
"#;
        assert_eq!(import(&app, "customers", customers).await, 0);
        assert_eq!(import(&app, "orders", orders).await, 3, "one line is rejected");
        let id = app.scalar("SELECT id FROM customers WHERE email = 'imp@example.com'").await;
        let told = events_of(&app, id).await;
        assert_eq!(
            types(&told),
            ["customer.created", "order.placed", "order.paid", "loyalty.points_earned", "order.refunded"]
        );
        assert_eq!(told[4]["data"]["order"]["status"], "REFUNDED");
        assert_eq!(told[4]["data"]["order"]["externalRef"], "imp-o1");
        assert_eq!(told[4]["data"]["pointsTakenBack"], 20);

        // The same files again change nothing and tell nothing.
        let before = outbox_size(&app).await;
        assert_eq!(import(&app, "customers", customers).await, 0);
        assert_eq!(import(&app, "orders", orders).await, 3);
        assert_eq!(outbox_size(&app).await, before);
    }
}

both_stores! {
    async fn an_upsert_tells_one_update_naming_every_changed_field(app: TestApp) {
        let upsert = "mutation($input: CustomerCreateInput!) { customerUpsert(input: $input) { id } }";
        let input = |city: &str, tags: &[&str], state: &str| json!({ "input": {
            "profile": { "email": "up@example.com", "city": city },
            "externalRef": "crm-9", "tags": tags, "emailMarketingState": state } });
        let (_, body) = app.post(upsert, input("Oslo", &["vip"], "SUBSCRIBED"), Some(&app.staff())).await;
        assert!(body.get("errors").is_none(), "{body}");
        let id = num(&body["data"]["customerUpsert"]["id"]);
        assert_eq!(types(&events_of(&app, id).await), ["customer.created"]);

        for _ in 0..2 {
            let (_, body) = app.post(upsert, input("Bergen", &["vip", "gold"], "UNSUBSCRIBED"), Some(&app.staff())).await;
            assert!(body.get("errors").is_none(), "{body}");
        }
        let changed = new_events(&app, id, 1).await;
        assert_eq!(types(&changed), ["customer.updated", "customer.consent_changed"]);
        assert_eq!(changed[0]["data"]["changedFields"], json!(["city", "tags"]));
        assert_eq!(changed[1]["data"]["to"], "UNSUBSCRIBED");
    }
}

both_stores! {
    async fn positions_follow_commit_order_not_insert_order(app: TestApp) {
        // Consumers follow `position`. A transaction that inserts first and
        // commits last must get the later position, or a consumer already
        // past the other event would never see it.
        use sea_orm::{Database, DbBackend, Statement, TransactionTrait};
        let insert = |id: &str| {
            Statement::from_string(
                app.db.get_database_backend(),
                format!(
                    "INSERT INTO events (id, event_type, customer_id, occurred_at, data) \
                     VALUES ('{id}', 'order.placed', NULL, CURRENT_TIMESTAMP, '{{}}')"
                ),
            )
        };
        if app.db.get_database_backend() == DbBackend::Postgres {
            let first = Database::connect(&app.db_url).await.expect("connection");
            let second = Database::connect(&app.db_url).await.expect("connection");
            let early = first.begin().await.expect("begin");
            early.execute_raw(insert("evt_early")).await.expect("insert");
            let late = second.begin().await.expect("begin");
            late.execute_raw(insert("evt_late")).await.expect("insert");
            late.commit().await.expect("commit");
            // Committed, visible, positioned; the early insert is not yet.
            assert_eq!(
                app.ids("SELECT position FROM events WHERE id IN ('evt_early', 'evt_late') AND position IS NOT NULL").await,
                vec![1]
            );
            early.commit().await.expect("commit");
            first.close().await.expect("close");
            second.close().await.expect("close");
        } else {
            // One writer at a time: insert order is commit order.
            app.db.execute_raw(insert("evt_late")).await.expect("insert");
            app.db.execute_raw(insert("evt_early")).await.expect("insert");
        }
        let seq = |id: &str| format!("SELECT seq FROM events WHERE id = '{id}'");
        let position = |id: &str| format!("SELECT position FROM events WHERE id = '{id}'");
        assert_eq!(app.scalar(&position("evt_late")).await, 1);
        assert_eq!(app.scalar(&position("evt_early")).await, 2);
        if app.db.get_database_backend() == DbBackend::Postgres {
            assert!(app.scalar(&seq("evt_early")).await < app.scalar(&seq("evt_late")).await);
        }
        // Writes through the API get positions too, after these.
        create_customer(&app, "pos@example.com", None).await;
        assert_eq!(
            app.ids("SELECT position FROM events ORDER BY position").await,
            vec![1, 2, 3]
        );
    }
}
