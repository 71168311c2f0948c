//! The webhook part of `/metrics`: delivery outcomes counted by the sender
//! since start, and gauges of the shared backlog that the dispatcher reads
//! from the store every [`GAUGE_PERIOD`] (so every `serve` instance reports
//! it alike). A scrape reads no table: `/metrics` must answer while the
//! store is slow or down, and must not add to the statements it reports.

use std::fmt::Write;

use c360_entity::{event, webhook_delivery, webhook_endpoint};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect};

use super::Status;
use crate::app::App;
use crate::error::AppResult;

/// How often the dispatcher reads the gauges from the store.
pub const GAUGE_PERIOD: std::time::Duration = std::time::Duration::from_secs(10);

/// What the store says about webhooks, as last read.
#[derive(Debug, Default, Clone, Copy)]
pub struct Gauges {
    /// Events after the slowest enabled endpoint's cursor.
    outbox_depth: u64,
    /// Seconds since the oldest PENDING delivery was created.
    oldest_pending_secs: i64,
    disabled_endpoints: u64,
}

/// Reads the gauges from the store (three or four statements).
pub async fn read_gauges(app: &App) -> AppResult<Gauges> {
    let db = &app.store.conn;
    let slowest: Option<i64> = webhook_endpoint::Entity::find()
        .select_only()
        .column_as(webhook_endpoint::Column::Position.min(), "min")
        .filter(webhook_endpoint::Column::DisabledAt.is_null())
        .into_tuple::<Option<i64>>()
        .one(db)
        .await?
        .flatten();
    let outbox_depth = match slowest {
        Some(cursor) => {
            event::Entity::find()
                .filter(event::Column::Position.gt(cursor))
                .count(db)
                .await?
        }
        None => 0,
    };
    let oldest: Option<DateTime<Utc>> = webhook_delivery::Entity::find()
        .select_only()
        .column_as(webhook_delivery::Column::CreatedAt.min(), "min")
        .filter(webhook_delivery::Column::Status.eq(Status::Pending.as_str()))
        .into_tuple::<Option<DateTime<Utc>>>()
        .one(db)
        .await?
        .flatten();
    let disabled_endpoints = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::DisabledAt.is_not_null())
        .count(db)
        .await?;
    Ok(Gauges {
        outbox_depth,
        oldest_pending_secs: oldest.map_or(0, |t| (app.clock.now() - t).num_seconds().max(0)),
        disabled_endpoints,
    })
}

/// Appends the webhook metrics to `out`; the gauges once the dispatcher
/// has read them.
pub fn render(app: &App, out: &mut String) {
    let (delivered, retried, failed, disabled) = app.metrics.webhooks.totals();
    let _ = writeln!(
        out,
        "# HELP c360_webhook_deliveries_total Webhook deliveries finished, by outcome.\n# TYPE c360_webhook_deliveries_total counter\n\
         c360_webhook_deliveries_total{{outcome=\"delivered\"}} {delivered}\nc360_webhook_deliveries_total{{outcome=\"failed\"}} {failed}\n\
         # HELP c360_webhook_retries_total Failed webhook attempts scheduled for a retry.\n# TYPE c360_webhook_retries_total counter\nc360_webhook_retries_total {retried}\n\
         # HELP c360_webhook_endpoints_auto_disabled_total Endpoints the sender disabled (410 Gone, failing too long).\n# TYPE c360_webhook_endpoints_auto_disabled_total counter\nc360_webhook_endpoints_auto_disabled_total {disabled}"
    );
    if let Some(g) = app.metrics.webhooks.gauges() {
        let _ = writeln!(
            out,
            "# HELP c360_webhook_outbox_depth Outbox events after the slowest enabled endpoint's cursor.\n# TYPE c360_webhook_outbox_depth gauge\nc360_webhook_outbox_depth {}\n\
             # HELP c360_webhook_oldest_pending_seconds Age of the oldest pending webhook delivery.\n# TYPE c360_webhook_oldest_pending_seconds gauge\nc360_webhook_oldest_pending_seconds {}\n\
             # HELP c360_webhook_endpoints_disabled Webhook endpoints disabled now.\n# TYPE c360_webhook_endpoints_disabled gauge\nc360_webhook_endpoints_disabled {}",
            g.outbox_depth, g.oldest_pending_secs, g.disabled_endpoints
        );
    }
}
