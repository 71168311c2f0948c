//! The read API: a customer's whole profile, lists, pagination, node lookup,
//! and what bad input gets back.

use c360::auth::Role;
use serde_json::{Value, json};

use crate::both_stores;
use crate::helpers::{TestApp, codes, gid};

pub const PROFILE: &str = r#"
query Profile($id: ID!) {
  customer(id: $id) {
    id email firstName lastName tags
    stats { ordersCount lifetimeValue { amount currencyCode } averageOrderValue { amount } lastOrderAt openTickets lastNpsScore }
    loyalty { tier referralCode pointsAvailable pointsPending
      transactions(first: 10) { edges { node { kind points state } } } }
    orders(first: 10) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { orderNumber status placedAt total { amount currencyCode }
        lines(first: 10) { edges { node { sku productName quantity unitPrice { amount } } } } } }
    }
    tickets(first: 5) { edges { node { subject status firstReplyMinutes satisfaction { score }
      messages(first: 5) { edges { node { authorKind body } } } } } }
    reviews(first: 5) { edges { node { productSku rating verifiedPurchase } } }
    referralsMade(first: 5) { edges { node { refereeEmail status } } }
    referredBy { code referrer { id } }
    npsResponses(first: 3) { edges { node { score category } } }
  }
}"#;

/// The customer with the most orders (ties: lowest id).
async fn busiest_customer(app: &TestApp) -> i64 {
    app.scalar("SELECT customer_id FROM customer_metrics ORDER BY orders_count DESC, customer_id ASC LIMIT 1")
        .await
}

both_stores! {
    async fn profile_query_returns_the_customers_records(app: TestApp) {
        app.seed(40).await;
        let id = busiest_customer(&app).await;
        let data = app.query(PROFILE, json!({ "id": gid("Customer", id) })).await;
        let c = &data["customer"];

        let email = app.text(&format!("SELECT email FROM customers WHERE id = {id}")).await;
        assert_eq!(c["id"], gid("Customer", id));
        assert_eq!(c["email"], email);

        let orders = app.scalar(&format!("SELECT COUNT(*) FROM orders WHERE customer_id = {id}")).await;
        assert_eq!(c["orders"]["totalCount"], orders);
        let edges = c["orders"]["edges"].as_array().expect("edges");
        assert_eq!(edges.len() as i64, orders.min(10));
        assert_eq!(c["orders"]["pageInfo"]["hasNextPage"], orders > 10);

        // Newest first, and the newest order's total is the store's.
        let newest_total = app
            .scalar(&format!(
                "SELECT total FROM orders WHERE customer_id = {id} ORDER BY placed_at DESC, id DESC LIMIT 1"
            ))
            .await;
        let shown = edges[0]["node"]["total"]["amount"].as_str().expect("amount");
        assert_eq!(shown, format!("{}.{:02}", newest_total / 100, newest_total % 100));
        let placed: Vec<&str> = edges.iter().map(|e| e["node"]["placedAt"].as_str().expect("placedAt")).collect();
        let mut sorted = placed.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(placed, sorted, "orders come newest first");
        let lines = edges[0]["node"]["lines"]["edges"].as_array().expect("lines");
        assert!(!lines.is_empty(), "every order has lines");

        let counted = app
            .scalar(&format!("SELECT COUNT(*) FROM orders WHERE customer_id = {id} AND status <> 'CANCELLED'"))
            .await;
        assert_eq!(c["stats"]["ordersCount"], counted);
        assert_eq!(c["stats"]["lifetimeValue"]["currencyCode"], "USD");

        let available = app
            .scalar(&format!(
                "SELECT CAST(COALESCE(SUM(points), 0) AS BIGINT) FROM loyalty_transactions WHERE customer_id = {id} AND state = 'AVAILABLE'"
            ))
            .await;
        assert_eq!(c["loyalty"]["pointsAvailable"], available);

        let tickets = app.scalar(&format!("SELECT COUNT(*) FROM tickets WHERE customer_id = {id}")).await;
        assert_eq!(c["tickets"]["edges"].as_array().expect("tickets").len() as i64, tickets.min(5));
    }
}

both_stores! {
    async fn customers_page_forward_and_backward_by_keyset(app: TestApp) {
        app.seed(25).await;
        let page = r#"query($first: Int, $after: String, $last: Int, $before: String) {
            customers(first: $first, after: $after, last: $last, before: $before) {
                pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
                edges { cursor node { id createdAt } } } }"#;
        let mut seen = Vec::new();
        let mut after = Value::Null;
        loop {
            let data = app.query(page, json!({ "first": 10, "after": after })).await;
            let conn = &data["customers"];
            for e in conn["edges"].as_array().expect("edges") {
                seen.push(e["node"]["id"].as_str().expect("id").to_owned());
            }
            if !conn["pageInfo"]["hasNextPage"].as_bool().expect("bool") {
                break;
            }
            after = conn["pageInfo"]["endCursor"].clone();
        }
        assert_eq!(seen.len(), 25);
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 25, "no customer twice");

        // Newest first by default: the first id is the newest customer's.
        let newest = app.scalar("SELECT id FROM customers ORDER BY created_at DESC, id DESC LIMIT 1").await;
        assert_eq!(seen[0], gid("Customer", newest));

        // The last five, walking backwards, are the tail of the forward walk.
        let data = app.query(page, json!({ "last": 5 })).await;
        let tail: Vec<String> = data["customers"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| e["node"]["id"].as_str().expect("id").to_owned())
            .collect();
        assert_eq!(tail, seen[20..].to_vec());
        assert_eq!(data["customers"]["pageInfo"]["hasPreviousPage"], true);

        // And the five before those.
        let before = data["customers"]["pageInfo"]["startCursor"].clone();
        let data = app.query(page, json!({ "last": 5, "before": before })).await;
        let prev: Vec<String> = data["customers"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| e["node"]["id"].as_str().expect("id").to_owned())
            .collect();
        assert_eq!(prev, seen[15..20].to_vec());
    }
}

both_stores! {
    async fn customers_sort_by_lifetime_value_and_last_order(app: TestApp) {
        app.seed(30).await;
        let q = r#"query($field: CustomerSortField!, $direction: SortDirection!, $after: String) {
            customers(first: 7, after: $after, orderBy: { field: $field, direction: $direction }) {
                pageInfo { hasNextPage endCursor }
                edges { node { id stats { lifetimeValue { amount } lastOrderAt } } } } }"#;
        let mut ids = Vec::new();
        let mut after = Value::Null;
        loop {
            let data = app.query(q, json!({ "field": "LIFETIME_VALUE", "direction": "DESC", "after": after })).await;
            for e in data["customers"]["edges"].as_array().expect("edges") {
                ids.push(e["node"]["id"].as_str().expect("id").to_owned());
            }
            if data["customers"]["pageInfo"]["hasNextPage"] != true {
                break;
            }
            after = data["customers"]["pageInfo"]["endCursor"].clone();
        }
        let expected: Vec<String> = app
            .ids(
                "SELECT c.id FROM customers c LEFT JOIN customer_metrics m ON m.customer_id = c.id \
                 ORDER BY m.net_spend DESC NULLS LAST, c.id DESC",
            )
            .await
            .into_iter()
            .map(|id| gid("Customer", id))
            .collect();
        assert_eq!(ids, expected);

        // Last order date ascending puts customers who never ordered last.
        let data = app
            .query(q, json!({ "field": "LAST_ORDER_DATE", "direction": "ASC", "after": null }))
            .await;
        let dates: Vec<Value> = data["customers"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| e["node"]["stats"]["lastOrderAt"].clone())
            .collect();
        let keyed: Vec<&str> = dates.iter().filter_map(Value::as_str).collect();
        let mut sorted = keyed.clone();
        sorted.sort();
        assert_eq!(keyed, sorted);
    }
}

both_stores! {
    async fn customers_filter_on_basic_fields(app: TestApp) {
        app.seed(40).await;
        let q = r#"query($filter: CustomerFilter) { customers(first: 100, filter: $filter) { totalCount edges { node { country tags emailMarketingState } } } }"#;
        let us = app.scalar("SELECT COUNT(*) FROM customers WHERE country = 'US'").await;
        let data = app.query(q, json!({ "filter": { "country": ["us"] } })).await;
        assert_eq!(data["customers"]["totalCount"], us);
        assert!(data["customers"]["edges"].as_array().expect("edges").iter().all(|e| e["node"]["country"] == "US"));

        let vip = app.scalar("SELECT COUNT(*) FROM customer_tags WHERE tag = 'vip'").await;
        let data = app.query(q, json!({ "filter": { "tag": "VIP" } })).await;
        assert_eq!(data["customers"]["totalCount"], vip);
        for e in data["customers"]["edges"].as_array().expect("edges") {
            assert!(e["node"]["tags"].as_array().expect("tags").contains(&json!("vip")));
        }

        let subscribed = app
            .scalar("SELECT COUNT(*) FROM customers WHERE email_marketing_state = 'SUBSCRIBED' AND country = 'US'")
            .await;
        let data = app
            .query(q, json!({ "filter": { "country": ["US"], "emailMarketingState": ["SUBSCRIBED"] } }))
            .await;
        assert_eq!(data["customers"]["totalCount"], subscribed);
    }
}

both_stores! {
    async fn nested_lists_continue_after_their_cursor(app: TestApp) {
        app.seed(30).await;
        let id = busiest_customer(&app).await;
        let q = r#"query($id: ID!, $after: String) { customer(id: $id) { orders(first: 3, after: $after) {
            pageInfo { hasNextPage hasPreviousPage endCursor } edges { node { id } } } } }"#;
        let first = app.query(q, json!({ "id": gid("Customer", id), "after": null })).await;
        let cursor = first["customer"]["orders"]["pageInfo"]["endCursor"].clone();
        let second = app.query(q, json!({ "id": gid("Customer", id), "after": cursor })).await;
        let ids = |v: &Value| -> Vec<String> {
            v["customer"]["orders"]["edges"]
                .as_array()
                .expect("edges")
                .iter()
                .map(|e| e["node"]["id"].as_str().expect("id").to_owned())
                .collect()
        };
        let expected: Vec<String> = app
            .ids(&format!("SELECT id FROM orders WHERE customer_id = {id} ORDER BY placed_at DESC, id DESC LIMIT 6"))
            .await
            .into_iter()
            .map(|id| gid("Order", id))
            .collect();
        assert_eq!([ids(&first), ids(&second)].concat(), expected);
        assert_eq!(second["customer"]["orders"]["pageInfo"]["hasPreviousPage"], true);
    }
}

both_stores! {
    async fn node_and_email_lookups_find_the_same_customer(app: TestApp) {
        app.seed(10).await;
        let id = busiest_customer(&app).await;
        let order = app.scalar(&format!("SELECT MIN(id) FROM orders WHERE customer_id = {id}")).await;
        let data = app
            .query(
                r#"query($c: ID!, $o: ID!) {
                    c: node(id: $c) { id ... on Customer { email } }
                    o: node(id: $o) { id ... on Order { customerId orderNumber } } }"#,
                json!({ "c": gid("Customer", id), "o": gid("Order", order) }),
            )
            .await;
        assert_eq!(data["c"]["id"], gid("Customer", id));
        assert_eq!(data["o"]["customerId"], gid("Customer", id));
        let email = data["c"]["email"].as_str().expect("email").to_uppercase();
        let data = app
            .query("query($e: String!) { customerByEmail(email: $e) { id } }", json!({ "e": format!("  {email} ") }))
            .await;
        assert_eq!(data["customerByEmail"]["id"], gid("Customer", id));
    }
}

both_stores! {
    async fn bad_ids_cursors_and_page_sizes_are_user_errors(app: TestApp) {
        app.seed(5).await;
        let staff = app.staff();
        let cases = [
            (r#"{ customer(id: "42") { id } }"#, "id"),
            (r#"{ customer(id: "gid://c360/Order/1") { id } }"#, "id"),
            (r#"{ node(id: "gid://c360/Customer/abc") { id } }"#, "id"),
            (r#"{ customers(first: 101) { edges { cursor } } }"#, "first"),
            (r#"{ customers(first: -1) { edges { cursor } } }"#, "first"),
            (r#"{ customers(after: "not-a-cursor") { edges { cursor } } }"#, "after"),
            (r#"{ customers(first: 1, last: 1) { edges { cursor } } }"#, "last"),
            (r#"{ customers(filter: { country: ["USA"] }) { edges { cursor } } }"#, "filter.country"),
            (r#"{ customerByEmail(email: "j***@example.com") { id } }"#, "email"),
        ];
        for (query, field) in cases {
            let (status, body) = app.post(query, json!({}), Some(&staff)).await;
            assert_eq!(status, 200, "{query}: {body}");
            assert_eq!(codes(&body), vec!["BAD_USER_INPUT"], "{query}: {body}");
            assert_eq!(body["errors"][0]["extensions"]["field"], field, "{query}");
        }
        // A cursor from one order is refused by another.
        let data = app.query("{ customers(first: 1) { pageInfo { endCursor } } }", json!({})).await;
        let cursor = data["customers"]["pageInfo"]["endCursor"].clone();
        let (_, body) = app
            .post(
                "query($a: String) { customers(first: 1, after: $a, orderBy: { field: LIFETIME_VALUE }) { edges { cursor } } }",
                json!({ "a": cursor }),
                Some(&staff),
            )
            .await;
        assert_eq!(codes(&body), vec!["BAD_USER_INPUT"], "{body}");

        // Unknown ids are null, not errors.
        let data = app
            .query(r#"{ customer(id: "gid://c360/Customer/999999") { id } node(id: "gid://c360/Order/999999") { id } }"#, json!({}))
            .await;
        assert_eq!(data, json!({ "customer": null, "node": null }));
    }
}

both_stores! {
    async fn anonymous_callers_read_nothing(app: TestApp) {
        app.seed(3).await;
        let (status, body) = app.post("{ customers(first: 1) { edges { cursor } } }", json!({}), None).await;
        assert_eq!(status, 200);
        assert_eq!(codes(&body), vec!["UNAUTHENTICATED"]);
    }
}

both_stores! {
    async fn a_customer_token_sees_only_its_own_records(app: TestApp) {
        app.seed(10).await;
        let me = busiest_customer(&app).await;
        let other = app.scalar(&format!("SELECT MIN(id) FROM customers WHERE id <> {me}")).await;
        let token = app.token(Role::Customer, &me.to_string(), &[]);
        let (status, body) = app
            .post(
                r#"query($other: ID!) { me { id orders(first: 1) { totalCount } }
                    other: customer(id: $other) { id }
                    customers(first: 50) { edges { node { id } } } }"#,
                json!({ "other": gid("Customer", other) }),
                Some(&token),
            )
            .await;
        assert_eq!(status, 200);
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(body["data"]["me"]["id"], gid("Customer", me));
        assert_eq!(body["data"]["other"], Value::Null);
        assert_eq!(body["data"]["customers"]["edges"], json!([{ "node": { "id": gid("Customer", me) } }]));
    }
}

both_stores! {
    async fn a_partner_sees_its_scopes_with_pii_masked(app: TestApp) {
        app.seed(5).await;
        let id = busiest_customer(&app).await;
        let token = app.token(Role::Partner, "pos-1", &["customers:read", "loyalty:read"]);
        let (status, body) = app
            .post(
                r#"query($id: ID!) { customer(id: $id) { email phone loyalty { pointsAvailable } orders(first: 1) { totalCount } } }"#,
                json!({ "id": gid("Customer", id) }),
                Some(&token),
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(codes(&body), vec!["FORBIDDEN"], "{body}");
        assert_eq!(body["errors"][0]["path"], json!(["customer", "orders"]));
        let c = &body["data"]["customer"];
        assert!(c["loyalty"]["pointsAvailable"].is_i64(), "{body}");
        let email = c["email"].as_str().expect("email");
        assert!(email.contains("***@"), "masked: {email}");
        if let Some(phone) = c["phone"].as_str() {
            assert!(phone.starts_with("***-***-"), "masked: {phone}");
        }
    }
}
