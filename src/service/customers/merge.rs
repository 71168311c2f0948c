//! Merging two customers into one: every record of the merged customer
//! moves to the kept one in a fixed list of statements, the merged
//! customer's account and profile go, and the keeper's metrics, balances
//! and tier are recomputed. Staff only, in the caller's transaction.
//!
//! Emits `customer.merged` about the kept customer (and
//! `loyalty.tier_changed` when the joined spend moved its tier). Events
//! already in the outbox stay as they were, under the merged customer's
//! id: the outbox is a log of what happened, which consumers have read.

use c360_entity::customer;
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::ConnectionTrait;
use serde_json::json;

use super::target;
use crate::auth::{Principal, Role};
use crate::error::{AppError, AppResult};
use crate::events::{self, payload};
use crate::service::loyalty::TierReason;
use crate::service::{Rules, audit, loyalty, metrics, owner, store_credit};

/// Moves every record of customer `merge` to `keep` (orders and lines,
/// tickets and messages, reviews, referrals both ways, the loyalty ledger,
/// NPS answers, follow-ups, tags and the audit trail), deletes `merge`, and recomputes
/// `keep`'s metrics, balances and tier: one transaction, staff only.
///
/// Where both customers hold a row the store allows once, the kept
/// customer's wins: `merge`'s review of an sku `keep` also reviewed is
/// dropped, and `merge`'s ledger idempotency keys are prefixed with
/// `merged:<id>:` so they cannot collide with `keep`'s.
pub async fn merge(
    db: &impl ConnectionTrait,
    rules: &Rules,
    principal: &Principal,
    keep: i64,
    merge: i64,
    now: DateTime<Utc>,
) -> AppResult<customer::Model> {
    if principal.role != Role::Staff {
        return Err(AppError::Forbidden("only staff merge customers".into()));
    }
    if keep == merge {
        return Err(AppError::bad_input(
            "merge",
            "merge and keep are the same customer",
        ));
    }
    // In id order, so two merges of one pair cannot deadlock.
    owner::lock_customers(db, &[keep, merge]).await?;
    let kept = owner::writable_customer(db, principal, keep).await?;
    let gone = owner::writable_customer(db, principal, merge).await?;
    // Both ids are integers parsed by the API, never caller text, so they
    // are written into the statements directly.
    let (k, m) = (keep, merge);
    let statements = [
        format!(
            "DELETE FROM reviews WHERE customer_id = {m} AND product_sku IN \
             (SELECT product_sku FROM reviews WHERE customer_id = {k})"
        ),
        format!(
            "DELETE FROM customer_tags WHERE customer_id = {m} AND tag IN \
             (SELECT tag FROM customer_tags WHERE customer_id = {k})"
        ),
        format!(
            "UPDATE loyalty_transactions SET idempotency_key = 'merged:' || CAST({m} AS TEXT) || ':' || idempotency_key, \
             customer_id = {k} WHERE customer_id = {m} AND idempotency_key IS NOT NULL"
        ),
        format!("UPDATE loyalty_transactions SET customer_id = {k} WHERE customer_id = {m}"),
        format!("UPDATE referrals SET referee_customer_id = {k} WHERE referee_customer_id = {m}"),
    ]
    .into_iter()
    .chain(
        [
            "orders",
            "order_lines",
            "tickets",
            "ticket_messages",
            "reviews",
            "referrals",
            "nps_responses",
            "follow_ups",
            "customer_tags",
            "audit_events",
        ]
        .map(|table| format!("UPDATE {table} SET customer_id = {k} WHERE customer_id = {m}")),
    );
    for sql in statements {
        db.execute_unprepared(&sql).await?;
    }
    // Store credit moves with its ledger before the profile goes.
    store_credit::merge(db, keep, merge, now).await?;
    // The merged customer's account, metrics row and profile go; its
    // points live on in the moved ledger.
    db.execute_unprepared(&format!(
        "DELETE FROM loyalty_accounts WHERE customer_id = {m}"
    ))
    .await?;
    db.execute_unprepared(&format!("DELETE FROM customers WHERE id = {m}"))
        .await?;
    let now = now.trunc_subsecs(0);
    metrics::refresh_for(db, &rules.base_currency, &[keep, merge], now).await?;
    loyalty::refresh_balances(db, Some(&[keep]), now).await?;
    let tier = loyalty::refresh_tier(db, rules, keep, now, TierReason::Merge).await?;
    audit::record(
        db,
        principal,
        "customer.merge",
        &target(keep),
        Some(keep),
        json!({ "merged": target(gone.id) }),
        now,
    )
    .await?;
    let merged = payload::customer_merged(keep, gone.id);
    events::emit_all(db, now, std::iter::once(merged).chain(tier).collect()).await?;
    Ok(kept)
}
