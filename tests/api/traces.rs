//! Traces over OTLP/HTTP (`--otlp-endpoint`): `c360 serve` exports the
//! spans of a request under the caller's `traceparent` to a collector, here
//! a local listener that decodes what it receives.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::{Value, json};

use crate::served::{Served, token};
use crate::webhook_support::{Receiver, Script};

/// Collected spans, decoded from every export received.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<Span>>>);

impl Collector {
    async fn start() -> (Collector, String) {
        let collector = Collector::default();
        let sink = collector.clone();
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |body: Bytes| {
                let sink = sink.clone();
                async move {
                    let export = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                    let mut spans = sink.0.lock().expect("spans");
                    for resource in export.resource_spans {
                        for scope in resource.scope_spans {
                            spans.extend(scope.spans);
                        }
                    }
                    ""
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (collector, url)
    }

    fn of_trace(&self, trace: &[u8]) -> Vec<Span> {
        self.0
            .lock()
            .expect("spans")
            .iter()
            .filter(|s| s.trace_id == trace)
            .cloned()
            .collect()
    }
}

async fn serve(collector: &str) -> Served {
    Served::start(
        None,
        &[
            "--seed-demo",
            "--otlp-endpoint",
            collector,
            "--webhooks-poll-interval",
            "100ms",
        ],
        &[("OTEL_BSP_SCHEDULE_DELAY", "100")],
    )
    .await
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_exported_under_the_callers_trace() {
    let (collector, endpoint) = Collector::start().await;
    let served = serve(&endpoint).await;
    let token = token("STAFF", "tracer", &[]);
    let trace = "0af7651916cd43dd8448eb211c80319c";
    let caller_span = "b7ad6b7169203331";
    let body: Value = reqwest::Client::new()
        .post(format!("{}/graphql", served.url))
        .bearer_auth(&token)
        .header("traceparent", format!("00-{trace}-{caller_span}-01"))
        .header("x-request-id", "traced-1")
        .json(&json!({ "query": "query Traced { customers(first: 3) { edges { node { id orders(first: 2) { edges { node { id } } } } } } }" }))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    assert!(body.get("errors").is_none(), "{body}");

    let trace_bytes: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&trace[2 * i..2 * i + 2], 16).expect("hex"))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    let spans = loop {
        let spans = collector.of_trace(&trace_bytes);
        let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
        if names.contains(&"POST /graphql")
            && names.contains(&"sql")
            && names.contains(&"loader batch")
        {
            break spans;
        }
        assert!(Instant::now() < deadline, "spans of the trace: {names:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The request span is the caller's child; the rest are under it.
    let request = spans
        .iter()
        .find(|s| s.name == "POST /graphql")
        .expect("request span");
    assert_eq!(hex(&request.parent_span_id), caller_span);
    let sql: Vec<&Span> = spans.iter().filter(|s| s.name == "sql").collect();
    assert!(sql.len() >= 2, "{}", sql.len());
    let by_id = |id: &[u8]| spans.iter().find(|s| s.span_id == id);
    for s in &sql {
        // Each statement hangs from the request, directly or through a loader batch.
        let mut parent = by_id(&s.parent_span_id).expect("a parent in the trace");
        while parent.name != "POST /graphql" {
            parent = by_id(&parent.parent_span_id).expect("an ancestor in the trace");
        }
        assert!(s.end_time_unix_nano >= s.start_time_unix_nano);
        let text = s
            .attributes
            .iter()
            .find(|a| a.key == "db.query.text")
            .expect("the SQL");
        assert!(
            format!("{:?}", text.value).contains("SELECT"),
            "{:?}",
            text.value
        );
    }
    // A webhook delivery is a span of its own, naming endpoint and event.
    let (receiver, hook) = Receiver::start(Script::new()).await;
    let created: Value = reqwest::Client::new()
        .post(format!("{}/graphql", served.url))
        .bearer_auth(&token)
        .json(&json!({
            "query": "mutation($input: WebhookEndpointCreateInput!) { webhookEndpointCreate(input: $input) { endpoint { id } } }",
            "variables": { "input": { "url": hook, "eventTypes": ["customer.updated"] } }
        }))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    assert!(created.get("errors").is_none(), "{created}");
    let updated: Value = reqwest::Client::new()
        .post(format!("{}/graphql", served.url))
        .bearer_auth(&token)
        .json(&json!({
            "query": "mutation { customerUpdate(id: \"gid://c360/Customer/1\", profile: { firstName: \"Traced\" }) { id } }"
        }))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    assert!(updated.get("errors").is_none(), "{updated}");
    let got = receiver.wait_for(1, Duration::from_secs(15)).await;
    let event_id = got[0].id();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let delivered = collector.0.lock().expect("spans").iter().any(|s| {
            s.name == "webhook delivery"
                && s.attributes.iter().any(|a| {
                    a.key == "webhook.event" && format!("{:?}", a.value).contains(&event_id)
                })
        });
        if delivered {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no webhook delivery span for {event_id}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The access log names the same trace.
    let line = served.access("traced-1").await;
    assert_eq!(line["trace_id"], trace);
}
