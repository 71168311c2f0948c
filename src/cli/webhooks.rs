//! `c360 webhooks listen`: a development receiver, like `stripe listen`.
//! It accepts deliveries on any path, verifies each signature with the
//! endpoint's secret, prints one line per delivery and its JSON body, and
//! answers 200, or 401 when the signature does not verify, so the gateway
//! retries exactly as it would against a real receiver.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use clap::Subcommand;

use crate::error::{AppError, AppResult};
use crate::webhooks::signing::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, key_of, verify};

#[derive(Debug, Subcommand)]
pub enum WebhooksAction {
    /// Receive deliveries on localhost, verify their signatures and print
    /// them. Register `http://127.0.0.1:<port>/` as an endpoint (in `--dev`
    /// mode) and pass the secret its creation showed.
    Listen {
        /// Port to listen on (0 picks a free one).
        #[arg(long, default_value_t = 9000)]
        port: u16,
        /// The endpoint's `whsec_` secret; without it signatures are not checked.
        #[arg(long, env = "C360_WEBHOOK_SECRET", hide_env_values = true)]
        secret: Option<String>,
    },
}

pub async fn run(action: WebhooksAction) -> AppResult<()> {
    let WebhooksAction::Listen { port, secret } = action;
    if let Some(s) = &secret
        && key_of(s).is_none()
    {
        return Err(AppError::bad_input(
            "secret",
            "the secret must be `whsec_` followed by base64, as the endpoint's creation showed it",
        ));
    }
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("cannot listen on {addr}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| AppError::Internal(e.into()))?;
    println!("Ready: register http://{local}/ as a webhook endpoint (in --dev mode).");
    if secret.is_none() {
        println!("No --secret: signatures are not checked.");
    }
    let app = Router::new().fallback(receive).with_state(secret);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| AppError::Internal(e.into()))
}

async fn receive(
    State(secret): State<Option<String>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let id = header(HEADER_ID);
    let verdict = match &secret {
        None => Ok("signature not checked"),
        Some(secret) => verify(
            secret,
            &id,
            &header(HEADER_TIMESTAMP),
            &header(HEADER_SIGNATURE),
            &body,
            chrono::Utc::now().timestamp(),
        )
        .map(|()| "signature ok"),
    };
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let kind = json["type"].as_str().unwrap_or("?");
    let customer = json["data"]["customerId"].as_str().unwrap_or("-");
    let (status, verdict) = match verdict {
        Ok(v) => (StatusCode::OK, v.to_owned()),
        Err(e) => (StatusCode::UNAUTHORIZED, format!("BAD SIGNATURE ({e})")),
    };
    println!(
        "{}  {id}  {kind}  {customer}  {verdict}",
        chrono::Utc::now().format("%H:%M:%S")
    );
    println!(
        "{}",
        serde_json::to_string_pretty(&json)
            .unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned())
    );
    status
}
