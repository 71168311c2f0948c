//! GraphQL over HTTP as the spec asks, health endpoints and metrics.

use serde_json::{Value, json};

use crate::both_stores;
use crate::helpers::{TestApp, metric};

const GQL: &str = "application/graphql-response+json";

async fn raw_post(
    app: &TestApp,
    accept: Option<&str>,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", content_type)
        .bearer_auth(app.staff())
        .body(body);
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    req.send().await.expect("sent")
}

/// Sends one raw HTTP/1.1 request and returns the whole response.
async fn raw_http(app: &TestApp, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut out = String::new();
    stream.read_to_string(&mut out).await.expect("read");
    out
}

fn content_type(r: &reqwest::Response) -> String {
    r.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

#[tokio::test]
async fn accept_is_negotiated_and_406_when_nothing_fits() {
    let app = TestApp::spawn_sqlite().await;
    let body = json!({ "query": "{ __typename }" }).to_string();
    let r = raw_post(&app, Some(GQL), "application/json", body.clone()).await;
    assert_eq!(r.status(), 200);
    assert!(content_type(&r).starts_with(GQL));
    let r = raw_post(
        &app,
        Some("application/json"),
        "application/json",
        body.clone(),
    )
    .await;
    assert!(content_type(&r).starts_with("application/json"));
    // reqwest always sends `Accept: */*`, so the header-less request goes by hand.
    let raw = raw_http(
        &app,
        &format!(
            "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    assert!(
        raw.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "no Accept means application/json: {raw}"
    );
    // What fetch and curl send when the caller names no type.
    let r = raw_post(&app, Some("*/*"), "application/json", body.clone()).await;
    assert_eq!(r.status(), 200);
    assert!(
        content_type(&r).starts_with("application/json"),
        "*/* means application/json"
    );
    let r = raw_post(
        &app,
        Some("application/graphql-response+json, */*;q=0.5"),
        "application/json",
        body.clone(),
    )
    .await;
    assert!(content_type(&r).starts_with(GQL));
    let r = raw_post(&app, Some("text/csv"), "application/json", body).await;
    assert_eq!(r.status(), 406);
}

#[tokio::test]
async fn malformed_requests_are_400_and_unsupported_bodies_415() {
    let app = TestApp::spawn_sqlite().await;
    for (body, why) in [
        ("{not json", "unparsable JSON"),
        ("[]", "not an object"),
        ("{}", "no query"),
        (r#"{"query": 5}"#, "query not a string"),
        (
            r#"{"query": "{ __typename }", "variables": [1]}"#,
            "variables not an object",
        ),
    ] {
        for accept in [GQL, "application/json"] {
            let r = raw_post(&app, Some(accept), "application/json", body).await;
            assert_eq!(r.status(), 400, "{why} under {accept}");
            let json: Value = r.json().await.expect("json");
            assert_eq!(
                json["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
                "{why}"
            );
        }
    }
    let r = raw_post(&app, Some(GQL), "text/plain", "{ __typename }").await;
    assert_eq!(r.status(), 415);
}

#[tokio::test]
async fn errors_that_end_a_request_name_no_place_in_the_document() {
    let app = TestApp::spawn_sqlite().await;
    let bad_json = raw_post(&app, Some(GQL), "application/json", "{not json").await;
    let wrong_type = raw_post(&app, Some(GQL), "text/plain", "{ __typename }").await;
    for (r, code) in [(bad_json, "BAD_USER_INPUT"), (wrong_type, "BAD_USER_INPUT")] {
        let json: Value = r.json().await.expect("json");
        let error = &json["errors"][0];
        assert_eq!(error["extensions"]["code"], code, "{json}");
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{json}"
        );
        // The spec's locations are 1-based places in the document; an error
        // about the request as a whole has none.
        assert!(error.get("locations").is_none(), "{json}");
        assert!(json.get("data").is_none(), "{json}");
    }
}

#[tokio::test]
async fn documents_that_fail_before_execution_are_4xx_only_under_the_new_media_type() {
    let app = TestApp::spawn_sqlite().await;
    for query in [
        "{ customers(first: 1) { edges ",
        "{ nosuchfield }",
        "query($n: Int!) { customers(first: $n) { edges { cursor } } }",
    ] {
        let body = json!({ "query": query, "variables": { "n": "ten" } }).to_string();
        let r = raw_post(&app, Some(GQL), "application/json", body.clone()).await;
        assert_eq!(r.status(), 400, "{query}");
        let json: Value = r.json().await.expect("json");
        assert!(
            json.get("data").is_none(),
            "nothing executed, so no data: {json}"
        );
        assert_eq!(
            json["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{json}"
        );

        let r = raw_post(&app, Some("application/json"), "application/json", body).await;
        assert_eq!(r.status(), 200, "legacy clients get 200: {query}");
    }
}

#[tokio::test]
async fn an_argument_left_null_at_execution_is_the_callers_mistake() {
    let app = TestApp::spawn_sqlite().await;
    app.seed(1).await;
    let id = app.scalar("SELECT MIN(id) FROM customers").await;
    // `$ch` is nullable, `channel` is not: a variable left out reaches the
    // resolver as null, which is the caller's to fix, not an internal error.
    let query = r#"mutation($c: ID!, $ch: NpsChannel) {
      npsRecord(customerId: $c, score: 7, channel: $ch) { score } }"#;
    let before = app.scalar("SELECT COUNT(*) FROM nps_responses").await;
    let (status, body) = app
        .post(
            query,
            json!({ "c": format!("gid://c360/Customer/{id}") }),
            Some(&app.staff()),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{body}"
    );
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("NpsChannel")),
        "the message names the type: {body}"
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM nps_responses").await,
        before
    );
}

#[tokio::test]
async fn queries_deeper_than_the_limit_are_refused() {
    let app = TestApp::spawn_sqlite().await;
    // Fourteen levels against the default limit of twelve.
    let deep = "{ customers { edges { node { referredBy { referrer { referredBy { referrer { referredBy { referrer { referredBy { referrer { referredBy { referrer { id } } } } } } } } } } } } } }";
    let r = raw_post(
        &app,
        Some(GQL),
        "application/json",
        json!({ "query": deep }).to_string(),
    )
    .await;
    assert_eq!(r.status(), 400);
    let json: Value = r.json().await.expect("json");
    assert_eq!(
        json["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX",
        "{json}"
    );
}

#[tokio::test]
async fn bodies_past_the_limit_are_413() {
    let app = TestApp::spawn_sqlite().await;
    let padding = " ".repeat(300 * 1024);
    let body = format!(r#"{{"query": "{{ __typename }}{padding}"}}"#);
    let r = raw_post(&app, Some(GQL), "application/json", body).await;
    assert_eq!(r.status(), 413);
    let json: Value = r.json().await.expect("json");
    assert_eq!(json["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
}

#[tokio::test]
async fn get_runs_queries_refuses_mutations_and_serves_graphiql_to_browsers() {
    let app = TestApp::spawn_sqlite().await;
    let r = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", "{ __typename }")])
        .header("accept", GQL)
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 200);
    let json: Value = r.json().await.expect("json");
    assert_eq!(json["data"]["__typename"], "Query");

    let r = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", "mutation { doSomething }")])
        .header("accept", GQL)
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 405);
    assert_eq!(
        r.headers().get("allow").and_then(|v| v.to_str().ok()),
        Some("POST")
    );

    let r = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", "{ __typename }"), ("variables", "{oops")])
        .header("accept", GQL)
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 400);

    let r = app
        .client
        .get(app.url("/graphql"))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("html").contains("graphiql"));
}

#[tokio::test]
async fn invalid_tokens_are_401_with_a_reason() {
    let app = TestApp::spawn_sqlite().await;
    for auth in [
        "Bearer not.a.jwt",
        "Basic dXNlcjpwYXNz",
        "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4Iiwicm9sZSI6IlNUQUZGIiwiZXhwIjo5OTk5OTk5OTk5fQ.",
    ] {
        let r = app
            .client
            .post(app.url("/graphql"))
            .header("authorization", auth)
            .header("accept", GQL)
            .json(&json!({ "query": "{ __typename }" }))
            .send()
            .await
            .expect("sent");
        assert_eq!(r.status(), 401, "{auth}");
        assert!(r.headers().contains_key("www-authenticate"));
        let json: Value = r.json().await.expect("json");
        assert_eq!(json["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    }
}

both_stores! {
    async fn health_readiness_and_metrics_answer(app: TestApp) {
        let r = app.client.get(app.url("/healthz")).send().await.expect("sent");
        assert_eq!(r.status(), 200);
        let r = app.client.get(app.url("/readyz")).send().await.expect("sent");
        assert_eq!(r.status(), 200);
        app.query("{ __typename }", json!({})).await;
        let text = app.client.get(app.url("/metrics")).send().await.expect("sent").text().await.expect("text");
        assert_eq!(metric(&text, "c360_graphql_requests_total{outcome=\"ok\"}"), Some(1.0), "{text}");
        assert!(metric(&text, "c360_graphql_request_duration_seconds_count").is_some_and(|n| n >= 1.0));
        assert_eq!(metric(&text, "c360_db_pool_max_connections"), Some(if app.db.get_database_backend() == sea_orm::DbBackend::Sqlite { 10.0 } else { 4.0 }), "{text}");
        assert!(metric(&text, "c360_db_pool_connections{state=\"idle\"}").is_some_and(|n| n >= 1.0), "{text}");
    }
}

#[tokio::test]
async fn readiness_follows_the_database_and_recovers_without_restart() {
    let Some(app) = TestApp::spawn_postgres().await else {
        return;
    };
    let ready = || async {
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .expect("sent")
            .status()
            .as_u16()
    };
    assert_eq!(ready().await, 200);
    app.set_database_reachable(false).await;
    assert_eq!(ready().await, 503);
    app.set_database_reachable(true).await;
    let mut status = 0;
    for _ in 0..50 {
        status = ready().await;
        if status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200, "ready again once the database is back");
}

/// With one execution slot, a request that arrives while another executes
/// waits for it (and `/metrics` shows it waiting), then runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_the_concurrency_limit_wait_for_a_slot() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let Some(app) = TestApp::spawn_postgres_with(|c| c.max_concurrent_requests = 1).await else {
        return;
    };
    app.seed(2).await;
    let id = app
        .ids("SELECT id FROM customers ORDER BY id LIMIT 1")
        .await[0];
    let expected = app
        .scalar(&format!(
            "SELECT orders_count FROM customer_metrics WHERE customer_id = {id}"
        ))
        .await;
    let gauge = |state: &'static str| {
        let app = &app;
        async move {
            let text = app
                .client
                .get(app.url("/metrics"))
                .send()
                .await
                .expect("sent")
                .text()
                .await
                .expect("text");
            metric(
                &text,
                &format!("c360_graphql_requests_in_flight{{state=\"{state}\"}}"),
            )
        }
    };
    assert_eq!(
        (gauge("running").await, gauge("waiting").await),
        (Some(0.0), Some(0.0))
    );

    // The first request blocks inside SQL on a table another transaction holds.
    let holder = app.db.begin().await.expect("begin");
    holder
        .execute_unprepared("LOCK TABLE customer_metrics IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock");
    let stats =
        format!("{{ customer(id: \"gid://c360/Customer/{id}\") {{ stats {{ ordersCount }} }} }}");
    let staff = app.staff();
    let first = app.post(&stats, json!({}), Some(&staff));
    let rest = async {
        let until = |want: (Option<f64>, Option<f64>)| async move {
            let mut seen = (None, None);
            for _ in 0..100 {
                seen = (gauge("running").await, gauge("waiting").await);
                if seen == want {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            seen
        };
        until((Some(1.0), Some(0.0))).await;
        let second = app.post("{ __typename }", json!({}), Some(&staff));
        let watch = async {
            let seen = until((Some(1.0), Some(1.0))).await;
            holder.commit().await.expect("release");
            seen
        };
        tokio::join!(second, watch)
    };
    let ((_, first), ((_, second), seen)) = tokio::join!(first, rest);
    assert_eq!(seen, (Some(1.0), Some(1.0)), "one running, one waiting");
    assert_eq!(
        first["data"]["customer"]["stats"]["ordersCount"], expected,
        "{first}"
    );
    assert_eq!(second["data"]["__typename"], "Query", "{second}");
    assert_eq!(
        (gauge("running").await, gauge("waiting").await),
        (Some(0.0), Some(0.0))
    );
}
