//! Spending and correcting balances: redemptions (the customer, a partner
//! with `loyalty:write`, staff) and staff adjustments, each one ledger row
//! per idempotency key however often or concurrently the call is retried.

use c360_entity::enums::{LoyaltyTransactionKind, LoyaltyTransactionState};
use c360_entity::{loyalty_account, loyalty_transaction};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set,
};
use serde_json::json;

use super::balances::refresh_balances;
use super::review::review_due_of;
use super::settlement::settle;
use crate::auth::Role;
use crate::domain::ids::{Kind, gid};
use crate::domain::text::chars;
use crate::error::{AppError, AppResult};
use crate::events::{self, payload};
use crate::service::{Rules, Write, audit, owner};

/// Redeems `points` of the customer's AVAILABLE balance under
/// `idempotency_key`, as `write.principal`, and returns the account.
///
/// The input is validated first, then the caller's right to the customer
/// checked (which locks the customer). The same key again answers with the
/// account without redeeming twice (CONFLICT when it was used for something
/// else). Redemption and `loyalty.redeem` audit row commit together. When a
/// concurrent call with the same key wins the unique index, this call's
/// transaction is rolled back and it answers as a replay, read through `db`
/// outside the aborted transaction.
pub async fn redeem_points(
    db: &DatabaseConnection,
    write: Write<'_>,
    customer_id: i64,
    points: i64,
    idempotency_key: &str,
) -> AppResult<loyalty_account::Model> {
    validate_redemption(points, idempotency_key)?;
    let entry = Entry::Redeem {
        points,
        key: idempotency_key,
    };
    once_per_key(db, write, customer_id, entry).await
}

/// A manual correction by staff (`points` signed, not zero, with a
/// reason), and returns the account. FORBIDDEN for anyone but staff, then
/// validated, then as [`redeem_points`]: with `idempotency_key` a retry,
/// concurrent or not, is one ADJUST row and answers with the account.
pub async fn adjust_points(
    db: &DatabaseConnection,
    write: Write<'_>,
    customer_id: i64,
    points: i64,
    reason: &str,
    idempotency_key: Option<&str>,
) -> AppResult<loyalty_account::Model> {
    if write.principal.role != Role::Staff {
        return Err(AppError::Forbidden("only staff may adjust points".into()));
    }
    let reason = validate_adjustment(points, reason)?;
    let entry = Entry::Adjust {
        points,
        reason: &reason,
        key: idempotency_key,
    };
    once_per_key(db, write, customer_id, entry).await
}

/// A ledger write asked for by a caller, validated.
enum Entry<'r> {
    Redeem {
        points: i64,
        key: &'r str,
    },
    Adjust {
        points: i64,
        reason: &'r str,
        key: Option<&'r str>,
    },
}

impl Entry<'_> {
    fn kind(&self) -> LoyaltyTransactionKind {
        match self {
            Entry::Redeem { .. } => LoyaltyTransactionKind::Redeem,
            Entry::Adjust { .. } => LoyaltyTransactionKind::Adjust,
        }
    }

    /// The points of the ledger row, signed as the ledger holds them.
    fn signed_points(&self) -> i64 {
        match self {
            Entry::Redeem { points, .. } => -points,
            Entry::Adjust { points, .. } => *points,
        }
    }

    fn key(&self) -> Option<&str> {
        match self {
            Entry::Redeem { key, .. } => Some(key),
            Entry::Adjust { key, .. } => *key,
        }
    }

    /// Writes the row, its audit row and its event in the write's
    /// transaction. A redemption is `loyalty.points_redeemed`; an
    /// adjustment is a correction by staff, which the catalogue does not
    /// tell.
    async fn apply(&self, write: &Write<'_>, customer_id: i64) -> AppResult<()> {
        let (row, action, details) = match *self {
            Entry::Redeem { points, key } => {
                let row = redeem(&write.txn, customer_id, points, key, write.now).await?;
                let details = json!({ "points": points, "idempotencyKey": key });
                (row, "loyalty.redeem", details)
            }
            Entry::Adjust {
                points,
                reason,
                key,
            } => {
                let row = adjust(
                    &write.txn,
                    write.rules,
                    customer_id,
                    points,
                    reason,
                    key,
                    write.now,
                )
                .await?;
                let details = json!({ "points": points, "reason": row.description });
                (row, "loyalty.adjust", details)
            }
        };
        audit::record(
            &write.txn,
            write.principal,
            action,
            &gid(Kind::LoyaltyTransaction, row.id),
            Some(customer_id),
            details,
            write.now,
        )
        .await?;
        if let Entry::Redeem { .. } = self {
            events::emit(&write.txn, write.now, payload::points_redeemed(&row)).await?;
        }
        Ok(())
    }
}

/// Writes `entry` once per idempotency key and answers with the account.
async fn once_per_key(
    db: &DatabaseConnection,
    write: Write<'_>,
    customer_id: i64,
    entry: Entry<'_>,
) -> AppResult<loyalty_account::Model> {
    owner::writable_customer(&write.txn, write.principal, customer_id).await?;
    if let Some(key) = entry.key()
        && let Some(done) = find_by_key(&write.txn, customer_id, key).await?
    {
        replay(done, entry.kind(), entry.signed_points())?;
        let account = reviewed_account(&write, customer_id).await?;
        return write.commit(account).await;
    }
    match entry.apply(&write, customer_id).await {
        Ok(()) => {
            let account = reviewed_account(&write, customer_id).await?;
            write.commit(account).await
        }
        Err(err) => {
            // On PostgreSQL the transaction is aborted after a unique
            // violation: end it and read what the winner wrote outside it.
            write.txn.rollback().await?;
            if matches!(err, AppError::Conflict(_))
                && let Some(key) = entry.key()
                && let Some(done) = find_by_key(db, customer_id, key).await?
            {
                // A concurrent call with the same key won the unique index.
                replay(done, entry.kind(), entry.signed_points())?;
                return account(db, customer_id).await;
            }
            Err(err)
        }
    }
}

/// The account as the write answers with it: its tier reviewed first when
/// the review is due, as a read would show it.
async fn reviewed_account(
    write: &Write<'_>,
    customer_id: i64,
) -> AppResult<loyalty_account::Model> {
    let found = account(&write.txn, customer_id).await?;
    if found.tier_due_at.is_none_or(|at| at > write.now) {
        return Ok(found);
    }
    review_due_of(&write.txn, write.rules, write.now, &[customer_id]).await?;
    account(&write.txn, customer_id).await
}

/// The customer's loyalty account; NOT_FOUND without one.
async fn account(db: &impl ConnectionTrait, customer_id: i64) -> AppResult<loyalty_account::Model> {
    loyalty_account::Entity::find()
        .filter(loyalty_account::Column::CustomerId.eq(customer_id))
        .one(db)
        .await?
        .ok_or_else(|| no_account(customer_id))
}

fn no_account(customer_id: i64) -> AppError {
    AppError::NotFound(format!("customer {customer_id} has no loyalty account"))
}

/// Input of a redemption, validated before anything is written.
pub fn validate_redemption(points: i64, idempotency_key: &str) -> AppResult<()> {
    if points <= 0 {
        return Err(AppError::bad_input(
            "points",
            format!("points must be a positive number, not {points}"),
        ));
    }
    let key = idempotency_key.trim();
    if key.is_empty() || chars(key) > 200 {
        return Err(AppError::bad_input(
            "idempotencyKey",
            "idempotencyKey must be 1 to 200 characters; reuse it when retrying the same redemption",
        ));
    }
    Ok(())
}

/// Checks an adjustment's input; returns the trimmed reason.
pub fn validate_adjustment(points: i64, reason: &str) -> AppResult<String> {
    if points == 0 {
        return Err(AppError::bad_input(
            "points",
            "points must not be zero; positive adds, negative removes",
        ));
    }
    let reason = reason.trim();
    if reason.is_empty() || chars(reason) > 500 {
        return Err(AppError::bad_input(
            "reason",
            "reason must be 1 to 500 characters saying why the balance changes",
        ));
    }
    Ok(reason.to_owned())
}

/// The customer's ledger row written under `key`, if any: a retried
/// redemption returns it instead of redeeming twice.
pub async fn find_by_key(
    db: &impl ConnectionTrait,
    customer_id: i64,
    key: &str,
) -> AppResult<Option<loyalty_transaction::Model>> {
    use loyalty_transaction::Column as L;
    Ok(loyalty_transaction::Entity::find()
        .filter(L::CustomerId.eq(customer_id))
        .filter(L::IdempotencyKey.eq(key.trim()))
        .one(db)
        .await?)
}

/// Checks that a replayed key asked for the same thing as the first call.
pub fn replay(
    existing: loyalty_transaction::Model,
    kind: LoyaltyTransactionKind,
    points: i64,
) -> AppResult<loyalty_transaction::Model> {
    if existing.kind == kind && existing.points == points {
        Ok(existing)
    } else {
        Err(AppError::Conflict(format!(
            "idempotencyKey was already used for a {:?} of {} points; use a new key for a different request",
            existing.kind, existing.points
        )))
    }
}

/// Spends `points` of the customer's AVAILABLE balance under `key`.
///
/// The balance check and the debit are one conditional `UPDATE ... SET
/// points_available = points_available - n WHERE points_available >= n`, the
/// first statement of the transaction: PostgreSQL row-locks the account, so
/// concurrent redemptions queue and each re-checks the condition against the
/// committed balance; SQLite serialises writers. The balance can therefore
/// never go below zero. Due pending points are settled first, so they count.
/// Callers look the key up before ([`find_by_key`]) and after a unique
/// violation, so a retry is one redemption; [`redeem_points`] does both.
pub async fn redeem(
    db: &impl ConnectionTrait,
    customer_id: i64,
    points: i64,
    idempotency_key: &str,
    now: DateTime<Utc>,
) -> AppResult<loyalty_transaction::Model> {
    validate_redemption(points, idempotency_key)?;
    debit(db, customer_id, points, now).await?;
    let row = loyalty_transaction::ActiveModel {
        customer_id: Set(customer_id),
        kind: Set(LoyaltyTransactionKind::Redeem),
        points: Set(-points),
        state: Set(LoyaltyTransactionState::Available),
        order_id: Set(None),
        idempotency_key: Set(Some(idempotency_key.trim().to_owned())),
        description: Set(Some("redemption".into())),
        available_at: Set(Some(now)),
        expires_at: Set(None),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    refresh_balances(db, Some(&[customer_id]), now).await?;
    Ok(row)
}

/// Takes `points` off the cached AVAILABLE balance only if it holds them;
/// NOT_FOUND without an account, CONFLICT when short.
async fn debit(
    db: &impl ConnectionTrait,
    customer_id: i64,
    points: i64,
    now: DateTime<Utc>,
) -> AppResult<()> {
    use loyalty_account::Column as A;
    // Due points count and expired ones do not; settling first also locks
    // the account's row before the balance is checked.
    settle(db, now, &[customer_id]).await?;
    let update = Query::update()
        .table(loyalty_account::Entity)
        .value(
            A::PointsAvailable,
            Expr::col(A::PointsAvailable).sub(points),
        )
        .and_where(Expr::col(A::CustomerId).eq(customer_id))
        .and_where(Expr::col(A::PointsAvailable).gte(points))
        .to_owned();
    if db.execute(&update).await?.rows_affected() == 1 {
        return Ok(());
    }
    let account = loyalty_account::Entity::find()
        .filter(A::CustomerId.eq(customer_id))
        .one(db)
        .await?;
    match account {
        None => Err(no_account(customer_id)),
        Some(a) => Err(AppError::Conflict(format!(
            "insufficient points: {} available, {points} requested",
            a.points_available
        ))),
    }
}

/// A manual correction by staff: `points` (signed, not zero) with a reason.
/// A negative adjustment may not take the AVAILABLE balance below zero.
/// [`adjust_points`] is the whole write: the caller's role, the key and the
/// audit row.
pub async fn adjust(
    db: &impl ConnectionTrait,
    rules: &Rules,
    customer_id: i64,
    points: i64,
    reason: &str,
    idempotency_key: Option<&str>,
    now: DateTime<Utc>,
) -> AppResult<loyalty_transaction::Model> {
    let reason = validate_adjustment(points, reason)?;
    if points < 0 {
        debit(db, customer_id, -points, now).await?;
    } else if loyalty_account::Entity::find()
        .filter(loyalty_account::Column::CustomerId.eq(customer_id))
        .one(db)
        .await?
        .is_none()
    {
        return Err(no_account(customer_id));
    }
    let row = loyalty_transaction::ActiveModel {
        customer_id: Set(customer_id),
        kind: Set(LoyaltyTransactionKind::Adjust),
        points: Set(points),
        state: Set(LoyaltyTransactionState::Available),
        order_id: Set(None),
        idempotency_key: Set(idempotency_key.map(|k| k.trim().to_owned())),
        description: Set(Some(reason)),
        available_at: Set(Some(now)),
        expires_at: Set(if points > 0 { rules.expiry(now) } else { None }),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    refresh_balances(db, Some(&[customer_id]), now).await?;
    Ok(row)
}
