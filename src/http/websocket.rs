//! GraphQL over WebSocket by the `graphql-transport-ws` protocol (the
//! `graphql-ws` library's), on the same `/graphql` URL as HTTP.
//!
//! The connection is authenticated once: the token goes in the
//! `connection_init` payload (`{"Authorization": "Bearer <jwt>"}`, or
//! `{"token": "<jwt>"}`), since browsers cannot set headers on a WebSocket.
//! Each `subscribe` then runs as that caller with the same limits, rate
//! limit, access rules and PII audit as an HTTP request.
//!
//! Misbehaving clients are closed with the protocol's codes: 4400 for a
//! message that is not one of the protocol's, 4401 for `subscribe` before
//! the connection is acknowledged, 4403 for a token that does not verify,
//! 4406 without the subprotocol, 4408 when `connection_init` does not come
//! within `--websocket-init-timeout`, 4409 for an id already running, 4429
//! for a second `connection_init` or a subject over
//! `--max-connections-per-subject` connections on this instance. A client
//! that reads too slowly is closed with 1008 (policy violation): its
//! subscriptions fell a whole feed buffer behind (`live`), and the
//! connection's outgoing queue is bounded, so memory never grows with it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value as Json, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::HttpState;
use super::graphql::Params;
use super::rate_limit::Verdict;
use crate::auth::{Identity, audience, may_introspect};
use crate::graphql::subscription::SLOW_CONSUMER;
use crate::graphql::{Outcome, classify, subscribe};

pub const PROTOCOL: &str = "graphql-transport-ws";

/// Messages waiting for a slow socket, per connection.
const OUTGOING: usize = 64;

/// Open connections per token subject on this instance.
#[derive(Debug, Default)]
pub struct Sockets(Arc<Mutex<HashMap<String, usize>>>);

/// One counted connection; uncounted when dropped.
struct Held {
    sockets: Arc<Mutex<HashMap<String, usize>>>,
    subject: String,
}

impl Sockets {
    fn hold(&self, subject: &str, max: usize) -> Option<Held> {
        let mut open = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(subject.to_owned()).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Held {
            sockets: self.0.clone(),
            subject: subject.to_owned(),
        })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut open = self.sockets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.subject) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.subject);
            }
        }
    }
}

/// The upgrade, with the subprotocol when the client offered it.
pub fn upgrade(state: HttpState, ws: WebSocketUpgrade, ip: IpAddr) -> Response {
    let offered = ws
        .requested_protocols()
        .any(|p| p.as_bytes().eq_ignore_ascii_case(PROTOCOL.as_bytes()));
    ws.protocols([PROTOCOL])
        .on_upgrade(move |socket| async move {
            if offered {
                Connection::new(state, ip).run(socket).await;
            } else {
                close(
                    socket,
                    4406,
                    "Subprotocol not acceptable: use graphql-transport-ws",
                )
                .await;
            }
        })
}

async fn close(mut socket: WebSocket, code: u16, reason: &str) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
}

/// Why a connection ends.
struct Closing(u16, String);

struct Connection {
    state: HttpState,
    ip: IpAddr,
    /// The caller, once `connection_init` is acknowledged.
    caller: Option<Identity>,
    _held: Option<Held>,
    running: HashMap<String, JoinHandle<()>>,
}

impl Connection {
    fn new(state: HttpState, ip: IpAddr) -> Connection {
        Connection {
            state,
            ip,
            caller: None,
            _held: None,
            running: HashMap::new(),
        }
    }

    async fn run(mut self, socket: WebSocket) {
        let (mut sink, mut incoming) = socket.split();
        let (out, mut queue) = mpsc::channel::<Message>(OUTGOING);
        // Subscriptions report their end (`None`: completed) or a slow client.
        let (ended, mut ends) = mpsc::unbounded_channel::<(String, Option<Closing>)>();
        let writer = tokio::spawn(async move {
            while let Some(message) = queue.recv().await {
                let last = matches!(message, Message::Close(_));
                if sink.send(message).await.is_err() || last {
                    break;
                }
            }
        });
        let init_deadline = tokio::time::sleep(self.state.app.config.websocket_init_timeout);
        tokio::pin!(init_deadline);
        let closing = loop {
            tokio::select! {
                () = &mut init_deadline, if self.caller.is_none() => {
                    break Some(Closing(4408, "Connection initialisation timeout".into()));
                }
                message = incoming.next() => {
                    let Some(Ok(message)) = message else { break None };
                    match self.receive(message, &out, &ended).await {
                        Ok(true) => {}
                        Ok(false) => break None,
                        Err(closing) => break Some(closing),
                    }
                }
                Some((id, why)) = ends.recv() => {
                    self.running.remove(&id);
                    if let Some(closing) = why {
                        break Some(closing);
                    }
                }
            }
        };
        for (_, task) in self.running.drain() {
            task.abort();
        }
        if let Some(Closing(code, reason)) = closing {
            // A client too slow to read its messages may not read this
            // either: the socket is dropped when the queue is full.
            let _ = out.try_send(Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            })));
        }
        drop(out);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), writer).await;
    }

    /// Handles one client message; `Ok(false)` when the client closed.
    async fn receive(
        &mut self,
        message: Message,
        out: &mpsc::Sender<Message>,
        ended: &mpsc::UnboundedSender<(String, Option<Closing>)>,
    ) -> Result<bool, Closing> {
        let text = match message {
            Message::Text(text) => text,
            Message::Close(_) => return Ok(false),
            Message::Ping(_) | Message::Pong(_) => return Ok(true),
            Message::Binary(_) => {
                return Err(Closing(
                    4400,
                    "binary messages are not part of graphql-transport-ws".into(),
                ));
            }
        };
        let invalid = |why: &str| Closing(4400, format!("Invalid message received: {why}"));
        let message: Json = serde_json::from_str(text.as_str()).map_err(|_| invalid("not JSON"))?;
        let kind = message["type"]
            .as_str()
            .ok_or_else(|| invalid("no `type`"))?;
        match kind {
            "connection_init" => {
                if self.caller.is_some() {
                    return Err(Closing(4429, "Too many initialisation requests".into()));
                }
                let caller = self.authenticate(&message["payload"]).await?;
                if let Identity::Authenticated(p) = &caller {
                    let max = self.state.app.config.max_connections_per_subject;
                    self._held = Some(self.state.app.sockets.hold(&p.subject, max).ok_or_else(
                        || {
                            Closing(
                                4429,
                                format!("this token subject already holds {max} connections"),
                            )
                        },
                    )?);
                }
                self.caller = Some(caller);
                send(out, json!({ "type": "connection_ack" })).await
            }
            "ping" => send(out, json!({ "type": "pong" })).await,
            "pong" => Ok(true),
            "subscribe" => {
                let id = message["id"]
                    .as_str()
                    .filter(|id| !id.is_empty())
                    .ok_or_else(|| invalid("`subscribe` needs an `id`"))?;
                let Some(caller) = self.caller.clone() else {
                    return Err(Closing(4401, "Unauthorized".into()));
                };
                if self.running.contains_key(id) {
                    return Err(Closing(4409, format!("Subscriber for {id} already exists")));
                }
                let params = Params::from_json(message["payload"].clone()).map_err(invalid)?;
                let refused = match self.refusal() {
                    Some(r) => Err(r),
                    None => match self.charge(&caller).await {
                        Some(r) => Err(r),
                        None => self.request(&caller, params),
                    },
                };
                let request = match refused {
                    Ok(request) => request,
                    Err(error) => {
                        return send(
                            out,
                            json!({ "type": "error", "id": id, "payload": [error] }),
                        )
                        .await;
                    }
                };
                let task = self.start(id.to_owned(), caller, request, out.clone(), ended.clone());
                self.running.insert(id.to_owned(), task);
                Ok(true)
            }
            "complete" => {
                if let Some(task) = message["id"]
                    .as_str()
                    .and_then(|id| self.running.remove(id))
                {
                    task.abort();
                }
                Ok(true)
            }
            other => Err(invalid(&format!("unknown type `{other}`"))),
        }
    }

    /// The caller of a `connection_init` payload; 4403 for a bad token.
    async fn authenticate(&self, payload: &Json) -> Result<Identity, Closing> {
        let header = ["Authorization", "authorization"]
            .iter()
            .find_map(|k| payload[*k].as_str())
            .map(str::to_owned)
            .or_else(|| payload["token"].as_str().map(|t| format!("Bearer {t}")));
        let Some(header) = header else {
            return Ok(Identity::Anonymous);
        };
        let mut headers = axum::http::HeaderMap::new();
        let value = axum::http::HeaderValue::from_str(&header).map_err(|_| {
            Closing(
                4403,
                "Forbidden: the token is not a valid header value".into(),
            )
        })?;
        headers.insert(axum::http::header::AUTHORIZATION, value);
        super::graphql::identity(&self.state, &headers)
            .await
            .map_err(|rejection| Closing(4403, format!("Forbidden: {}", rejection.message())))
    }

    /// The operation of a `subscribe` payload, with the trusted-document
    /// rules of HTTP: a caller limited to the manifest runs nothing else.
    fn request(&self, caller: &Identity, params: Params) -> Result<async_graphql::Request, Json> {
        let config = &self.state.app.config;
        let restricted = config.trusted_documents_only.contains(&audience(caller));
        params
            .into_request(&self.state.app.trusted, false, restricted)
            .map(|(request, _)| request)
            .map_err(|rejection| rejection.error_json())
    }

    /// A reason to refuse another operation on this connection.
    fn refusal(&self) -> Option<Json> {
        let max = self.state.app.config.max_subscriptions_per_connection;
        (self.running.len() >= max).then(|| {
            error_json(
                "QUERY_TOO_COMPLEX",
                &format!("this connection already runs {max} subscriptions, the most it may; complete one first"),
            )
        })
    }

    /// Each operation counts against the caller's rate limit, as over HTTP.
    async fn charge(&self, caller: &Identity) -> Option<Json> {
        let app = &self.state.app;
        match app.rate_limiter.check(caller, self.ip, 1).await {
            Verdict::Allowed => None,
            Verdict::Limited(wait) => {
                app.metrics.rate_limited();
                let secs = wait.as_millis().div_ceil(1000).max(1) as u64;
                let error = crate::error::AppError::RateLimited {
                    retry_after_secs: secs,
                };
                Some(serde_json::to_value(error.to_server_error()).unwrap_or(Json::Null))
            }
            Verdict::Unreachable => {
                app.metrics.rate_limit_unchecked();
                match app.config.redis_down {
                    crate::config::RedisDown::Allow => None,
                    crate::config::RedisDown::Refuse => Some(error_json(
                        "UNAVAILABLE",
                        "the rate limiter cannot reach its store; retry in a moment",
                    )),
                }
            }
        }
    }

    fn start(
        &self,
        id: String,
        caller: Identity,
        request: async_graphql::Request,
        out: mpsc::Sender<Message>,
        ended: mpsc::UnboundedSender<(String, Option<Closing>)>,
    ) -> JoinHandle<()> {
        let state = self.state.clone();
        tokio::spawn(async move {
            let schema = if may_introspect(&caller, &state.app.config.introspection_audiences()) {
                &state.schema
            } else {
                &state.quiet_schema
            };
            let mut responses = subscribe(schema, &state.app, caller, request);
            let mut first = true;
            let mut why = None;
            while let Some(mut response) = responses.next().await {
                let outcome = classify(&mut response);
                let slow =
                    response.errors.iter().any(|e| {
                        e.extensions.as_ref().and_then(|x| x.get("code")).is_some_and(|c| {
                        matches!(c, async_graphql::Value::String(s) if s == SLOW_CONSUMER)
                    })
                    });
                // A document refused before it ran is an `error` message,
                // which also ends the operation (as graphql-ws does; an
                // error raised by a resolver is a `next`, then `complete`).
                if first && matches!(outcome, Outcome::Invalid | Outcome::TooComplex) {
                    let errors = serde_json::to_value(&response.errors).unwrap_or(Json::Null);
                    let _ = send(
                        &out,
                        json!({ "type": "error", "id": id, "payload": errors }),
                    )
                    .await;
                    let _ = ended.send((id, None));
                    return;
                }
                first = false;
                let payload = serde_json::to_value(&response).unwrap_or(Json::Null);
                if slow {
                    // The queue is full or nearly: do not wait on it.
                    let _ = out.try_send(text(
                        json!({ "type": "next", "id": id, "payload": payload }),
                    ));
                    why = Some(Closing(
                        1008,
                        "the client reads too slowly; reconnect and subscribe again".into(),
                    ));
                    break;
                }
                if send(
                    &out,
                    json!({ "type": "next", "id": id, "payload": payload }),
                )
                .await
                .is_err()
                {
                    return;
                }
            }
            if why.is_none() {
                let _ = send(&out, json!({ "type": "complete", "id": id })).await;
            }
            let _ = ended.send((id, why));
        })
    }
}

fn text(message: Json) -> Message {
    Message::Text(message.to_string().into())
}

/// Queues `message`; `Err` when the writer is gone (the socket closed).
async fn send(out: &mpsc::Sender<Message>, message: Json) -> Result<bool, Closing> {
    out.send(text(message))
        .await
        .map(|()| true)
        .map_err(|_| Closing(1000, String::new()))
}

fn error_json(code: &str, message: &str) -> Json {
    json!({ "message": message, "extensions": { "code": code } })
}
