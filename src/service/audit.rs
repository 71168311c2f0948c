//! The audit trail: who did what to which customer, and when. Every mutation
//! records a row in its own transaction, so a write and its audit row land or
//! fail together.

use c360_entity::audit_event;
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};

use crate::auth::Principal;
use crate::error::AppResult;

/// One audit row. `action` is a dotted verb (`order.ingest`, `customer.erase`,
/// `pii.read`); `target` the global id acted on.
pub async fn record(
    db: &impl ConnectionTrait,
    principal: &Principal,
    action: &str,
    target: &str,
    customer_id: Option<i64>,
    details: serde_json::Value,
) -> AppResult<()> {
    audit_event::ActiveModel {
        principal: Set(principal.subject.clone()),
        role: Set(principal.role.to_string()),
        action: Set(action.to_owned()),
        target: Set(target.to_owned()),
        customer_id: Set(customer_id),
        at: Set(Utc::now()),
        details: Set(details),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}
