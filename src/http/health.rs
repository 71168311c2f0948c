//! Liveness and readiness.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::HttpState;
use crate::db::redact_url;

/// The process is up.
pub async fn healthz() -> &'static str {
    "ok"
}

/// 200 while the primary answers, 503 while it does not (and 200 again once
/// it is back). The body tells the primary's state and each read replica's
/// as its last check found it: a replica down or lagging is skipped, not a
/// reason to be unready.
pub async fn readyz(State(state): State<HttpState>) -> (StatusCode, Json<Value>) {
    let app = &state.app;
    let up = match app.store.conn.ping().await {
        Ok(()) => true,
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            false
        }
    };
    let body = json!({
        "status": if up { "ready" } else { "database unreachable" },
        "primary": { "url": redact_url(&app.config.database_url), "up": up },
        "replicas": app.replicas.status(),
    });
    let status = match up {
        true => StatusCode::OK,
        false => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, Json(body))
}
