//! The writes that move store credit: issuing (staff with a reason, or a
//! partner with `loyalty:write`) and redeeming (the customer itself, a
//! partner with `loyalty:write`, staff), each one entry per idempotency key
//! however often or concurrently retried; and the credit other writes add
//! in their own transaction: a refund to store credit, a referral reward,
//! the ledger of a merged customer.

use c360_entity::order;
use c360_entity::store_credit_entry::{self as entry, StoreCreditKind};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::json;

use super::ledger::{self, NewEntry};
use crate::auth::{Principal, Role};
use crate::domain::ids::{Kind, gid};
use crate::domain::text;
use crate::error::{AppError, AppResult};
use crate::events::{self, NewEvent, payload};
use crate::service::orders::validate_currency;
use crate::service::{Rules, Write, audit, owner};

/// The most one entry may move: ten billion major units of a two-decimal
/// currency, far below where sums could overflow.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;

/// Credit to issue, as a caller asks for it.
#[derive(Debug, Clone)]
pub struct Issue<'a> {
    pub customer_id: i64,
    /// Minor units of `currency`.
    pub amount: i64,
    pub currency: &'a str,
    /// Required of staff.
    pub reason: Option<&'a str>,
    pub expires_at: Option<DateTime<Utc>>,
    pub idempotency_key: Option<&'a str>,
}

/// Issues credit as `write.principal`: FORBIDDEN for a customer, then the
/// input checked (a reason is required of staff; an expiry must be in the
/// future), then as [`redeem`] for the key. Entry, `store_credit.issue`
/// audit row and `store_credit.issued` commit together.
pub async fn issue(
    db: &DatabaseConnection,
    write: Write<'_>,
    issue: Issue<'_>,
) -> AppResult<entry::Model> {
    if write.principal.role == Role::Customer {
        return Err(AppError::Forbidden(
            "store credit is issued by staff or partners with `loyalty:write`".into(),
        ));
    }
    validate_amount(issue.amount)?;
    validate_currency("currency", issue.currency)?;
    let reason = match (write.principal.role, issue.reason) {
        (_, Some(reason)) => Some(text::required("reason", reason, 500)?),
        (Role::Staff, None) => {
            return Err(AppError::bad_input(
                "reason",
                "reason is required when staff issue store credit: say why it is given",
            ));
        }
        (_, None) => None,
    };
    if let Some(at) = issue.expires_at
        && at <= write.now
    {
        return Err(AppError::bad_input(
            "expiresAt",
            format!("expiresAt must be in the future, not {}", at.to_rfc3339()),
        ));
    }
    let key = issue.idempotency_key.map(validate_key).transpose()?;
    let new = NewEntry {
        customer_id: issue.customer_id,
        currency: issue.currency.to_owned(),
        kind: StoreCreditKind::Issue,
        amount: issue.amount,
        expires_at: issue.expires_at,
        order_id: None,
        idempotency_key: key,
        reason,
    };
    once_per_key(db, write, new).await
}

/// Redeems `amount` of the customer's credit in `currency` under
/// `idempotency_key`. The input is checked first, then the caller's right
/// to the customer (which locks the customer). The same key again answers
/// with the first redemption's entry and writes nothing (CONFLICT when the
/// key was used for something else). Entry, `store_credit.redeem` audit row
/// and `store_credit.redeemed` commit together.
pub async fn redeem(
    db: &DatabaseConnection,
    write: Write<'_>,
    customer_id: i64,
    amount: i64,
    currency: &str,
    idempotency_key: &str,
) -> AppResult<entry::Model> {
    validate_amount(amount)?;
    validate_currency("currency", currency)?;
    let key = validate_key(idempotency_key)?;
    let new = NewEntry {
        customer_id,
        currency: currency.to_owned(),
        kind: StoreCreditKind::Redeem,
        amount: -amount,
        expires_at: None,
        order_id: None,
        idempotency_key: Some(key),
        reason: None,
    };
    once_per_key(db, write, new).await
}

/// Writes `new` once per idempotency key and answers with its entry.
async fn once_per_key(
    db: &DatabaseConnection,
    write: Write<'_>,
    new: NewEntry,
) -> AppResult<entry::Model> {
    let customer_id = new.customer_id;
    owner::writable_customer(&write.txn, write.principal, customer_id).await?;
    if let Some(key) = &new.idempotency_key
        && let Some(done) = find_by_key(&write.txn, customer_id, key).await?
    {
        let done = replay(done, &new)?;
        return write.commit(done).await;
    }
    match apply(&write, new.clone()).await {
        Ok(row) => write.commit(row).await,
        Err(err) => {
            // On PostgreSQL the transaction is aborted after a unique
            // violation: end it and read what the winner wrote outside it.
            write.txn.rollback().await?;
            if matches!(err, AppError::Conflict(_))
                && let Some(key) = &new.idempotency_key
                && let Some(done) = find_by_key(db, customer_id, key).await?
            {
                return replay(done, &new);
            }
            Err(err)
        }
    }
}

/// The entry, its audit row and its event, in the write's transaction.
async fn apply(write: &Write<'_>, new: NewEntry) -> AppResult<entry::Model> {
    let row = ledger::append(&write.txn, new, write.now).await?;
    let (action, event) = match row.kind {
        StoreCreditKind::Redeem => ("store_credit.redeem", payload::store_credit_redeemed(&row)),
        _ => ("store_credit.issue", payload::store_credit_issued(&row)),
    };
    // The reason and the retry key stay on the entry alone: free text
    // about the person, which erasure redacts there.
    let details = json!({
        "amount": row.amount,
        "currency": row.currency,
        "expiresAt": row.expires_at,
    });
    audit::record(
        &write.txn,
        write.principal,
        action,
        &gid(Kind::StoreCreditEntry, row.id),
        Some(row.customer_id),
        details,
        write.now,
    )
    .await?;
    events::emit(&write.txn, write.now, event).await?;
    Ok(row)
}

/// The customer's entry written under `key`, if any.
async fn find_by_key(
    db: &impl ConnectionTrait,
    customer_id: i64,
    key: &str,
) -> AppResult<Option<entry::Model>> {
    Ok(entry::Entity::find()
        .filter(entry::Column::CustomerId.eq(customer_id))
        .filter(entry::Column::IdempotencyKey.eq(key))
        .one(db)
        .await?)
}

/// The first entry of a key, when the retry asks for the same thing.
fn replay(existing: entry::Model, new: &NewEntry) -> AppResult<entry::Model> {
    if existing.kind == new.kind
        && existing.amount == new.amount
        && existing.currency == new.currency
    {
        return Ok(existing);
    }
    Err(AppError::Conflict(format!(
        "idempotencyKey was already used for a {:?} of {} {}; use a new key for a different request",
        existing.kind,
        crate::domain::money::format_minor(existing.amount.abs(), &existing.currency),
        existing.currency
    )))
}

fn validate_amount(amount: i64) -> AppResult<()> {
    if amount <= 0 || amount > MAX_AMOUNT {
        return Err(AppError::bad_input(
            "amount",
            format!(
                "amount must be a positive number of minor units up to {MAX_AMOUNT}, not {amount}"
            ),
        ));
    }
    Ok(())
}

/// A caller's idempotency key, trimmed, under `key:` so that it never meets
/// the ledger's own keys (`refund:…`, `referral:…`).
fn validate_key(key: &str) -> AppResult<String> {
    let key = key.trim();
    if key.is_empty() || text::chars(key) > 200 {
        return Err(AppError::bad_input(
            "idempotencyKey",
            "idempotencyKey must be 1 to 200 characters; reuse it when retrying the same request",
        ));
    }
    Ok(format!("key:{key}"))
}

/// Whether `principal` may turn a refund into store credit: staff, or a
/// partner that may also write loyalty (`loyalty:write`).
pub fn may_credit_refund(principal: &Principal) -> AppResult<()> {
    match principal.role {
        Role::Staff => Ok(()),
        Role::Partner if principal.has_scope("loyalty:write") => Ok(()),
        _ => Err(AppError::Forbidden(
            "a refund to store credit needs the `loyalty:write` scope".into(),
        )),
    }
}

/// Credits `amount` of `order`'s refund to the customer in the order's
/// currency, in the refund's transaction: a REFUND_TO_CREDIT entry keyed
/// `refund:<order>:<refunded so far>` (so one refund is one credit) that
/// expires after `--store-credit-expire-after`. Returns its
/// `store_credit.issued` event for the refund to emit with its own.
pub async fn credit_refund(
    db: &impl ConnectionTrait,
    rules: &Rules,
    order: &order::Model,
    amount: i64,
    now: DateTime<Utc>,
) -> AppResult<NewEvent> {
    let new = NewEntry {
        customer_id: order.customer_id,
        currency: order.currency.clone(),
        kind: StoreCreditKind::RefundToCredit,
        amount,
        expires_at: rules.store_credit.expiry(now),
        order_id: Some(order.id),
        idempotency_key: Some(format!("refund:{}:{}", order.id, order.refunded)),
        reason: Some(format!("refund of order {}", order.order_number)),
    };
    let row = ledger::append(db, new, now).await?;
    Ok(payload::store_credit_issued(&row))
}

/// One side's referral reward in store credit.
#[derive(Debug, Clone)]
pub struct ReferralCredit<'a> {
    pub customer_id: i64,
    /// Minor units of the referred order's currency.
    pub amount: i64,
    /// `referral:<id>:referrer|referee`.
    pub key: String,
    /// The referral code, for the entry's reason.
    pub code: &'a str,
}

/// One side's referral reward in store credit, in the referral's payment
/// transaction: a REFERRAL_REWARD entry in `order`'s currency under the
/// reward's key, so a second reward is a unique violation, never doubled
/// credit. Returns its `store_credit.issued` event.
pub async fn reward_referral(
    db: &impl ConnectionTrait,
    rules: &Rules,
    order: &order::Model,
    reward: ReferralCredit<'_>,
    now: DateTime<Utc>,
) -> AppResult<NewEvent> {
    let new = NewEntry {
        customer_id: reward.customer_id,
        currency: order.currency.clone(),
        kind: StoreCreditKind::ReferralReward,
        amount: reward.amount,
        expires_at: rules.store_credit.expiry(now),
        order_id: Some(order.id),
        idempotency_key: Some(reward.key),
        reason: Some(format!("referral {}", reward.code)),
    };
    let row = ledger::append(db, new, now).await?;
    Ok(payload::store_credit_issued(&row))
}

/// Moves the ledger of `merge` to `keep` (keys prefixed `merged:<id>:` so
/// they cannot collide with `keep`'s), drops `merge`'s balances and sets
/// `keep`'s from the combined ledger, in the merge's transaction: credit is
/// never lost with the merged customer.
pub async fn merge(
    db: &impl ConnectionTrait,
    keep: i64,
    merge: i64,
    now: DateTime<Utc>,
) -> AppResult<()> {
    // Both ids are integers parsed by the API, never caller text.
    let (k, m) = (keep, merge);
    for sql in [
        format!(
            "UPDATE store_credit_entries SET idempotency_key = 'merged:' || CAST({m} AS TEXT) || ':' || idempotency_key, \
             customer_id = {k} WHERE customer_id = {m} AND idempotency_key IS NOT NULL"
        ),
        format!("UPDATE store_credit_entries SET customer_id = {k} WHERE customer_id = {m}"),
        format!("DELETE FROM store_credit_balances WHERE customer_id = {m}"),
    ] {
        db.execute_unprepared(&sql).await?;
    }
    ledger::refresh(db, &[keep], now).await
}
