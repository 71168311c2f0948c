//! The audit trail: who did what to which customer, and when. Every mutation
//! records a row in its own transaction, so a write and its audit row land or
//! fail together.

use c360_entity::audit_event;
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};

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
    at: DateTime<Utc>,
) -> AppResult<()> {
    row(principal, action, target, customer_id, details, at)
        .insert(db)
        .await?;
    Ok(())
}

/// The row [`record`] writes, for writers that insert many at once.
pub fn row(
    principal: &Principal,
    action: &str,
    target: &str,
    customer_id: Option<i64>,
    details: serde_json::Value,
    at: DateTime<Utc>,
) -> audit_event::ActiveModel {
    audit_event::ActiveModel {
        principal: Set(principal.subject.clone()),
        role: Set(principal.role.to_string()),
        action: Set(action.to_owned()),
        target: Set(target.to_owned()),
        customer_id: Set(customer_id),
        at: Set(at),
        details: Set(details),
        ..Default::default()
    }
}

/// One `pii.read` row per customer whose personal data `principal` read
/// unmasked in one request, written by one statement whatever their number.
pub async fn record_pii_reads(
    db: &impl ConnectionTrait,
    principal: &Principal,
    customers: &[(i64, String)],
    at: DateTime<Utc>,
) -> AppResult<()> {
    if customers.is_empty() {
        return Ok(());
    }
    let rows = customers
        .iter()
        .map(|(id, target)| audit_event::ActiveModel {
            principal: Set(principal.subject.clone()),
            role: Set(principal.role.to_string()),
            action: Set("pii.read".to_owned()),
            target: Set(target.clone()),
            customer_id: Set(Some(*id)),
            at: Set(at),
            details: Set(serde_json::json!({ "scopes": principal.scopes })),
            ..Default::default()
        });
    audit_event::Entity::insert_many(rows).exec(db).await?;
    Ok(())
}
