//! Introspection by the ecosystem's standard query, and the rules that still
//! refuse a hostile one: depth counts data fields only; introspection is
//! bounded by repetition, list-of-type nesting and `ofType` chains.

use serde_json::{Value, json};

use crate::helpers::TestApp;

/// graphql-js's `getIntrospectionQuery()` with every option it has.
const STANDARD: &str = include_str!("fixtures/standard_introspection.graphql");

fn refused(status: u16, body: &Value) -> String {
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

#[tokio::test]
async fn the_standard_introspection_query_passes_the_default_limits() {
    let app = TestApp::spawn_sqlite().await;
    let (status, body) = app.post(STANDARD, json!({}), Some(&app.staff())).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    let schema = &body["data"]["__schema"];
    assert_eq!(schema["queryType"]["name"], "Query");
    assert_eq!(schema["mutationType"]["name"], "Mutation");
    let types = schema["types"].as_array().expect("types");
    let customer = types
        .iter()
        .find(|t| t["name"] == "Customer")
        .expect("Customer type");
    let field = |name: &str| {
        customer["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .find(|f| f["name"] == name)
            .cloned()
            .expect("field")
    };
    // `ID!`: the wrapper comes back through `ofType`.
    assert_eq!(field("id")["type"]["kind"], "NON_NULL");
    assert_eq!(field("id")["type"]["ofType"]["name"], "ID");
    assert_eq!(field("orders")["type"]["name"], "OrderConnection");
    assert!(
        schema["directives"]
            .as_array()
            .expect("directives")
            .iter()
            .any(|d| d["name"] == "skip")
    );
}

#[tokio::test]
async fn hostile_introspection_is_refused_with_its_code() {
    let app = TestApp::spawn_sqlite().await;
    let staff = app.staff();
    let of_type = |n: usize| {
        format!(
            "{{ __type(name: \"Customer\") {{ fields {{ type {{ {}name{} }} }} }} }}",
            "ofType { ".repeat(n),
            " }".repeat(n)
        )
    };
    let (status, body) = app.post(&of_type(10), json!({}), Some(&staff)).await;
    assert_eq!(status, 200, "ten `ofType` pass: {body}");
    let (status, body) = app.post(&of_type(20), json!({}), Some(&staff)).await;
    assert_eq!(
        refused(status, &body),
        "the introspection nests `ofType` 20 levels deep; the limit is 10"
    );

    // Types through their fields, three times over.
    let cycle = "{ __type(name: \"Customer\") { fields { type { fields { type { fields { name } } } } } } }";
    let (status, body) = app.post(cycle, json!({}), Some(&staff)).await;
    assert!(refused(status, &body).starts_with("the introspection nests `fields`"));
    // The same through fragments and `ofType`, which do not hide it.
    let hidden = "{ __schema { types { ...T } } } fragment T on __Type { possibleTypes { ...U } } fragment U on __Type { ofType { interfaces { inputFields { name } } } }";
    let (status, body) = app.post(hidden, json!({}), Some(&staff)).await;
    assert!(refused(status, &body).contains("3 levels deep; the limit is 2"));

    // The whole schema, many times.
    let repeated = format!(
        "{{ {} }}",
        (0..5)
            .map(|i| format!("s{i}: __schema {{ types {{ name }} }}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let (status, body) = app.post(&repeated, json!({}), Some(&staff)).await;
    assert_eq!(
        refused(status, &body),
        "the operation reads `__schema` 5 times; once is enough"
    );
    let spread = "{ ...S ...S } fragment S on Query { __schema { queryType { name } } }";
    let (status, body) = app.post(spread, json!({}), Some(&staff)).await;
    assert!(refused(status, &body).contains("`__schema` 2 times"));
    let types = format!(
        "{{ {} }}",
        (0..6)
            .map(|i| format!("t{i}: __type(name: \"Customer\") {{ name }}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let (status, body) = app.post(&types, json!({}), Some(&staff)).await;
    assert_eq!(
        refused(status, &body),
        "the operation reads `__type` 6 times; the limit is 5"
    );
}

#[tokio::test]
async fn depth_counts_data_fields_through_fragments() {
    let app = TestApp::spawn_sqlite().await;
    let staff = app.staff();
    // `customers > edges > node` then pairs of `referredBy > referrer`.
    let chain = |pairs: usize| {
        format!(
            "{{ customers(first: 1) {{ edges {{ node {{ {}id{} }} }} }} }}",
            "referredBy { referrer { ".repeat(pairs),
            " } }".repeat(pairs)
        )
    };
    // 3 + 2 × 4 + `id` = 12 levels: the limit, which passes.
    let (status, body) = app.post(&chain(4), json!({}), Some(&staff)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    let (status, body) = app.post(&chain(5), json!({}), Some(&staff)).await;
    assert_eq!(
        refused(status, &body),
        "the query is nested deeper than 12 levels"
    );
    // Fragments add their depth where they are spread.
    let spread = "{ customers(first: 1) { edges { node { ...A } } } } fragment A on Customer { referredBy { referrer { ...B } } } fragment B on Customer { referredBy { referrer { ...C } } } fragment C on Customer { referredBy { referrer { ...D } } } fragment D on Customer { referredBy { referrer { referredBy { referrer { id } } } } }";
    let (status, body) = app.post(spread, json!({}), Some(&staff)).await;
    assert_eq!(
        refused(status, &body),
        "the query is nested deeper than 12 levels"
    );
    // A fragment cycle is a validation error, not a hang.
    let cycle = "{ customers(first: 1) { edges { node { ...A } } } } fragment A on Customer { referredBy { referrer { ...A } } }";
    let (status, body) = app.post(cycle, json!({}), Some(&staff)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
}
