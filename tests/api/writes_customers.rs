//! Customer writes through the API: create, upsert, update, tags and consent,
//! and what invalid input gets back.

use c360::auth::Role;
use serde_json::json;

use crate::both_stores;
use crate::helpers::TestApp;
use crate::writes_orders::{codes, field, first_customer, gid, snapshot};

const CREATE: &str = r#"
mutation($input: CustomerCreateInput!) {
  customerCreate(input: $input) { id email firstName country tags emailMarketingState consentUpdatedAt
    stats { ordersCount } loyalty { tier referralCode pointsAvailable } }
}"#;

const UPSERT: &str = r#"
mutation($input: CustomerCreateInput!) {
  customerUpsert(input: $input) { id email city tags externalRef }
}"#;

const UPDATE: &str = r#"
mutation($id: ID!, $profile: CustomerProfileInput!) {
  customerUpdate(id: $id, profile: $profile) { id email city firstName }
}"#;

const TAGS_ADD: &str =
    r#"mutation($id: ID!, $tags: [String!]!) { customerTagsAdd(id: $id, tags: $tags) { tags } }"#;
const TAGS_REMOVE: &str = r#"mutation($id: ID!, $tags: [String!]!) { customerTagsRemove(id: $id, tags: $tags) { tags } }"#;
const CONSENT: &str = r#"
mutation($id: ID!, $state: EmailMarketingState!) {
  customerSetEmailConsent(id: $id, state: $state) { emailMarketingState consentUpdatedAt }
}"#;

fn crm(app: &TestApp) -> String {
    app.token(
        Role::Partner,
        "crm",
        &[
            "customers:write",
            "customers:read",
            "pii:read",
            "loyalty:read",
        ],
    )
}

both_stores! {
    async fn created_customers_get_metrics_and_a_loyalty_account(app: TestApp) {
        app.seed(2).await;
        let token = crm(&app);
        let input = json!({
            "profile": { "email": "  New.Person@Example.COM ", "firstName": "Ada", "country": "FR" },
            "externalRef": "crm-1", "emailMarketingState": "SUBSCRIBED", "tags": ["VIP", "vip", "wholesale"]
        });
        let (_, body) = app.post(CREATE, json!({ "input": input }), Some(&token)).await;
        assert!(body.get("errors").is_none(), "{body}");
        let c = &body["data"]["customerCreate"];
        assert_eq!(c["email"], "new.person@example.com");
        assert_eq!(c["tags"], json!(["vip", "wholesale"]));
        assert_eq!(c["emailMarketingState"], "SUBSCRIBED");
        assert!(c["consentUpdatedAt"].is_string(), "{c}");
        assert_eq!(c["stats"]["ordersCount"], 0);
        assert_eq!(c["loyalty"]["tier"], "BRONZE");
        let id: i64 = c["id"].as_str().expect("id").rsplit('/').next().expect("n").parse().expect("int");
        assert_eq!(c["loyalty"]["referralCode"], c360::domain::referral::code(id));
        assert_eq!(app.scalar(&format!("SELECT COUNT(*) FROM customer_metrics WHERE customer_id = {id}")).await, 1);

        // Duplicates and invalid values write nothing.
        let before = snapshot(&app).await;
        let customers = app.scalar("SELECT COUNT(*) FROM customers").await;
        let cases = [
            (json!({ "profile": { "email": "NEW.person@example.com" } }), "CONFLICT", "<none>"),
            (json!({ "profile": { "email": "x@y.z" }, "externalRef": "crm-1" }), "CONFLICT", "<none>"),
            (json!({ "profile": { "email": "not-an-email" } }), "BAD_USER_INPUT", "email"),
            (json!({ "profile": {} }), "BAD_USER_INPUT", "email"),
            (json!({ "profile": { "email": "a@b.co", "country": "France" } }), "BAD_USER_INPUT", "country"),
            (json!({ "profile": { "email": "a@b.co" }, "tags": [" "] }), "BAD_USER_INPUT", "tags[0]"),
            (json!({ "profile": { "email": "a@b.co" }, "emailMarketingState": "NOT_SUBSCRIBED" }), "BAD_USER_INPUT", "state"),
        ];
        for (input, code, name) in cases {
            let (_, body) = app.post(CREATE, json!({ "input": input }), Some(&token)).await;
            assert_eq!(codes(&body), [code], "{body}");
            assert_eq!(field(&body), name, "{body}");
        }
        let shopper = app.token(Role::Customer, &id.to_string(), &[]);
        let (_, body) = app.post(CREATE, json!({ "input": { "profile": { "email": "c@d.co" } } }), Some(&shopper)).await;
        assert_eq!(codes(&body), ["FORBIDDEN"], "{body}");
        let reader = app.token(Role::Partner, "r", &["customers:read"]);
        let (_, body) = app.post(CREATE, json!({ "input": { "profile": { "email": "c@d.co" } } }), Some(&reader)).await;
        assert_eq!(codes(&body), ["FORBIDDEN"], "{body}");
        assert_eq!(snapshot(&app).await, before);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM customers").await, customers);
    }
}

both_stores! {
    async fn upsert_update_tags_and_consent_change_one_customer(app: TestApp) {
        app.seed(2).await;
        let token = crm(&app);
        let input = |city: &str| json!({ "profile": { "email": "up@example.com", "city": city }, "externalRef": "ext-9", "tags": ["a"] });
        let (_, first) = app.post(UPSERT, json!({ "input": input("Lyon") }), Some(&token)).await;
        let (_, second) = app.post(UPSERT, json!({ "input": input("Paris") }), Some(&token)).await;
        assert!(second.get("errors").is_none(), "{second}");
        assert_eq!(first["data"]["customerUpsert"]["id"], second["data"]["customerUpsert"]["id"]);
        assert_eq!(second["data"]["customerUpsert"]["city"], "Paris");
        assert_eq!(app.scalar("SELECT COUNT(*) FROM customers WHERE external_ref = 'ext-9' AND external_source = 'crm'").await, 1);
        let (_, body) = app.post(UPSERT, json!({ "input": { "profile": { "email": "z@example.com" } } }), Some(&token)).await;
        assert_eq!((codes(&body), field(&body)), (vec!["BAD_USER_INPUT".to_owned()], "externalRef"), "{body}");

        let id = first_customer(&app).await;
        let cid = gid("Customer", id);
        // A customer edits its own profile, not someone else's.
        let own = app.token(Role::Customer, &id.to_string(), &[]);
        let (_, body) = app.post(UPDATE, json!({ "id": cid, "profile": { "city": "Oslo", "firstName": " Kari " } }), Some(&own)).await;
        assert_eq!(body["data"]["customerUpdate"]["city"], "Oslo", "{body}");
        assert_eq!(body["data"]["customerUpdate"]["firstName"], "Kari");
        let other = second["data"]["customerUpsert"]["id"].clone();
        let (_, body) = app.post(UPDATE, json!({ "id": other, "profile": { "city": "Oslo" } }), Some(&own)).await;
        assert_eq!(codes(&body), ["NOT_FOUND"], "{body}");
        let (_, body) = app.post(UPDATE, json!({ "id": cid, "profile": { "email": "up@example.com" } }), Some(&own)).await;
        assert_eq!(codes(&body), ["CONFLICT"], "{body}");
        let (_, body) = app.post(UPDATE, json!({ "id": gid("Customer", 999_999), "profile": { "city": "Oslo" } }), Some(&token)).await;
        assert_eq!(codes(&body), ["NOT_FOUND"], "{body}");

        let (_, body) = app.post(TAGS_ADD, json!({ "id": cid, "tags": ["Gold-Club", "gold-club"] }), Some(&token)).await;
        let tags = body["data"]["customerTagsAdd"]["tags"].as_array().expect("tags").clone();
        assert!(tags.contains(&json!("gold-club")), "{body}");
        let (_, body) = app.post(TAGS_ADD, json!({ "id": cid, "tags": ["gold-club"] }), Some(&token)).await;
        assert_eq!(body["data"]["customerTagsAdd"]["tags"].as_array().expect("tags").len(), tags.len());
        let (_, body) = app.post(TAGS_REMOVE, json!({ "id": cid, "tags": ["GOLD-CLUB"] }), Some(&token)).await;
        assert!(!body["data"]["customerTagsRemove"]["tags"].as_array().expect("tags").contains(&json!("gold-club")), "{body}");
        let (_, body) = app.post(TAGS_ADD, json!({ "id": cid, "tags": [] }), Some(&token)).await;
        assert_eq!((codes(&body), field(&body)), (vec!["BAD_USER_INPUT".to_owned()], "tags"), "{body}");

        for state in ["PENDING", "SUBSCRIBED", "UNSUBSCRIBED"] {
            let (_, body) = app.post(CONSENT, json!({ "id": cid, "state": state }), Some(&own)).await;
            assert_eq!(body["data"]["customerSetEmailConsent"]["emailMarketingState"], state, "{body}");
            assert!(body["data"]["customerSetEmailConsent"]["consentUpdatedAt"].is_string());
            assert_eq!(app.text(&format!("SELECT email_marketing_state FROM customers WHERE id = {id}")).await, state);
        }
        let (_, body) = app.post(CONSENT, json!({ "id": cid, "state": "NOT_SUBSCRIBED" }), Some(&own)).await;
        assert_eq!((codes(&body), field(&body)), (vec!["BAD_USER_INPUT".to_owned()], "state"), "{body}");
        assert_eq!(app.scalar(&format!("SELECT COUNT(*) FROM audit_events WHERE action = 'customer.consent' AND customer_id = {id}")).await, 3);
    }
}

const MERGE: &str = r#"
mutation($k: ID!, $m: ID!) { customerMerge(keep: $k, merge: $m) {
  id stats { ordersCount openTickets } loyalty { pointsAvailable pointsPending } } }"#;

both_stores! {
    async fn merging_moves_every_record_and_recomputes_the_keeper(app: TestApp) {
        app.seed(3).await;
        let ids = app.ids("SELECT id FROM customers ORDER BY id").await;
        let (keep, merge) = (ids[0], ids[1]);
        let owned = |table: &str, id: i64| format!("SELECT COUNT(*) FROM {table} WHERE customer_id = {id}");
        let tables = ["orders", "order_lines", "tickets", "ticket_messages", "nps_responses", "loyalty_transactions", "referrals"];
        let mut expected = Vec::new();
        for t in tables {
            expected.push(app.scalar(&owned(t, keep)).await + app.scalar(&owned(t, merge)).await);
        }
        let points = app.scalar(&format!(
            "SELECT CAST(SUM(points_available + points_pending) AS BIGINT) FROM loyalty_accounts WHERE customer_id IN ({keep}, {merge})"
        )).await;
        let orders = app.scalar(&format!("SELECT CAST(SUM(orders_count) AS BIGINT) FROM customer_metrics WHERE customer_id IN ({keep}, {merge})")).await;

        // Refusals first: nothing moves.
        let before = snapshot(&app).await;
        let crm = crm(&app);
        let (_, body) = app.post(MERGE, json!({ "k": gid("Customer", keep), "m": gid("Customer", merge) }), Some(&crm)).await;
        assert_eq!(codes(&body), ["FORBIDDEN"], "{body}");
        let (_, body) = app.post(MERGE, json!({ "k": gid("Customer", keep), "m": gid("Customer", keep) }), Some(&app.staff())).await;
        assert_eq!((codes(&body), field(&body)), (vec!["BAD_USER_INPUT".to_owned()], "merge"), "{body}");
        let (_, body) = app.post(MERGE, json!({ "k": gid("Customer", keep), "m": gid("Customer", 999_999) }), Some(&app.staff())).await;
        assert_eq!(codes(&body), ["NOT_FOUND"], "{body}");
        assert_eq!(snapshot(&app).await, before);

        let (_, body) = app.post(MERGE, json!({ "k": gid("Customer", keep), "m": gid("Customer", merge) }), Some(&app.staff())).await;
        assert!(body.get("errors").is_none(), "{body}");
        let merged = &body["data"]["customerMerge"];
        assert_eq!(merged["stats"]["ordersCount"], orders, "{body}");
        assert_eq!(
            merged["loyalty"]["pointsAvailable"].as_i64().expect("n") + merged["loyalty"]["pointsPending"].as_i64().expect("n"),
            points
        );
        for (t, n) in tables.iter().zip(expected) {
            assert_eq!(app.scalar(&owned(t, keep)).await, n, "{t}");
            assert_eq!(app.scalar(&owned(t, merge)).await, 0, "{t}");
        }
        assert_eq!(app.scalar(&format!("SELECT COUNT(*) FROM customers WHERE id = {merge}")).await, 0);
        assert_eq!(app.scalar(&format!("SELECT COUNT(*) FROM loyalty_accounts WHERE customer_id = {merge}")).await, 0);
        let data = app.query("query($id: ID!) { customer(id: $id) { id } }", json!({ "id": gid("Customer", merge) })).await;
        assert!(data["customer"].is_null());
    }
}

both_stores! {
    async fn lengths_are_counted_in_characters_not_bytes(app: TestApp) {
        app.seed(2).await;
        let token = crm(&app);
        let id = first_customer(&app).await;
        let cid = gid("Customer", id);
        // `é` is two bytes and `日` three: at the limit in characters, well
        // over it in bytes.
        let name = "é".repeat(100);
        let tag = "日".repeat(50);
        let (_, body) = app.post(UPDATE, json!({ "id": cid, "profile": { "firstName": name } }), Some(&token)).await;
        assert_eq!(body["data"]["customerUpdate"]["firstName"], name.as_str(), "{body}");
        let (_, body) = app.post(TAGS_ADD, json!({ "id": cid, "tags": [tag] }), Some(&token)).await;
        assert!(body["data"]["customerTagsAdd"]["tags"].as_array().expect("tags").contains(&json!(tag)), "{body}");
        let (_, body) = app.post(CREATE, json!({ "input": { "profile": { "email": "multi@example.com", "lastName": name }, "tags": [tag] } }), Some(&token)).await;
        assert_eq!(body["data"]["customerCreate"]["tags"], json!([tag]), "{body}");

        // One character more is refused, naming the field, and writes nothing.
        let before = snapshot(&app).await;
        let customers = app.scalar("SELECT COUNT(*) FROM customers").await;
        let longer = format!("{name}é");
        let (_, body) = app.post(UPDATE, json!({ "id": cid, "profile": { "firstName": longer } }), Some(&token)).await;
        assert_eq!((codes(&body), field(&body)), (vec!["BAD_USER_INPUT".to_owned()], "firstName"), "{body}");
        let (_, body) = app.post(TAGS_ADD, json!({ "id": cid, "tags": ["ok", format!("{tag}日")] }), Some(&token)).await;
        assert_eq!((codes(&body), field(&body)), (vec!["BAD_USER_INPUT".to_owned()], "tags[1]"), "{body}");
        let cases = [
            (json!({ "profile": { "email": "longer@example.com", "lastName": longer } }), "lastName"),
            (json!({ "profile": { "email": "longer@example.com" }, "tags": [format!("{tag}日")] }), "tags[0]"),
        ];
        for (input, name) in cases {
            let (_, body) = app.post(CREATE, json!({ "input": input }), Some(&token)).await;
            assert_eq!((codes(&body), field(&body)), (vec!["BAD_USER_INPUT".to_owned()], name), "{body}");
        }
        assert_eq!(snapshot(&app).await, before);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM customers").await, customers);
        assert_eq!(app.text(&format!("SELECT first_name FROM customers WHERE id = {id}")).await, name);
    }
}

both_stores! {
    async fn a_birthday_after_the_clocks_today_is_refused(app: TestApp) {
        app.seed(2).await;
        let token = crm(&app);
        let cid = gid("Customer", first_customer(&app).await);
        let noon = chrono::DateTime::parse_from_rfc3339("2031-03-15T12:00:00Z").expect("time").to_utc();
        app.clock.set(noon);
        let (_, body) = app.post(UPDATE, json!({ "id": cid, "profile": { "birthday": "2031-03-16" } }), Some(&token)).await;
        assert_eq!((codes(&body), field(&body)), (vec!["BAD_USER_INPUT".to_owned()], "birthday"), "{body}");
        let (_, body) = app.post(UPDATE, json!({ "id": cid, "profile": { "birthday": "2031-03-15" } }), Some(&token)).await;
        assert!(body.get("errors").is_none(), "born today by the clock: {body}");
        app.clock.advance(chrono::TimeDelta::days(1));
        let (_, body) = app.post(UPDATE, json!({ "id": cid, "profile": { "birthday": "2031-03-16" } }), Some(&token)).await;
        assert!(body.get("errors").is_none(), "a day later it is today: {body}");
    }
}
