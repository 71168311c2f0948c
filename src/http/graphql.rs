//! `/graphql` by the GraphQL-over-HTTP spec: POST and GET, `Accept`
//! negotiation, 405 for a mutation over GET, 400 for a malformed request,
//! 4xx for a document that fails before execution under
//! `application/graphql-response+json`, 413 past the body limit, 401 for a bad token.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use async_graphql::parser::types::OperationType;
use axum::body::{Body, Bytes};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value as Json, json};

use super::HttpState;
use super::access_log::Entry;
use super::negotiate::{MediaType, negotiate};
use super::rate_limit::Verdict;
use crate::auth::{Identity, audience, may_introspect};
use crate::config::RedisDown;
use crate::db::count_statements;
use crate::error::AppError;
use crate::graphql::trusted::{Naming, TrustedDocuments};
use crate::graphql::{Outcome, classify, execute_naming};

/// A request refused before any GraphQL ran: a status and one coded error.
#[derive(Debug)]
pub(super) struct Rejection {
    status: StatusCode,
    error: AppError,
    /// An extra header the status calls for (`Allow`, `WWW-Authenticate`).
    header: Option<(header::HeaderName, &'static str)>,
}

impl Rejection {
    pub(super) fn new(status: StatusCode, error: AppError) -> Self {
        Rejection {
            status,
            error,
            header: None,
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Rejection::new(StatusCode::BAD_REQUEST, AppError::invalid(message))
    }

    fn with_header(mut self, name: header::HeaderName, value: &'static str) -> Self {
        self.header = Some((name, value));
        self
    }

    /// The refusal as a GraphQL error object.
    pub(super) fn error_json(&self) -> Json {
        serde_json::to_value(self.error.to_server_error()).unwrap_or(Json::Null)
    }

    pub(super) fn message(&self) -> String {
        self.error.to_string()
    }

    pub(super) fn into_response(self, media: MediaType) -> Response {
        let mut response = self.error.respond(self.status, media.as_str());
        if let Some((name, value)) = self.header {
            response
                .headers_mut()
                .insert(name, HeaderValue::from_static(value));
        }
        response
    }
}

/// The negotiated response type, or the 406 to send (written as `application/json`).
fn accepted(headers: &HeaderMap) -> Result<MediaType, Rejection> {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    negotiate(accept).ok_or_else(|| {
        Rejection::new(StatusCode::NOT_ACCEPTABLE, AppError::invalid("none of the Accept types is served; ask for application/graphql-response+json or application/json"))
    })
}

/// The caller from the `Authorization` header; a present but invalid token is refused with 401.
pub(super) async fn identity(
    state: &HttpState,
    headers: &HeaderMap,
) -> Result<Identity, Rejection> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(Identity::Anonymous);
    };
    let unauthenticated = |message: &str| {
        Rejection::new(
            StatusCode::UNAUTHORIZED,
            AppError::Unauthenticated(message.to_owned()),
        )
        .with_header(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .ok_or_else(|| unauthenticated("the Authorization header must be `Bearer <token>`"))?;
    let verifier = state
        .app
        .verifier
        .as_ref()
        .ok_or_else(|| unauthenticated("this server has no token secret or JWKS configured"))?;
    verifier
        .verify(token)
        .await
        .map(Identity::Authenticated)
        .map_err(|e| unauthenticated(&e.to_string()))
}

/// The GraphQL request in a JSON body or query string. The document comes
/// as `query` text, or named by `documentId` or
/// `extensions.persistedQuery` (see `graphql::trusted`).
pub(super) struct Params {
    query: Option<String>,
    document_id: Option<String>,
    operation_name: Option<String>,
    variables: Json,
    extensions: Json,
}

impl Params {
    pub(super) fn from_json(value: Json) -> Result<Params, &'static str> {
        let Json::Object(mut map) = value else {
            return Err("the body must be a JSON object with a `query` string");
        };
        let query = match map.remove("query") {
            Some(Json::String(q)) => Some(q),
            None | Some(Json::Null) => None,
            Some(_) => return Err("`query` must be a string"),
        };
        let document_id = match map.remove("documentId") {
            Some(Json::String(id)) => Some(id),
            None | Some(Json::Null) => None,
            Some(_) => return Err("`documentId` must be a string"),
        };
        let operation_name = match map.remove("operationName") {
            None | Some(Json::Null) => None,
            Some(Json::String(n)) => Some(n),
            Some(_) => return Err("`operationName` must be a string or null"),
        };
        let variables = match map.remove("variables") {
            None | Some(Json::Null) => Json::Object(Default::default()),
            Some(v @ Json::Object(_)) => v,
            Some(_) => return Err("`variables` must be an object or null"),
        };
        let extensions = match map.remove("extensions") {
            None | Some(Json::Null) => Json::Object(Default::default()),
            Some(v @ Json::Object(_)) => v,
            Some(_) => return Err("`extensions` must be an object or null"),
        };
        let named = document_id.is_some() || extensions.get("persistedQuery").is_some();
        if query.is_none() && !named {
            return Err("the request has no `query`");
        }
        Ok(Params {
            query,
            document_id,
            operation_name,
            variables,
            extensions,
        })
    }

    fn from_query_string(mut q: HashMap<String, String>) -> Result<Params, &'static str> {
        let parse = |raw: Option<String>, what: &'static str| -> Result<Json, &'static str> {
            match raw {
                None => Ok(Json::Null),
                Some(s) => serde_json::from_str(&s).map_err(|_| what),
            }
        };
        let mut map = serde_json::Map::new();
        if let Some(query) = q.remove("query") {
            map.insert("query".into(), Json::String(query));
        }
        if let Some(id) = q.remove("documentId") {
            map.insert("documentId".into(), Json::String(id));
        }
        if let Some(name) = q.remove("operationName") {
            map.insert("operationName".into(), Json::String(name));
        }
        map.insert(
            "variables".into(),
            parse(q.remove("variables"), "`variables` must be JSON")?,
        );
        map.insert(
            "extensions".into(),
            parse(q.remove("extensions"), "`extensions` must be JSON")?,
        );
        Params::from_json(Json::Object(map))
    }

    /// The request to execute, and whether its document is trusted; `via_get`
    /// refuses anything but a query; a `restricted` caller may run trusted
    /// documents only.
    pub(super) fn into_request(
        self,
        trusted: &TrustedDocuments,
        via_get: bool,
        restricted: bool,
    ) -> Result<(async_graphql::Request, bool), Rejection> {
        let naming = Naming::from_extensions(self.document_id, &self.extensions)
            .map_err(|e| Rejection::new(StatusCode::BAD_REQUEST, e))?;
        let resolved = trusted
            .resolve(self.query, naming, restricted)
            .map_err(|e| Rejection::new(e.status(), e))?;
        if restricted && !resolved.trusted {
            let refused = AppError::PersistedQueryNotInList(
                "this caller may run only trusted documents; send the `documentId` of a document in the server's manifest".into(),
            );
            return Err(Rejection::new(refused.status(), refused));
        }
        if via_get {
            refuse_writes_over_get(&resolved.query, self.operation_name.as_deref())?;
        }
        let variables = async_graphql::Variables::from_json(self.variables);
        let extensions: HashMap<String, async_graphql::Value> =
            serde_json::from_value(self.extensions)
                .map_err(|_| Rejection::bad_request("`extensions` must be an object"))?;
        let mut request = async_graphql::Request::new(&*resolved.query).variables(variables);
        request.extensions = async_graphql::Extensions(extensions);
        if let Some(name) = self.operation_name {
            request = request.operation_name(name);
        }
        Ok((request, resolved.trusted))
    }
}

/// Where the handler writes what the access log says of the request.
fn access_entry(extensions: &Extensions) -> Entry {
    extensions.get::<Entry>().cloned().unwrap_or_default()
}

/// The client's address, from the connection (the server is run with
/// `into_make_service_with_connect_info`); loopback when served without it.
fn client_ip(extensions: &Extensions) -> IpAddr {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([127, 0, 0, 1]), |info| info.0.ip())
}

pub async fn post_graphql(
    State(state): State<HttpState>,
    headers: HeaderMap,
    extensions: Extensions,
    body: Body,
) -> Response {
    let ip = client_ip(&extensions);
    let entry = access_entry(&extensions);
    let media = match accepted(&headers) {
        Ok(m) => m,
        Err(not_acceptable) => return not_acceptable.into_response(MediaType::Json),
    };
    match read_post(&state, &headers, body).await {
        Ok(Posted::One(params)) => {
            run(&state, &headers, ip, &entry, media, Method::Post, params).await
        }
        Ok(Posted::Batch(batch)) => run_batch(&state, &headers, ip, &entry, media, batch).await,
        Err(rejection) => rejection.into_response(media),
    }
}

/// A POST body: one request, or a JSON array of them run in order.
enum Posted {
    One(Params),
    Batch(Vec<Params>),
}

async fn read_post(
    state: &HttpState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Posted, Rejection> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(Rejection::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::invalid("send the request as Content-Type: application/json"),
        ));
    }
    let limit = state.app.config.body_limit_bytes;
    let bytes: Bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        Rejection::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            AppError::invalid(format!("the request body is larger than {limit} bytes")),
        )
    })?;
    let json: Json = serde_json::from_slice(&bytes)
        .map_err(|e| Rejection::bad_request(format!("the body is not valid JSON: {e}")))?;
    let Json::Array(items) = json else {
        return Params::from_json(json)
            .map(Posted::One)
            .map_err(Rejection::bad_request);
    };
    let max = state.app.config.max_batch;
    if items.is_empty() {
        return Err(Rejection::bad_request(
            "the batch is empty; send at least one request",
        ));
    }
    if items.len() > max {
        return Err(Rejection::new(
            StatusCode::BAD_REQUEST,
            AppError::QueryTooComplex(format!(
                "the batch has {} operations; the limit is {max}; send the rest in another request",
                items.len()
            )),
        ));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            Params::from_json(item)
                .map_err(|why| Rejection::bad_request(format!("batch entry {i}: {why}")))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Posted::Batch)
}

/// GET: a WebSocket upgrade (subscriptions, `http::websocket`), GraphiQL
/// for a browser, or a query in the query string.
pub async fn get_graphql(
    State(state): State<HttpState>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    headers: HeaderMap,
    extensions: Extensions,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let ip = client_ip(&extensions);
    if let Ok(ws) = upgrade {
        return super::websocket::upgrade(state, ws, ip);
    }
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if wants_html && !query.contains_key("query") {
        return super::graphiql::page(&state.app);
    }
    let media = match accepted(&headers) {
        Ok(m) => m,
        Err(not_acceptable) => return not_acceptable.into_response(MediaType::Json),
    };
    match Params::from_query_string(query) {
        Ok(params) => {
            let entry = access_entry(&extensions);
            run(&state, &headers, ip, &entry, media, Method::Get, params).await
        }
        Err(why) => Rejection::bad_request(why).into_response(media),
    }
}

/// GET is safe: a mutation must come by POST. A document that does not
/// parse is left to the executor, which reports where it breaks.
fn refuse_writes_over_get(query: &str, operation_name: Option<&str>) -> Result<(), Rejection> {
    let Ok(doc) = async_graphql::parser::parse_query(query) else {
        return Ok(());
    };
    let selected = doc
        .operations
        .iter()
        .find(|(name, _)| match (operation_name, name) {
            (Some(wanted), Some(name)) => wanted == name.as_str(),
            (None, _) => true,
            (Some(_), None) => false,
        });
    if selected.is_some_and(|(_, op)| op.node.ty != OperationType::Query) {
        return Err(Rejection::new(
            StatusCode::METHOD_NOT_ALLOWED,
            AppError::invalid("mutations and subscriptions must be sent with POST"),
        )
        .with_header(header::ALLOW, "POST"));
    }
    Ok(())
}

/// How the request came: GET may only read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
}

async fn run(
    state: &HttpState,
    headers: &HeaderMap,
    ip: IpAddr,
    entry: &Entry,
    media: MediaType,
    method: Method,
    params: Params,
) -> Response {
    let identity = match identity(state, headers).await {
        Ok(i) => i,
        Err(rejection) => return rejection.into_response(media),
    };
    entry.caller(&identity);
    if let Some(limited) = throttle(state, &identity, ip, 1, media).await {
        return limited;
    }
    let (outcome, body) = match run_one(state, identity, entry, method, params).await {
        Ok(done) => done,
        Err(rejection) => return rejection.into_response(media),
    };
    let status = match (media, outcome) {
        (MediaType::GraphqlResponse, Outcome::Invalid | Outcome::TooComplex) => {
            StatusCode::BAD_REQUEST
        }
        (MediaType::GraphqlResponse, Outcome::Timeout) => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::OK,
    };
    respond(status, media, body)
}

/// A batch: the requests run one after another as the same caller, and the
/// answer is the array of their results, each with its own errors.
async fn run_batch(
    state: &HttpState,
    headers: &HeaderMap,
    ip: IpAddr,
    entry: &Entry,
    media: MediaType,
    batch: Vec<Params>,
) -> Response {
    let identity = match identity(state, headers).await {
        Ok(i) => i,
        Err(rejection) => return rejection.into_response(media),
    };
    entry.caller(&identity);
    // Every operation of a batch counts against the quota.
    let cost = u32::try_from(batch.len()).unwrap_or(u32::MAX);
    if let Some(limited) = throttle(state, &identity, ip, cost, media).await {
        return limited;
    }
    let mut results = Vec::with_capacity(batch.len());
    for params in batch {
        match run_one(state, identity.clone(), entry, Method::Post, params).await {
            Ok((_, body)) => results.push(body),
            Err(rejection) => return rejection.into_response(media),
        }
    }
    respond(StatusCode::OK, media, format!("[{}]", results.join(",")))
}

/// Charges the request to its caller; past the quota, the 429 with
/// `Retry-After` and a RATE_LIMITED error saying when to come back. When
/// the shared limiter cannot reach Redis, `--redis-down` decides.
async fn throttle(
    state: &HttpState,
    identity: &Identity,
    ip: IpAddr,
    cost: u32,
    media: MediaType,
) -> Option<Response> {
    let app = &state.app;
    let error = match app.rate_limiter.check(identity, ip, cost).await {
        Verdict::Allowed => return None,
        Verdict::Limited(wait) => {
            app.metrics.rate_limited();
            // Whole seconds, rounded up: retrying at the announced time succeeds.
            let retry_after_secs = wait.as_millis().div_ceil(1000).max(1) as u64;
            AppError::RateLimited { retry_after_secs }
        }
        Verdict::Unreachable => {
            app.metrics.rate_limit_unchecked();
            match app.config.redis_down {
                RedisDown::Allow => return None,
                RedisDown::Refuse => AppError::Unavailable(
                    "the rate limiter cannot reach its store; retry in a moment".into(),
                ),
            }
        }
    };
    Some(error.respond(error.status(), media.as_str()))
}

/// The `extensions.code` of an error in a response.
fn error_code(error: &async_graphql::ServerError) -> Option<String> {
    match error.extensions.as_ref()?.get("code")? {
        async_graphql::Value::String(code) => Some(code.clone()),
        _ => None,
    }
}

/// Executes one request and records it; the body follows the spec (no `data`
/// when nothing executed).
async fn run_one(
    state: &HttpState,
    identity: Identity,
    entry: &Entry,
    method: Method,
    params: Params,
) -> Result<(Outcome, String), Rejection> {
    let config = &state.app.config;
    let restricted = config.trusted_documents_only.contains(&audience(&identity));
    let (mut request, trusted) =
        params.into_request(&state.app.trusted, method == Method::Get, restricted)?;
    let schema = if may_introspect(&identity, &config.introspection_audiences()) {
        &state.schema
    } else {
        request = request.disable_introspection();
        &state.quiet_schema
    };
    let operation_name = request.operation_name.clone();
    let started = Instant::now();
    // Boxed where it is made: the execution's future is kilobytes, and
    // held inline it set the size of every future above it, which the
    // router and its layers moved several times per request.
    let ((mut response, named), statements) = count_statements(Box::pin(execute_naming(
        schema,
        trusted.then_some(&state.trusted_schema),
        &state.app,
        identity,
        request,
    )))
    .await;
    let outcome = classify(&mut response);
    state
        .app
        .metrics
        .observe(outcome, started.elapsed(), statements);
    // A document of one named operation sent without `operationName` is
    // logged by the name of the operation that ran.
    entry.operation(
        operation_name.as_deref().or(named.as_deref()),
        outcome,
        statements,
        response.errors.iter().filter_map(error_code),
    );
    let body = if matches!(
        outcome,
        Outcome::Invalid | Outcome::TooComplex | Outcome::Timeout
    ) {
        // Nothing executed: the spec's response has no `data` entry.
        serde_json::to_string(&json!({ "errors": response.errors }))
    } else {
        // Straight from the executor's values into the body, with no
        // intermediate JSON tree.
        crate::graphql::response_json(&response)
    };
    body.map_err(|e| {
        Rejection::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            AppError::Internal(anyhow::anyhow!("response serialisation failed: {e}")),
        )
    })
    .map(|body| (outcome, body))
}

fn respond(status: StatusCode, media: MediaType, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(media.as_str()),
    );
    r
}
