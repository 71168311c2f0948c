//! Orders: idempotent ingest, status transitions, refunds, and the points,
//! tier, metrics, audit row and events every one of them changes, written
//! by the caller's transaction so a failure leaves nothing behind.
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

use super::loyalty::TierReason;
use super::{Rules, loyalty, metrics};
use crate::domain::ids::{Kind, gid};
use crate::error::AppResult;
use crate::events::NewEvent;

pub use ingest::{
    Ingested, default_order_number, ingest, ingest_audit, line_row, order_row, same_content,
};
pub use input::{NewLine, NewOrder, validate_currency};
pub use status::{
    RefundTo, Step, entry_status, may_move, may_refund, refund, refund_audit, refund_points,
    refund_to, refunded_for, replay, set_status, status_audit, status_name, steps,
};

/// What every order write keeps in step: metrics, tier and balances. The
/// write was done `because`; a tier it changed is the event returned.
async fn after_write(
    db: &impl ConnectionTrait,
    rules: &Rules,
    order: &order::Model,
    now: DateTime<Utc>,
    because: TierReason,
) -> AppResult<Option<NewEvent>> {
    let ids = [order.customer_id];
    metrics::refresh_for(db, &rules.base_currency, &ids, now).await?;
    let tier = loyalty::refresh_tier(db, rules, order.customer_id, now, because).await?;
    loyalty::refresh_balances(db, Some(&ids), now).await?;
    Ok(tier)
}

/// The audit target of an order.
pub fn target(order: &order::Model) -> String {
    gid(Kind::Order, order.id)
}
