//! The event stream: every outbox event published to NATS JetStream
//! (`--events-nats-url`), on `<prefix>.<type>` (`c360.events.order.placed`),
//! for consumers that want the whole feed rather than webhooks: a data
//! warehouse, a CDP, other services, and c360's own subscriptions.
//!
//! The publisher follows the outbox in `position` order from its own cursor
//! (`event_consumers`, named `nats:<stream>`), as each webhook endpoint
//! follows it from its own. A round publishes a batch, waits for JetStream
//! to acknowledge each message, and only then moves the cursor past the
//! acknowledged prefix. So a crash between the publish and the cursor move
//! publishes those events again on restart, and each message carries its
//! event id as `Nats-Msg-Id`: JetStream drops a message whose id it has seen
//! within the stream's duplicate window (two minutes), so the stream holds
//! each event once. Two instances publishing the same batch at once are
//! deduplicated the same way, and the cursor only moves forward.
//!
//! The stream is created when missing (subjects `<prefix>.>`, limits
//! retention, `--events-nats-max-age`, file storage); an existing one is
//! used as it is configured. While NATS is unreachable events wait in the
//! outbox; the client reconnects by itself and the next round catches up.

mod publisher;

pub use publisher::{Published, Publisher};

use tokio::task::JoinHandle;

use crate::app::AppState;

/// The publishing job of a serving app, when a NATS URL is configured.
pub fn job(app: &AppState) -> Option<JoinHandle<()>> {
    let url = app.config.events_nats_url.clone()?;
    let period = app.config.events_nats_poll_interval;
    if period.is_zero() {
        return None;
    }
    let app = app.clone();
    Some(tokio::spawn(async move {
        let publisher = match Publisher::connect(&url, &app.config).await {
            Ok(p) => p,
            Err(error) => {
                tracing::error!(%error, "no events will be published to NATS");
                return;
            }
        };
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            ticks.tick().await;
            match publisher.drain(&app).await {
                Ok(_) if failing => {
                    failing = false;
                    tracing::info!("the event stream is published again");
                }
                Ok(_) => {}
                Err(error) if !failing => {
                    failing = true;
                    tracing::warn!(%error, "events not published to NATS; they wait in the outbox and go out once it answers");
                }
                Err(_) => {}
            }
        }
    }))
}
