//! Liveness and readiness.

use axum::extract::State;
use axum::http::StatusCode;

use super::HttpState;

/// The process is up.
pub async fn healthz() -> &'static str {
    "ok"
}

/// The store answers; 503 while it does not, 200 again once it is back.
pub async fn readyz(State(state): State<HttpState>) -> (StatusCode, &'static str) {
    match state.app.store.conn.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
        }
    }
}
