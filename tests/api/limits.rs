//! Request limits: cost (pages multiply), aliases, root fields, document size
//! and tokens, batches. Each refusal is QUERY_TOO_COMPLEX with its own message.

use serde_json::{Value, json};

use crate::both_stores;
use crate::helpers::{StoreKind, TestApp};

/// The profile query of the README, read from the README itself.
fn readme_profile_query() -> String {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("```graphql\nquery Profile")
        .expect("profile query in README")
        + "```graphql\n".len();
    let end = start + readme[start..].find("```").expect("end of block");
    readme[start..end].to_owned()
}

fn refusal(status: u16, body: &Value) -> String {
    assert_eq!(status, 400, "{body}");
    assert!(body.get("data").is_none(), "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX",
        "{body}"
    );
    body["errors"][0]["message"]
        .as_str()
        .expect("message")
        .to_owned()
}

both_stores! {
    async fn the_readme_profile_query_passes_every_default_limit(app: TestApp) {
        app.seed(5).await;
        let id = app
            .scalar("SELECT customer_id FROM customer_metrics ORDER BY orders_count DESC, customer_id LIMIT 1")
            .await;
        let data = app
            .query(&readme_profile_query(), json!({ "id": format!("gid://c360/Customer/{id}") }))
            .await;
        let customer = &data["customer"];
        assert_eq!(customer["id"], format!("gid://c360/Customer/{id}"));
        assert!(customer["orders"]["totalCount"].as_i64().expect("count") > 0);
    }
}

both_stores! {
    async fn nested_pages_multiply_the_cost_and_millions_of_rows_are_refused(app: TestApp) {
        app.seed(3).await;
        let staff = app.staff();
        for (what, query) in [
            ("orders and lines", "{ customers(first: 100) { edges { node { orders(first: 100) { edges { node { lines(first: 100) { edges { node { sku } } } } } } } } } }"),
            ("tickets and messages", "{ customers(first: 100) { edges { node { tickets(first: 100) { edges { node { messages(first: 100) { edges { node { body } } } } } } } } } }"),
            ("loyalty ledger", "{ customers(last: 100) { edges { node { loyalty { transactions(first: 100) { edges { node { points kind state createdAt } } } } reviews(first: 100) { edges { node { title } } } } } } }"),
        ] {
            let (status, body) = app.post(query, json!({}), Some(&staff)).await;
            let message = refusal(status, &body);
            assert!(message.contains("costs more than 50000"), "{what}: {message}");
        }
        // The same shapes with small pages run.
        let (status, body) = app.post(
            "{ customers(first: 2) { edges { node { orders(first: 2) { edges { node { lines(first: 2) { edges { node { sku } } } } } } } } } }",
            json!({}), Some(&staff)).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.get("errors").is_none(), "{body}");
    }
}

both_stores! {
    async fn too_many_aliases_or_root_fields_are_refused(app: TestApp) {
        let staff = app.staff();
        let aliases = |n: usize| {
            let fields: Vec<String> = (0..n).map(|i| format!("a{i}: id")).collect();
            format!("{{ customers(first: 1) {{ edges {{ node {{ {} }} }} }} }}", fields.join(" "))
        };
        let (status, body) = app.post(&aliases(30), json!({}), Some(&staff)).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = app.post(&aliases(31), json!({}), Some(&staff)).await;
        let message = refusal(status, &body);
        assert_eq!(message, "the query document uses 31 aliases; the limit is 30");

        let roots = |n: usize| format!("{{ {} }}", vec!["__typename"; n].join(" "));
        let (status, body) = app.post(&roots(10), json!({}), Some(&staff)).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = app.post(&roots(11), json!({}), Some(&staff)).await;
        let message = refusal(status, &body);
        assert!(message.starts_with("the operation selects 11 root fields; the limit is 10"), "{message}");
        // Fragments at the root count their fields.
        let spread = "query { ...A ...B } fragment A on Query { a: __typename b: __typename c: __typename d: __typename e: __typename f: __typename } fragment B on Query { __typename ... on Query { __typename __typename __typename __typename } }";
        let (status, body) = app.post(spread, json!({}), Some(&staff)).await;
        assert!(refusal(status, &body).contains("11 root fields"));
    }
}

both_stores! {
    async fn documents_too_large_or_with_too_many_tokens_are_refused(app: TestApp) {
        let staff = app.staff();
        let padded = format!("{{ __typename }}\n# {}", "x".repeat(33 * 1024));
        let (status, body) = app.post(&padded, json!({}), Some(&staff)).await;
        let message = refusal(status, &body);
        assert!(message.contains("bytes; the limit is 32768 bytes"), "{message}");

        let many = format!("{{ customers(first: 1) {{ edges {{ node {{ {} }} }} }} }}", "id ".repeat(2_000));
        assert!(many.len() < 32 * 1024);
        let (status, body) = app.post(&many, json!({}), Some(&staff)).await;
        let message = refusal(status, &body);
        assert_eq!(message, "the query document has more than 2000 tokens; send a smaller document");
    }
}

/// POSTs a raw JSON body as staff.
async fn post_json(app: &TestApp, body: Value) -> (u16, Value) {
    let r = app
        .client
        .post(app.url("/graphql"))
        .header("accept", "application/graphql-response+json")
        .bearer_auth(app.staff())
        .json(&body)
        .send()
        .await
        .expect("sent");
    let status = r.status().as_u16();
    (status, r.json().await.expect("json"))
}

both_stores! {
    async fn batches_run_in_order_up_to_the_limit(app: TestApp) {
        app.seed(3).await;
        let (status, body) = post_json(&app, json!([
            { "query": "{ customers(first: 1) { totalCount } }" },
            { "query": "query($n: Int) { customers(first: $n) { edges { cursor } } }", "variables": { "n": 2 } },
            { "query": "{ nope }" },
        ])).await;
        assert_eq!(status, 200, "{body}");
        let results = body.as_array().expect("an array of results");
        assert_eq!(results.len(), 3);
        assert_eq!(results[0]["data"]["customers"]["totalCount"], 3);
        assert_eq!(results[1]["data"]["customers"]["edges"].as_array().map(Vec::len), Some(2));
        assert_eq!(results[2]["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");

        let eleven: Vec<Value> = (0..11).map(|_| json!({ "query": "{ __typename }" })).collect();
        let (status, body) = post_json(&app, Value::Array(eleven)).await;
        assert_eq!(status, 400);
        assert_eq!(body["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX");
        assert_eq!(body["errors"][0]["message"], "the batch has 11 operations; the limit is 10; send the rest in another request");

        let (status, body) = post_json(&app, json!([])).await;
        assert_eq!(status, 400);
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
        let (status, body) = post_json(&app, json!([{ "query": "{ __typename }" }, 7])).await;
        assert_eq!(status, 400);
        assert!(body["errors"][0]["message"].as_str().expect("message").starts_with("batch entry 1:"));
    }
}

#[tokio::test]
async fn the_cost_is_the_page_size_times_the_cost_of_one_element() {
    // customers(first: n) { edges { node { id } } }: id 1, node 2, edges 3,
    // so the list costs 3n + 1.
    let app = TestApp::spawn(StoreKind::Sqlite, |c| c.max_complexity = 31).await;
    let query = |n: i32| format!("{{ customers(first: {n}) {{ edges {{ node {{ id }} }} }} }}");
    let (status, body) = app.post(&query(10), json!({}), Some(&app.staff())).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app.post(&query(11), json!({}), Some(&app.staff())).await;
    assert!(refusal(status, &body).contains("costs more than 31"));
    // Without `first` the default page of 20 counts.
    let (status, body) = app
        .post(
            "{ customers { edges { node { id } } } }",
            json!({}),
            Some(&app.staff()),
        )
        .await;
    refusal(status, &body);
}

#[tokio::test]
async fn a_request_past_its_deadline_is_cancelled_with_timeout() {
    let app = TestApp::spawn(StoreKind::Sqlite, |c| {
        c.request_timeout = std::time::Duration::from_millis(2);
    })
    .await;
    app.seed(60).await;
    let (status, body) = app
        .post(
            crate::batching::NESTED,
            json!({ "n": 50 }),
            Some(&app.staff()),
        )
        .await;
    assert_eq!(status, 504, "{body}");
    assert!(body.get("data").is_none(), "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "TIMEOUT", "{body}");
    assert_eq!(
        body["errors"][0]["message"],
        "the request took longer than 2 ms and was cancelled"
    );
}

/// A document validated once is not validated again for variables of the same
/// shape; every answer stays what full validation gives: bad variable values,
/// costs past the limit and enum values outside the type are refused however
/// often the document ran before, each answer compared with the same request
/// on a server that never saw the document.
#[tokio::test]
async fn a_repeated_document_answers_as_if_validated_each_time() {
    let configure = |c: &mut c360::config::Config| c.max_complexity = 100;
    let warm = TestApp::spawn(StoreKind::Sqlite, configure).await;
    warm.seed(3).await;
    let query = "query Q($id: ID!, $n: Int, $dir: SortDirection! = DESC, \
        $before: DateTime = \"2100-01-01T00:00:00Z\") { \
        customer(id: $id) { id orders(first: $n) { edges { node { orderNumber } } } } \
        customers(first: 2, orderBy: { field: CREATED_AT, direction: $dir }, \
          filter: { createdBefore: $before }) { edges { node { id } } } }";
    let staff = warm.staff();
    let ok = |id: i64, n: i64| json!({ "id": format!("gid://c360/Customer/{id}"), "n": n });
    // Run the document until its results are kept, for two customers.
    for id in [1, 2, 1] {
        let (status, body) = warm.post(query, ok(id, 5), Some(&staff)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["data"]["customer"]["id"],
            format!("gid://c360/Customer/{id}")
        );
    }
    let (_, three) = warm.post(query, ok(3, 5), Some(&staff)).await;
    assert_eq!(
        three["data"]["customer"]["id"], "gid://c360/Customer/3",
        "{three}"
    );

    let cold = TestApp::spawn(StoreKind::Sqlite, configure).await;
    cold.seed(3).await;
    let cold_staff = cold.staff();
    for (what, status, variables) in [
        ("a null for ID!", 400, json!({ "id": null, "n": 5 })),
        ("a boolean for ID!", 400, json!({ "id": true, "n": 5 })),
        (
            "a string for Int",
            400,
            json!({ "id": "gid://c360/Customer/1", "n": "five" }),
        ),
        (
            "a page past the cost",
            400,
            json!({ "id": "gid://c360/Customer/1", "n": 90 }),
        ),
        (
            "an unknown enum value",
            400,
            json!({ "id": "gid://c360/Customer/1", "n": 5, "dir": "SIDEWAYS" }),
        ),
        (
            "a known enum value",
            200,
            json!({ "id": "gid://c360/Customer/1", "n": 5, "dir": "ASC" }),
        ),
        (
            "another customer",
            200,
            json!({ "id": "gid://c360/Customer/2", "n": 5 }),
        ),
        (
            "another instant",
            200,
            json!({ "id": "gid://c360/Customer/1", "n": 5, "before": "2090-06-01T00:00:00Z" }),
        ),
        (
            "text that is not an instant",
            200,
            json!({ "id": "gid://c360/Customer/1", "n": 5, "before": "yesterday" }),
        ),
        (
            "a number for DateTime",
            200,
            json!({ "id": "gid://c360/Customer/1", "n": 5, "before": 7 }),
        ),
    ] {
        let seen = warm.post(query, variables.clone(), Some(&staff)).await;
        let fresh = cold.post(query, variables.clone(), Some(&cold_staff)).await;
        assert_eq!(seen, fresh, "{what}");
        // And again, now that this shape has run once on the warm server.
        let again = warm.post(query, variables, Some(&staff)).await;
        assert_eq!(again, fresh, "{what}, repeated");
        assert_eq!(fresh.0, status, "{what}: {}", fresh.1);
    }
}
