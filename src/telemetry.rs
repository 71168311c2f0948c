//! Traces over OTLP/HTTP (`--otlp-endpoint`): a span per request (its
//! parent the caller's W3C `traceparent`), per loader batch, per SQL
//! statement and per webhook delivery, exported in batches as protobuf to
//! `<endpoint>/v1/traces`, as OpenTelemetry collectors, Jaeger and Tempo
//! accept.
//!
//! Spans are made only while export is on ([`enabled`]): without an
//! endpoint the read path pays nothing for them. SQL statements are timed by
//! the pool (`db::Store`), which reports each after it ran, so their spans
//! are built with the start and end the pool measured rather than opened
//! around the call.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{Span as _, SpanKind, Tracer as _, TracerProvider as _};
use opentelemetry::{KeyValue, global};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Set once export is configured.
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Longest SQL text kept on a span.
const SQL_TEXT: usize = 2048;

/// Whether spans are exported.
pub fn enabled() -> bool {
    PROVIDER.get().is_some()
}

/// Flushes the exported spans when dropped (at the end of the process).
#[derive(Debug)]
pub struct Flush;

impl Drop for Flush {
    fn drop(&mut self) {
        if let Some(provider) = PROVIDER.get() {
            let provider = provider.clone();
            // The exporter's blocking HTTP client must not run on the
            // async runtime's thread.
            let _ = std::thread::spawn(move || provider.shutdown()).join();
        }
    }
}

/// The tracing layer that exports spans to `endpoint`, and the guard that
/// flushes them at exit.
pub fn layer<S>(
    endpoint: &str,
    service: &str,
) -> Result<
    (
        tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>,
        Flush,
    ),
    String,
>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    let service = service.to_owned();
    // Built off the runtime: the exporter's client is a blocking one, used
    // from the batch processor's own thread.
    let provider = std::thread::spawn(move || {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(url)
            .with_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("C360_OTLP_ENDPOINT cannot be used: {e}"))?;
        Ok::<_, String>(
            SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(Resource::builder().with_service_name(service).build())
                .build(),
        )
    })
    .join()
    .map_err(|_| "the trace exporter could not be built".to_owned())??;
    let tracer = provider.tracer("c360");
    global::set_tracer_provider(provider.clone());
    let _ = PROVIDER.set(provider);
    Ok((tracing_opentelemetry::layer().with_tracer(tracer), Flush))
}

/// The span of one HTTP request, a child of the caller's `traceparent`
/// when it sends a valid one; `Span::none()` while export is off.
pub fn request_span(method: &str, path: &str, headers: &axum::http::HeaderMap) -> tracing::Span {
    if !enabled() {
        return tracing::Span::none();
    }
    let span = tracing::info_span!(
        "request",
        otel.name = format!("{method} {path}"),
        otel.kind = "server",
        http.request.method = method,
        url.path = path,
    );
    let parent = TraceContextPropagator::new().extract(&Headers(headers));
    let _ = span.set_parent(parent);
    span
}

/// The trace id of `span`, when export is on.
pub fn trace_id(span: &tracing::Span) -> Option<String> {
    use opentelemetry::trace::TraceContextExt;
    if !enabled() {
        return None;
    }
    let id = span.context().span().span_context().trace_id();
    (id != opentelemetry::trace::TraceId::INVALID).then(|| id.to_string())
}

/// A span around one batch of a DataLoader, under the current one.
pub fn loader_span() -> tracing::Span {
    if enabled() {
        tracing::info_span!("loader batch")
    } else {
        tracing::Span::none()
    }
}

/// A span around one webhook delivery attempt.
pub fn delivery_span(endpoint_id: i64, event_id: &str) -> tracing::Span {
    if enabled() {
        tracing::info_span!(
            "webhook delivery",
            otel.kind = "client",
            webhook.endpoint = endpoint_id,
            webhook.event = event_id
        )
    } else {
        tracing::Span::none()
    }
}

/// Records one statement the pool ran, `elapsed` long and just finished,
/// as a span under the current one.
pub fn statement(sql: &str, elapsed: Duration, failed: bool) {
    if !enabled() {
        return;
    }
    let parent = tracing::Span::current().context();
    let end = SystemTime::now();
    let start = end.checked_sub(elapsed).unwrap_or(end);
    let text: String = sql.chars().take(SQL_TEXT).collect();
    let tracer = global::tracer("c360");
    let mut span = tracer
        .span_builder("sql")
        .with_kind(SpanKind::Client)
        .with_start_time(start)
        .with_attributes([
            KeyValue::new("db.query.text", text),
            KeyValue::new("error", failed),
        ])
        .start_with_context(&tracer, &parent);
    span.end_with_timestamp(end);
}

struct Headers<'a>(&'a axum::http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}
