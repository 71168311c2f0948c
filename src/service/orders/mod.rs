//! Orders: idempotent ingest, status transitions, refunds, and the points,
//! tier, metrics and audit row every one of them changes, written by the
//! caller's transaction so a failure leaves nothing behind.
//!
//! - [`input`]: an order as a sender posts it, and its validation.
//! - [`ingest`]: writing a new order, or finding the one already posted.
//! - [`status`]: the state machine (which transitions are allowed),
//!   [`set_status`], [`refund`], and [`replay`], which takes a stored order to
//!   the status and refund a file gives it; the API's mutations and the
//!   import both go through it.

mod ingest;
mod input;
mod status;

use c360_entity::order;
use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use super::{Rules, loyalty, metrics};
use crate::domain::ids::{Kind, gid};
use crate::error::AppResult;

pub use ingest::{Ingested, ingest};
pub use input::{NewLine, NewOrder, validate_currency};
pub use status::{
    Step, entry_status, may_move, may_refund, refund, refunded_for, replay, set_status,
    status_name, steps,
};

/// What every order write keeps in step: metrics, tier and balances.
async fn after_write(
    db: &impl ConnectionTrait,
    rules: &Rules,
    order: &order::Model,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let ids = [order.customer_id];
    metrics::refresh_for(db, &rules.base_currency, &ids, now).await?;
    loyalty::refresh_tier(db, rules, order.customer_id, now).await?;
    loyalty::refresh_balances(db, Some(&ids), now).await
}

/// The audit target of an order.
fn target(order: &order::Model) -> String {
    gid(Kind::Order, order.id)
}
