//! The access log of `c360 serve`: one JSON line per request with its
//! request id (taken from `X-Request-Id` or made, and echoed), the trace id
//! of a `traceparent`, the operation, the caller's role and subject, the
//! statements and the error codes; never a token or PII.

use serde_json::json;

use crate::served::{Served, token};

#[tokio::test]
async fn every_request_gets_one_json_line_with_its_ids_and_no_secrets() {
    let served = Served::start(None, &[], &[]).await;
    let client = reqwest::Client::new();
    let partner = token("PARTNER", "pos-7", &["customers:read"]);
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let r = client
        .post(format!("{}/graphql", served.url))
        .bearer_auth(&partner)
        .header("x-request-id", "call-1032")
        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
        .json(&json!({
            "query": "query Page { customers(first: 2) { edges { node { id email } } } }",
            "operationName": "Page"
        }))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-request-id"], "call-1032");
    let line = served.access("call-1032").await;
    assert_eq!(line["trace_id"], trace);
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["method"], "POST");
    assert_eq!(line["path"], "/graphql");
    assert_eq!(line["status"], 200);
    assert_eq!(line["operations"], "Page");
    assert_eq!(line["role"], "PARTNER");
    assert_eq!(line["subject"], "pos-7");
    assert_eq!(line["outcome"], "ok");
    assert_eq!(line["codes"], "");
    assert!(
        line["statements"].as_u64().is_some_and(|n| n >= 1),
        "{line}"
    );
    assert!(
        line["duration_ms"].as_f64().is_some_and(|d| d > 0.0),
        "{line}"
    );
    let all = served.log();
    assert!(!all.contains(&partner), "a token reached the log");

    // A document of one named operation sent without `operationName`: the
    // line names the operation that ran.
    let r = client
        .post(format!("{}/graphql", served.url))
        .bearer_auth(&partner)
        .header("x-request-id", "call-unnamed")
        .json(&json!({ "query": "query Page { customers(first: 2) { edges { node { id } } } }" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 200);
    assert_eq!(served.access("call-unnamed").await["operations"], "Page");

    // No id sent, or one unfit for a log: a fresh one, echoed. A broken
    // traceparent starts a new trace.
    for sent in [None, Some("two words")] {
        let mut req = client
            .post(format!("{}/graphql", served.url))
            .header("traceparent", "00-zz-00f067aa0ba902b7-01")
            .json(&json!({ "query": "{ customer(id: \"gid://c360/Customer/1\") { id } }" }));
        if let Some(id) = sent {
            req = req.header("x-request-id", id);
        }
        let r = req.send().await.expect("sent");
        let id = r.headers()["x-request-id"]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert_eq!(id.len(), 26, "a ULID: {id}");
        let line = served.access(&id).await;
        assert_eq!(line["operations"], "-", "an anonymous operation");
        assert_eq!(line["role"], "anonymous");
        assert_eq!(line["subject"], "");
        let trace = line["trace_id"].as_str().expect("trace id");
        assert!(trace.len() == 32 && trace != "00000000000000000000000000000000");
        // Refused in the resolver: the code is in the line.
        assert_eq!(line["outcome"], "field_errors");
        assert_eq!(line["codes"], "UNAUTHENTICATED");
    }

    // Refused before GraphQL: a bad token.
    let r = client
        .post(format!("{}/graphql", served.url))
        .bearer_auth("not-a-token")
        .header("x-request-id", "call-bad-token")
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 401);
    let line = served.access("call-bad-token").await;
    assert_eq!(line["status"], 401);
    assert_eq!(line["codes"], "UNAUTHENTICATED");
    assert_eq!(line["operations"], "");
    assert_eq!(line["outcome"], "-");
    assert!(!served.log().contains("not-a-token"));

    // A batch: each operation named, the worst outcome, every code.
    let r = client
        .post(format!("{}/graphql", served.url))
        .bearer_auth(&partner)
        .header("x-request-id", "call-batch")
        .json(&json!([
            { "query": "query A { __typename }", "operationName": "A" },
            { "query": "query B { nope }", "operationName": "B" }
        ]))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 200);
    let line = served.access("call-batch").await;
    assert_eq!(line["operations"], "A,B");
    assert_eq!(line["outcome"], "invalid");
    assert_eq!(line["codes"], "BAD_USER_INPUT");
}
