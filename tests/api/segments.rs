//! The segment language through GraphQL: errors with their position and
//! suggestion, members and their pages, the catalogue, access.

use serde_json::{Value, json};

use crate::both_stores;

const MEMBERS: &str = "query($q: String!, $first: Int, $after: String) {
    segmentMembers(query: $q, first: $first, after: $after) {
        totalCount edges { cursor node { id } } pageInfo { hasNextPage endCursor }
    }
}";

/// The single error of a segment query, as (message, extensions).
async fn segment_error(app: &crate::helpers::TestApp, q: &str) -> (String, Value) {
    let (status, body) = app
        .post(MEMBERS, json!({ "q": q }), Some(&app.staff()))
        .await;
    assert_eq!(status, 200, "{body}");
    let errors = body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{body}");
    (
        errors[0]["message"].as_str().expect("message").to_owned(),
        errors[0]["extensions"].clone(),
    )
}

fn gid(id: i64) -> String {
    format!("gid://c360/Customer/{id}")
}

both_stores! {
    async fn every_segment_error_names_its_place_and_a_suggestion(app: TestApp) {
        // (query, line, column, suggestion, words the message must contain)
        let cases: &[(&str, u32, u32, Option<&str>, &str)] = &[
            ("amount_spend >= 500", 1, 1, Some("amount_spent"), "unknown attribute `amount_spend`"),
            ("amount_spent >= 500\n  AND loyalty_tier > 'GOLD'", 2, 20, Some("="), "does not take >"),
            ("loyalty_tier = 'GOLDD'", 1, 16, Some("'GOLD'"), "`GOLDD` is not a value of `loyalty_tier`"),
            ("last_order_date < 2026-02-30", 1, 19, None, "not a calendar date"),
            ("last_order_date < tomorrow", 1, 19, Some("today"), "takes a date"),
            ("last_order_date < 30d", 1, 19, Some("-30d"), "needs a sign"),
            ("amount_spent >= 'lots'", 1, 17, None, "takes an amount"),
            ("amount_spent >= 1.234", 1, 17, None, "at most 2 decimals"),
            ("number_of_orders >= 2.5", 1, 21, None, "whole number"),
            ("(amount_spent >= 500", 1, 21, Some(")"), "expected `)`"),
            ("amount_spent >= 500 number_of_orders > 2", 1, 21, None, "join conditions with AND or OR"),
            ("amount_spent IS NULL", 1, 14, Some("="), "never null"),
            ("customer_tags = 'vip'", 1, 15, Some("CONTAINS"), "does not take ="),
            ("products_purchased MATCHES (skuu = 'LIP-001')", 1, 29, Some("sku"), "unknown field `skuu`"),
            ("anniversary(birthdate) = today", 1, 13, Some("birthday"), "anniversary() takes birthday or customer_added_date"),
            ("country = 'FR' AND city BETWEEN 'a' AND 'b'", 1, 25, Some("="), "does not take BETWEEN"),
            ("nps_score >= 9 ANDD open_tickets > 0", 1, 16, None, "join conditions"),
            ("country = 'FR", 1, 11, None, "never closed"),
            ("", 1, 1, None, "empty"),
        ];
        for (q, line, column, suggestion, words) in cases {
            let (message, ext) = segment_error(&app, q).await;
            assert_eq!(ext["code"], "BAD_USER_INPUT", "{q}: {message}");
            assert_eq!(ext["field"], "query", "{q}");
            assert_eq!((ext["line"].as_u64(), ext["column"].as_u64()), (Some(u64::from(*line)), Some(u64::from(*column))), "{q}: {message}");
            assert_eq!(ext["suggestion"].as_str(), *suggestion, "{q}: {message}");
            assert!(message.contains(words), "{q}: `{message}` lacks `{words}`");
            assert!(message.contains(&format!("line {line}, column {column}")), "{message}");
        }
    }
}

both_stores! {
    async fn segment_members_page_through_exactly_the_matching_customers(app: TestApp) {
        app.seed(60).await;
        let q = "amount_spent >= 100 AND (number_of_orders >= 2 OR customer_tags CONTAINS 'vip') AND NOT country = 'US'";
        let expected = app
            .ids(
                "SELECT c.id FROM customers c JOIN customer_metrics m ON m.customer_id = c.id \
                 WHERE m.net_spend >= 10000 AND (m.orders_count >= 2 OR EXISTS (SELECT 1 FROM customer_tags t \
                 WHERE t.customer_id = c.id AND t.tag = 'vip')) AND (c.country IS NULL OR c.country <> 'US') ORDER BY c.id",
            )
            .await;
        assert!(expected.len() >= 4, "the seed gives too few members: {expected:?}");
        let mut seen = Vec::new();
        let mut after = Value::Null;
        loop {
            let data = app.query(MEMBERS, json!({ "q": q, "first": 3, "after": after })).await;
            let page = &data["segmentMembers"];
            assert_eq!(page["totalCount"], expected.len(), "{page}");
            for edge in page["edges"].as_array().expect("edges") {
                seen.push(edge["node"]["id"].as_str().expect("id").to_owned());
            }
            if page["pageInfo"]["hasNextPage"] != true {
                break;
            }
            after = page["pageInfo"]["endCursor"].clone();
        }
        let expected: Vec<String> = expected.into_iter().map(gid).collect();
        assert_eq!(seen, expected);
    }
}

both_stores! {
    async fn customers_query_is_anded_with_the_typed_filter(app: TestApp) {
        app.seed(40).await;
        let data = app
            .query(
                "query($q: String) { customers(first: 100, query: $q, filter: { country: [\"US\", \"GB\"] }) {
                    totalCount edges { node { id } } } }",
                json!({ "q": "number_of_orders >= 1 AND email_subscription_status IN ('SUBSCRIBED', 'PENDING')" }),
            )
            .await;
        let expected: Vec<String> = app
            .ids(
                "SELECT c.id FROM customers c JOIN customer_metrics m ON m.customer_id = c.id \
                 WHERE c.country IN ('US', 'GB') AND m.orders_count >= 1 \
                 AND c.email_marketing_state IN ('SUBSCRIBED', 'PENDING') ORDER BY c.created_at DESC, c.id DESC",
            )
            .await
            .into_iter()
            .map(gid)
            .collect();
        assert!(!expected.is_empty());
        let ids: Vec<String> = data["customers"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| e["node"]["id"].as_str().expect("id").to_owned())
            .collect();
        assert_eq!(ids, expected);
        assert_eq!(data["customers"]["totalCount"], expected.len());

        let (_, body) = app
            .post(
                "{ customers(query: \"amount_spent >= 500 AND loyalty_teir = 'GOLD'\") { totalCount } }",
                json!({}),
                Some(&app.staff()),
            )
            .await;
        let ext = &body["errors"][0]["extensions"];
        assert_eq!(ext["code"], "BAD_USER_INPUT", "{body}");
        assert_eq!((ext["column"].as_u64(), ext["suggestion"].as_str()), (Some(25), Some("loyalty_tier")));
    }
}

both_stores! {
    async fn segment_filters_list_every_attribute_with_its_operators(app: TestApp) {
        let data = app
            .query(
                "{ segmentFilters { name function valueType operators values arguments fields { name aggregate } } }",
                json!({}),
            )
            .await;
        let filters = data["segmentFilters"].as_array().expect("list");
        let by_name = |n: &str| {
            filters
                .iter()
                .find(|f| f["name"] == n)
                .unwrap_or_else(|| panic!("{n} missing"))
                .clone()
        };
        let tier = by_name("loyalty_tier");
        assert_eq!(tier["valueType"], "ENUM");
        assert_eq!(tier["values"], json!(["BRONZE", "SILVER", "GOLD", "PLATINUM"]));
        assert_eq!(tier["operators"], json!(["=", "!=", "IN", "NOT IN", "IS NULL", "IS NOT NULL"]));
        assert_eq!(by_name("amount_spent")["valueType"], "MONEY");
        assert_eq!(by_name("customer_tags")["operators"], json!(["CONTAINS", "NOT CONTAINS"]));
        assert_eq!(by_name("anniversary")["arguments"], json!(["birthday", "customer_added_date"]));
        let placed = by_name("orders_placed");
        assert_eq!(placed["function"], true);
        assert_eq!(
            placed["fields"],
            json!([{"name": "date", "aggregate": false}, {"name": "count", "aggregate": true}, {"name": "sum_amount", "aggregate": true}])
        );
        assert_eq!(
            by_name("rfm_group")["values"],
            json!(["CHAMPIONS", "LOYAL", "NEW", "PROMISING", "NEEDS_ATTENTION", "AT_RISK", "ALMOST_LOST", "DORMANT"])
        );
        assert_eq!(by_name("tier_review_at")["valueType"], "DATE");
        assert_eq!(by_name("spend_to_keep_tier")["valueType"], "MONEY");
        let at_risk = by_name("tier_at_risk");
        assert_eq!(at_risk["valueType"], "BOOLEAN");
        assert_eq!(at_risk["operators"], json!(["=", "!="]));
        assert_eq!(by_name("top_category")["operators"], json!(["=", "!=", "IN", "NOT IN", "IS NULL", "IS NOT NULL"]));
        assert_eq!(by_name("purchased_category")["operators"], json!(["=", "!=", "IN", "NOT IN"]));
        assert_eq!(filters.len(), 32);
    }
}

both_stores! {
    async fn customers_and_partners_without_the_scope_never_see_segments(app: TestApp) {
        app.seed(3).await;
        let customer = app.token(c360::auth::Role::Customer, "1", &[]);
        let partner = app.token(c360::auth::Role::Partner, "crm", &["customers:read"]);
        for token in [&customer, &partner] {
            let (_, body) = app
                .post(MEMBERS, json!({ "q": "amount_spent >= 0" }), Some(token))
                .await;
            assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
            assert!(body["data"].is_null(), "{body}");
        }
        // A partner with both scopes reads members, but filtering on email needs pii:read.
        let reader = app.token(c360::auth::Role::Partner, "crm", &["customers:read", "segments:read"]);
        let (_, body) = app
            .post(MEMBERS, json!({ "q": "email_domain = 'example.com' OR number_of_orders >= 0" }), Some(&reader))
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(body["data"]["segmentMembers"]["totalCount"], 3);
        let (_, body) = app
            .post(MEMBERS, json!({ "q": "email = 'a@example.com'" }), Some(&reader))
            .await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
        // Nor may a CUSTOMER token reach the language through `customers(query:)`.
        let (_, body) = app
            .post("{ customers(query: \"amount_spent >= 0\") { totalCount } }", json!({}), Some(&customer))
            .await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
        // A request's time zone must be a real one.
        let (_, body) = app
            .post(
                "{ segmentMembers(query: \"customer_added_date = today\", timezone: \"Mars/Olympus\") { totalCount } }",
                json!({}),
                Some(&app.staff()),
            )
            .await;
        let ext = &body["errors"][0]["extensions"];
        assert_eq!((ext["code"].as_str(), ext["field"].as_str()), (Some("BAD_USER_INPUT"), Some("timezone")), "{body}");
    }
}

const CREATE: &str = "mutation($input: SegmentCreateInput!) {
    segmentCreate(input: $input) { id name description query createdBy }
}";

both_stores! {
    async fn saved_segments_are_checked_on_save_and_report_their_members(app: TestApp) {
        app.seed(50).await;
        let q = "number_of_orders >= 2 AND NOT nps_category = 'DETRACTOR'";
        let data = app
            .query(CREATE, json!({ "input": { "name": " Repeat buyers ", "description": "2+ orders", "query": q } }))
            .await;
        let saved = &data["segmentCreate"];
        assert_eq!(saved["name"], "Repeat buyers");
        assert_eq!(saved["query"], q);
        assert_eq!(saved["createdBy"], "staff-test");
        let id = saved["id"].as_str().expect("id").to_owned();
        assert_eq!(
            app.scalar("SELECT COUNT(*) FROM audit_events WHERE action = 'segment.create'").await,
            1
        );

        let members = "(SELECT c.id FROM customers c JOIN customer_metrics m ON m.customer_id = c.id \
            WHERE m.orders_count >= 2 AND (m.last_nps_score IS NULL OR m.last_nps_score >= 7))";
        let count = app.scalar(&format!("SELECT COUNT(*) FROM {members} x")).await;
        let ltv = app.scalar(&format!("SELECT CAST(COALESCE(SUM(net_spend), 0) AS BIGINT) FROM customer_metrics WHERE customer_id IN {members}")).await;
        let orders = app.scalar(&format!("SELECT CAST(COALESCE(SUM(orders_count), 0) AS BIGINT) FROM customer_metrics WHERE customer_id IN {members}")).await;
        let points = app.scalar(&format!("SELECT CAST(COALESCE(SUM(points_available), 0) AS BIGINT) FROM loyalty_accounts WHERE customer_id IN {members}")).await;
        let promoters = app.scalar(&format!("SELECT COUNT(*) FROM customer_metrics WHERE last_nps_score >= 9 AND customer_id IN {members}")).await;
        let respondents = app.scalar(&format!("SELECT COUNT(*) FROM customer_metrics WHERE last_nps_score IS NOT NULL AND customer_id IN {members}")).await;
        assert!(count >= 3 && respondents >= 1, "seed too small: {count} members, {respondents} respondents");

        let data = app
            .query(
                "query($id: ID!) { segment(id: $id) { name count
                    members(first: 100) { edges { node { id } } }
                    statistics { customers totalLifetimeValue { amount currencyCode } averageLifetimeValue { amount }
                                 orders points promoters detractors npsRespondents nps } } }",
                json!({ "id": id }),
            )
            .await;
        let seg = &data["segment"];
        assert_eq!(seg["count"], count);
        assert_eq!(seg["members"]["edges"].as_array().expect("edges").len() as i64, count);
        let st = &seg["statistics"];
        assert_eq!(st["customers"], count);
        let money = |minor: i64| format!("{}.{:02}", minor / 100, minor % 100);
        assert_eq!(st["totalLifetimeValue"], json!({ "amount": money(ltv), "currencyCode": "USD" }));
        let avg = (ltv * 2 + count) / (count * 2); // half up; spend is never negative here
        assert_eq!(st["averageLifetimeValue"]["amount"], money(avg));
        assert_eq!(st["orders"], orders);
        assert_eq!(st["points"], points);
        assert_eq!(st["promoters"], promoters);
        assert_eq!(st["detractors"], 0, "detractors are excluded by the query");
        assert_eq!(st["npsRespondents"], respondents);
        let nps = st["nps"].as_f64().expect("nps");
        assert!((nps - promoters as f64 * 100.0 / respondents as f64).abs() < 1e-9, "{nps}");

        // A bad query is refused with its place; a taken name is a conflict.
        let (_, body) = app
            .post(CREATE, json!({ "input": { "name": "Bad", "query": "number_of_orders >= 2 AND tier = 'GOLD'" } }), Some(&app.staff()))
            .await;
        let ext = &body["errors"][0]["extensions"];
        assert_eq!((ext["code"].as_str(), ext["column"].as_u64(), ext["suggestion"].as_str()), (Some("BAD_USER_INPUT"), Some(27), Some("loyalty_tier")), "{body}");
        let (_, body) = app
            .post(CREATE, json!({ "input": { "name": "Repeat buyers", "query": "amount_spent > 0" } }), Some(&app.staff()))
            .await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "CONFLICT", "{body}");

        // Update re-checks the query; delete removes it.
        let data = app
            .query(
                "mutation($id: ID!) { segmentUpdate(id: $id, input: { query: \"amount_spent >= 100\", description: null }) { query description } }",
                json!({ "id": id }),
            )
            .await;
        assert_eq!(data["segmentUpdate"], json!({ "query": "amount_spent >= 100", "description": null }));
        let (_, body) = app
            .post("mutation($id: ID!) { segmentUpdate(id: $id, input: { query: \"amount_spent >= \" }) { query } }", json!({ "id": id }), Some(&app.staff()))
            .await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
        let data = app.query("{ segments(first: 10) { edges { node { name query } } } }", json!({})).await;
        assert_eq!(data["segments"]["edges"], json!([{ "node": { "name": "Repeat buyers", "query": "amount_spent >= 100" } }]));
        let data = app.query("mutation($id: ID!) { segmentDelete(id: $id) }", json!({ "id": id })).await;
        assert_eq!(data["segmentDelete"], id);
        let data = app.query("query($id: ID!) { segment(id: $id) { name } }", json!({ "id": id })).await;
        assert!(data["segment"].is_null());
        let (_, body) = app.post("mutation($id: ID!) { segmentDelete(id: $id) }", json!({ "id": id }), Some(&app.staff())).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND", "{body}");
    }
}

both_stores! {
    async fn writing_segments_needs_staff_or_the_write_scope(app: TestApp) {
        let input = json!({ "input": { "name": "Gold", "query": "loyalty_tier = 'GOLD'" } });
        let reader = app.token(c360::auth::Role::Partner, "crm", &["segments:read"]);
        let customer = app.token(c360::auth::Role::Customer, "1", &[]);
        for token in [&reader, &customer] {
            let (_, body) = app.post(CREATE, input.clone(), Some(token)).await;
            assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
        }
        assert_eq!(app.scalar("SELECT COUNT(*) FROM segments").await, 0);
        let writer = app.token(c360::auth::Role::Partner, "crm", &["segments:read", "segments:write"]);
        let (_, body) = app.post(CREATE, input, Some(&writer)).await;
        assert_eq!(body["data"]["segmentCreate"]["name"], "Gold", "{body}");
        let (_, body) = app.post("{ segments { edges { node { name } } } }", json!({}), Some(&customer)).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
        let (_, body) = app.post("query { segment(id: \"gid://c360/Customer/1\") { name } }", json!({}), Some(&app.staff())).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
    }
}

both_stores! {
    async fn staff_export_streams_every_member_as_csv_or_jsonl(app: TestApp) {
        app.seed(1_200).await;
        let data = app
            .query(CREATE, json!({ "input": { "name": "Ordered", "query": "number_of_orders >= 1" } }))
            .await;
        let gid = data["segmentCreate"]["id"].as_str().expect("id").to_owned();
        let id = gid.rsplit('/').next().expect("number").to_owned();
        let expected: Vec<String> = app
            .ids("SELECT customer_id FROM customer_metrics WHERE orders_count >= 1 ORDER BY customer_id")
            .await
            .into_iter()
            .map(gid_of)
            .collect();
        // More members than one batch of 500, so paging is exercised.
        assert!(expected.len() > 1_000, "{}", expected.len());

        let get = |format: &str, token: Option<String>| {
            let mut req = app.client.get(app.url(&format!("/segments/{id}/export?format={format}")));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            req.send()
        };
        let resp = get("csv", Some(app.staff())).await.expect("csv");
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "text/csv; charset=utf-8");
        let text = resp.text().await.expect("body");
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("id,email,first_name,last_name,phone,birthday,country,city,email_marketing_state,created_at"));
        let rows: Vec<&str> = lines.collect();
        let ids: Vec<String> = rows.iter().map(|l| l.split(',').next().expect("id").to_owned()).collect();
        assert_eq!(ids, expected);
        let first_email = app.text(&format!("SELECT email FROM customers WHERE id = {}", expected[0].rsplit('/').next().expect("n"))).await;
        assert_eq!(rows[0].split(',').nth(1), Some(first_email.as_str()), "STAFF sees PII");

        let text = get("jsonl", Some(app.staff())).await.expect("jsonl").text().await.expect("body");
        let objects: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
        assert_eq!(objects.len(), expected.len());
        assert_eq!(objects[0]["id"], expected[0]);
        assert_eq!(objects[0]["email"], first_email);

        let partner = app.token(c360::auth::Role::Partner, "crm", &["segments:read", "customers:read", "pii:read"]);
        let cases = [
            (get("csv", None).await.expect("anonymous"), 401, "UNAUTHENTICATED"),
            (get("csv", Some(partner)).await.expect("partner"), 403, "FORBIDDEN"),
            (get("xml", Some(app.staff())).await.expect("xml"), 400, "BAD_USER_INPUT"),
        ];
        for (resp, status, code) in cases {
            assert_eq!(resp.status().as_u16(), status);
            let body: Value = resp.json().await.expect("json error");
            assert_eq!(body["errors"][0]["extensions"]["code"], code, "{body}");
        }
        let resp = app.client.get(app.url("/segments/999/export")).bearer_auth(app.staff()).send().await.expect("404");
        assert_eq!(resp.status().as_u16(), 404);
    }
}

fn gid_of(id: i64) -> String {
    gid(id)
}

both_stores! {
    async fn a_count_alone_costs_one_statement(app: TestApp) {
        app.seed(60).await;
        let q = "amount_spent >= 100 AND number_of_orders >= 2";
        let expected = app
            .scalar("SELECT COUNT(*) FROM customer_metrics WHERE net_spend >= 10000 AND orders_count >= 2")
            .await;
        assert!(expected > 0, "the seed has members to count");

        let count = "query($q: String!) { segmentMembers(query: $q, first: 0) { totalCount edges { node { id } } } }";
        let before = app.sql_statements().await;
        let data = app.query(count, json!({ "q": q })).await;
        assert_eq!(app.sql_statements().await - before, 1, "the count, and no probe");
        assert_eq!(data["segmentMembers"]["totalCount"], expected);
        assert_eq!(data["segmentMembers"]["edges"], json!([]));

        // Asking whether a member exists costs the probe, and answers it.
        let with_page = "query($q: String!) { segmentMembers(query: $q, first: 0) { totalCount pageInfo { hasNextPage } } }";
        let before = app.sql_statements().await;
        let data = app.query(with_page, json!({ "q": q })).await;
        assert_eq!(app.sql_statements().await - before, 2);
        assert_eq!(data["segmentMembers"]["totalCount"], expected);
        assert_eq!(data["segmentMembers"]["pageInfo"]["hasNextPage"], true);
        let data = app.query(with_page, json!({ "q": "amount_spent >= 100000000" })).await;
        assert_eq!(data["segmentMembers"]["pageInfo"]["hasNextPage"], false);
        assert_eq!(data["segmentMembers"]["totalCount"], 0);
    }
}
