//! Loyalty rules: balances derived from the ledger, and tiers from spend.
//!
//! The ledger (`loyalty_transactions`) is the truth; the balances on
//! `loyalty_accounts` are a cache of it, recomputed by [`refresh_balances`]
//! in the same transaction as every ledger write.
//!
//! Time moves balances too: PENDING points become AVAILABLE when their
//! return window ends, and AVAILABLE credits expire when their period ends
//! (when expiry is configured). [`settle`] does both for accounts whose
//! `settle_due_at` has passed; reads of an account call it first, `c360
//! loyalty settle` and a background sweep in `serve` call it for every due
//! account.
//!
//! Expiry rule: spending takes the points that expire first. Every debit
//! (redemption, clawback from the AVAILABLE balance, negative adjustment,
//! earlier expiry) consumes, among the credits available when it happened,
//! those expiring soonest (never-expiring credits last); what is left of a
//! credit when its period ends expires. The ledger is replayed to apply the
//! rule, so enabling expiry on a store with history is exact as well.

use c360_entity::enums::{LoyaltyTier, LoyaltyTransactionKind, LoyaltyTransactionState};
use c360_entity::{loyalty_account, loyalty_transaction, order};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{Alias, Cond, Expr, ExprTrait, Func, Query, SubQueryStatement};
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set,
};

use super::Rules;
use crate::domain::money::minor_digits;
use crate::domain::orders::SPENDING;
use crate::domain::tiers::{self, tier_for_spend};
use crate::error::{AppError, AppResult};

/// Accounts per statement when refreshing a list of customers.
const IDS_PER_STATEMENT: usize = 1_000;

/// Sets `points_available`, `points_pending` and `points_lifetime_earned` of
/// the accounts of `customer_ids` (all accounts for `None`) from the ledger,
/// and `updated_at` to now:
/// - available = `SUM(points)` of AVAILABLE rows;
/// - pending = `SUM(points)` of PENDING rows;
/// - lifetime earned = `SUM(points)` of rows with `points > 0`, state not
///   CANCELLED, kind EARN, ADJUST or REFERRAL_BONUS.
///
/// One `UPDATE` with correlated subqueries (per 1,000 ids), whatever the
/// number of accounts.
pub async fn refresh_balances(
    db: &impl ConnectionTrait,
    customer_ids: Option<&[i64]>,
) -> AppResult<()> {
    match customer_ids {
        None => {
            db.execute(&balances_update(None)).await?;
        }
        Some(ids) => {
            let mut ids = ids.to_vec();
            ids.sort_unstable();
            ids.dedup();
            for chunk in ids.chunks(IDS_PER_STATEMENT) {
                db.execute(&balances_update(Some(chunk))).await?;
            }
        }
    }
    Ok(())
}

fn balances_update(ids: Option<&[i64]>) -> sea_orm::sea_query::UpdateStatement {
    use loyalty_account::Column as A;
    use loyalty_transaction::Column as L;
    let state_is = |state: LoyaltyTransactionState| {
        Cond::all().add(Expr::col((Alias::new("lt"), L::State)).eq(state.to_value()))
    };
    let earned_kinds = [
        LoyaltyTransactionKind::Earn,
        LoyaltyTransactionKind::Adjust,
        LoyaltyTransactionKind::ReferralBonus,
    ]
    .map(|k| k.to_value());
    let earned = Cond::all()
        .add(Expr::col((Alias::new("lt"), L::Points)).gt(0))
        .add(
            Expr::col((Alias::new("lt"), L::State))
                .ne(LoyaltyTransactionState::Cancelled.to_value()),
        )
        .add(Expr::col((Alias::new("lt"), L::Kind)).is_in(earned_kinds));

    let mut update = Query::update();
    update
        .table(loyalty_account::Entity)
        .value(
            A::PointsAvailable,
            ledger_sum(state_is(LoyaltyTransactionState::Available)),
        )
        .value(
            A::PointsPending,
            ledger_sum(state_is(LoyaltyTransactionState::Pending)),
        )
        .value(A::PointsLifetimeEarned, ledger_sum(earned))
        .value(A::SettleDueAt, next_due())
        .value(A::UpdatedAt, Utc::now().trunc_subsecs(0));
    if let Some(ids) = ids {
        update.and_where(Expr::col(A::CustomerId).is_in(ids.iter().copied()));
    }
    update
}

/// The earliest instant the account has something to settle: a PENDING
/// row's `available_at`, or the expiry of a credit not yet expired
/// (`expires_at` after the account's `expired_through`).
///
/// `(SELECT MIN(CASE WHEN <pending> THEN lt.available_at
///                   WHEN <unexpired credit> THEN lt.expires_at END)
///   FROM loyalty_transactions lt WHERE lt.customer_id = <account's>)`
fn next_due() -> Expr {
    use loyalty_account::Column as A;
    use loyalty_transaction::Column as L;
    let lt = |c: L| Expr::col((Alias::new("lt"), c));
    let pending = lt(L::State).eq(LoyaltyTransactionState::Pending.to_value());
    let unexpired_credit = Cond::all()
        .add(lt(L::State).eq(LoyaltyTransactionState::Available.to_value()))
        .add(lt(L::Points).gt(0))
        .add(lt(L::ExpiresAt).is_not_null())
        .add(
            Cond::any()
                .add(Expr::col((loyalty_account::Entity, A::ExpiredThrough)).is_null())
                .add(lt(L::ExpiresAt).gt(Expr::col((loyalty_account::Entity, A::ExpiredThrough)))),
        );
    let when = sea_orm::sea_query::CaseStatement::new()
        .case(pending, lt(L::AvailableAt))
        .case(unexpired_credit, lt(L::ExpiresAt));
    let sub = Query::select()
        .expr(Func::min(when))
        .from_as(loyalty_transaction::Entity, Alias::new("lt"))
        .and_where(lt(L::CustomerId).equals((loyalty_account::Entity, A::CustomerId)))
        .to_owned();
    Expr::SubQuery(None, Box::new(SubQueryStatement::from(sub)))
}

/// `(SELECT COALESCE(SUM(lt.points), 0) FROM loyalty_transactions lt
///   WHERE lt.customer_id = loyalty_accounts.customer_id AND <filter>)`.
fn ledger_sum(filter: Cond) -> Expr {
    use loyalty_transaction::Column as L;
    let sub = Query::select()
        .expr(Func::coalesce([
            Func::sum(Expr::col((Alias::new("lt"), L::Points))).into(),
            Expr::val(0i64),
        ]))
        .from_as(loyalty_transaction::Entity, Alias::new("lt"))
        .cond_where(
            Cond::all()
                .add(
                    Expr::col((Alias::new("lt"), L::CustomerId))
                        .equals((loyalty_account::Entity, loyalty_account::Column::CustomerId)),
                )
                .add(filter),
        )
        .to_owned();
    Expr::SubQuery(None, Box::new(SubQueryStatement::from(sub)))
}

/// Points an amount of `currency` (minor units) earns: `points_per_unit` per
/// whole major unit, rounded down. Only base-currency orders earn, as only
/// they count towards metrics and tiers.
pub fn points_for(rules: &Rules, amount_minor: i64, currency: &str) -> i64 {
    if currency != rules.base_currency || amount_minor <= 0 || rules.points_per_unit <= 0 {
        return 0;
    }
    let scale = 10i128.pow(minor_digits(currency));
    let points = i128::from(amount_minor) * i128::from(rules.points_per_unit) / scale;
    i64::try_from(points).unwrap_or(i64::MAX)
}

/// Writes the EARN row of a freshly PAID order: PENDING until the return
/// window ends (AVAILABLE at once for a zero window). The idempotency key
/// `order:<id>:earn` makes a second earn for the same order a unique
/// violation instead of doubled points.
pub async fn earn_for_order(
    db: &impl ConnectionTrait,
    rules: &Rules,
    order: &order::Model,
    now: DateTime<Utc>,
) -> AppResult<i64> {
    let points = points_for(rules, order.total - order.refunded, &order.currency);
    if points <= 0 {
        return Ok(0);
    }
    let state = if rules.return_window.is_zero() {
        LoyaltyTransactionState::Available
    } else {
        LoyaltyTransactionState::Pending
    };
    loyalty_transaction::ActiveModel {
        customer_id: Set(order.customer_id),
        kind: Set(LoyaltyTransactionKind::Earn),
        points: Set(points),
        state: Set(state),
        order_id: Set(Some(order.id)),
        idempotency_key: Set(Some(format!("order:{}:earn", order.id))),
        description: Set(Some(format!("order {}", order.order_number))),
        available_at: Set(Some(now + rules.return_window)),
        expires_at: Set(rules.expiry(now + rules.return_window)),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(points)
}

/// Takes back up to `points` earned on `order` (a refund or a cancellation):
/// first from the order's points still PENDING (a PENDING CLAWBACK row that
/// settles together with the EARN row, so the pair nets out), then from the
/// AVAILABLE balance, never more than the balance holds and never more than
/// the order earned minus what was already taken back. Returns the points
/// taken.
pub async fn claw_back(
    db: &impl ConnectionTrait,
    order: &order::Model,
    points: i64,
    now: DateTime<Utc>,
) -> AppResult<i64> {
    if points <= 0 {
        return Ok(0);
    }
    use loyalty_transaction::Column as L;
    let rows = loyalty_transaction::Entity::find()
        .filter(L::CustomerId.eq(order.customer_id))
        .filter(L::OrderId.eq(order.id))
        .all(db)
        .await?;
    let earned: i64 = rows
        .iter()
        .filter(|r| {
            r.kind == LoyaltyTransactionKind::Earn && r.state != LoyaltyTransactionState::Cancelled
        })
        .map(|r| r.points)
        .sum();
    let clawed: i64 = rows
        .iter()
        .filter(|r| r.kind == LoyaltyTransactionKind::Clawback)
        .map(|r| -r.points)
        .sum();
    let mut left = Ord::max(Ord::min(points, earned - clawed), 0);
    let mut taken = 0;
    let pending: i64 = rows
        .iter()
        .filter(|r| r.state == LoyaltyTransactionState::Pending)
        .map(|r| r.points)
        .sum();
    let settles_at = rows
        .iter()
        .filter(|r| r.state == LoyaltyTransactionState::Pending)
        .filter_map(|r| r.available_at)
        .max();
    let from_pending = Ord::min(left, Ord::max(pending, 0));
    if from_pending > 0 {
        clawback_row(
            db,
            order,
            from_pending,
            LoyaltyTransactionState::Pending,
            settles_at,
            now,
        )
        .await?;
        left -= from_pending;
        taken += from_pending;
    }
    if left > 0 {
        let balance = available_in_ledger(db, order.customer_id).await?;
        let from_available = Ord::min(left, Ord::max(balance, 0));
        if from_available > 0 {
            clawback_row(
                db,
                order,
                from_available,
                LoyaltyTransactionState::Available,
                Some(now),
                now,
            )
            .await?;
            taken += from_available;
        }
    }
    Ok(taken)
}

async fn clawback_row(
    db: &impl ConnectionTrait,
    order: &order::Model,
    points: i64,
    state: LoyaltyTransactionState,
    available_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    loyalty_transaction::ActiveModel {
        customer_id: Set(order.customer_id),
        kind: Set(LoyaltyTransactionKind::Clawback),
        points: Set(-points),
        state: Set(state),
        order_id: Set(Some(order.id)),
        idempotency_key: Set(None),
        description: Set(Some(format!("refund of order {}", order.order_number))),
        available_at: Set(available_at),
        expires_at: Set(None),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// `SUM(points)` of the customer's AVAILABLE ledger rows.
async fn available_in_ledger(db: &impl ConnectionTrait, customer_id: i64) -> AppResult<i64> {
    use loyalty_transaction::Column as L;
    let select = Query::select()
        .expr(Expr::cust(r#"CAST(COALESCE(SUM("points"), 0) AS BIGINT)"#))
        .from(loyalty_transaction::Entity)
        .and_where(Expr::col(L::CustomerId).eq(customer_id))
        .and_where(Expr::col(L::State).eq(LoyaltyTransactionState::Available.to_value()))
        .to_owned();
    scalar_i64(db, &select).await
}

async fn scalar_i64(
    db: &impl ConnectionTrait,
    select: &sea_orm::sea_query::SelectStatement,
) -> AppResult<i64> {
    let row = db.query_one(select).await?;
    Ok(match row {
        Some(row) => row.try_get_by_index::<Option<i64>>(0)?.unwrap_or(0),
        None => 0,
    })
}

/// Settles every account due at `now`, in one transaction: what `c360
/// loyalty settle` and the schedule in `serve` run.
pub async fn settle_due(
    db: &sea_orm::DatabaseConnection,
    now: DateTime<Utc>,
) -> AppResult<Settled> {
    let due = due_accounts(db, now).await?;
    let txn = crate::db::begin_write(db).await?;
    let settled = settle(&txn, now, &due).await?;
    txn.commit().await?;
    Ok(settled)
}

/// Customers whose loyalty account has something to settle by `now`: a
/// PENDING row past its return window or a credit past its expiry.
pub async fn due_accounts(db: &impl ConnectionTrait, now: DateTime<Utc>) -> AppResult<Vec<i64>> {
    use loyalty_account::Column as A;
    use loyalty_transaction::Column as L;
    let accounts = Query::select()
        .column(A::CustomerId)
        .from(loyalty_account::Entity)
        .and_where(Expr::col(A::SettleDueAt).lte(now))
        .to_owned();
    // Rows written before `settle_due_at` was kept are found by their own
    // state, so no PENDING row is ever left behind.
    let pending = Query::select()
        .distinct()
        .column(L::CustomerId)
        .from(loyalty_transaction::Entity)
        .and_where(Expr::col(L::State).eq(LoyaltyTransactionState::Pending.to_value()))
        .and_where(Expr::col(L::AvailableAt).lte(now))
        .to_owned();
    let mut ids = Vec::new();
    for select in [accounts, pending] {
        for row in db.query_all(&select).await? {
            ids.push(row.try_get_by_index::<i64>(0)?);
        }
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// What [`settle`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settled {
    /// PENDING rows made AVAILABLE.
    pub rows: u64,
    /// Points written off by EXPIRE rows, and the accounts they came from.
    pub points_expired: i64,
    pub accounts_expired: u64,
}

/// Settles the accounts of `customer_ids` at `now`, in the caller's
/// transaction: PENDING rows whose return window has ended become
/// AVAILABLE, then the unspent part of credits that expired is written off
/// with an EXPIRE row per account (see the module's expiry rule), then the
/// balances and `settle_due_at` are refreshed.
///
/// The first statement writes the accounts, so concurrent settlements of
/// the same account queue on its row (PostgreSQL) or on the write lock
/// (SQLite) and the second finds nothing left to do: points are never
/// expired twice.
pub async fn settle(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    customer_ids: &[i64],
) -> AppResult<Settled> {
    use loyalty_account::Column as A;
    use loyalty_transaction::Column as L;
    let mut settled = Settled::default();
    for chunk in customer_ids.chunks(IDS_PER_STATEMENT) {
        let lock = Query::update()
            .table(loyalty_account::Entity)
            .value(A::ExpiredThrough, now)
            .and_where(Expr::col(A::CustomerId).is_in(chunk.iter().copied()))
            .to_owned();
        db.execute(&lock).await?;
        let pending = Query::update()
            .table(loyalty_transaction::Entity)
            .value(L::State, LoyaltyTransactionState::Available.to_value())
            .and_where(Expr::col(L::State).eq(LoyaltyTransactionState::Pending.to_value()))
            .and_where(Expr::col(L::AvailableAt).lte(now))
            .and_where(Expr::col(L::CustomerId).is_in(chunk.iter().copied()))
            .to_owned();
        settled.rows += db.execute(&pending).await?.rows_affected();
        for (customer_id, points) in expiring(db, now, chunk).await? {
            loyalty_transaction::ActiveModel {
                customer_id: Set(customer_id),
                kind: Set(LoyaltyTransactionKind::Expire),
                points: Set(-points),
                state: Set(LoyaltyTransactionState::Available),
                order_id: Set(None),
                idempotency_key: Set(None),
                description: Set(Some("points expired".into())),
                available_at: Set(Some(now)),
                expires_at: Set(None),
                created_at: Set(now),
                ..Default::default()
            }
            .insert(db)
            .await?;
            settled.points_expired += points;
            settled.accounts_expired += 1;
        }
    }
    refresh_balances(db, Some(customer_ids)).await?;
    Ok(settled)
}

/// Per customer of `ids`, the points to expire at `now`: the AVAILABLE
/// ledger replayed in time order, each credit a lot and each debit (EXPIRE
/// rows included) taken from the lots it could reach that expire first;
/// what is left of lots expired by `now` expires.
async fn expiring(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    ids: &[i64],
) -> AppResult<Vec<(i64, i64)>> {
    use loyalty_transaction::Column as L;
    let rows = loyalty_transaction::Entity::find()
        .filter(L::CustomerId.is_in(ids.iter().copied()))
        .filter(L::State.eq(LoyaltyTransactionState::Available))
        .all(db)
        .await?;
    let mut by_customer: std::collections::BTreeMap<i64, Vec<Movement>> = Default::default();
    for row in rows {
        by_customer
            .entry(row.customer_id)
            .or_default()
            .push(Movement {
                at: row.available_at.unwrap_or(row.created_at),
                id: row.id,
                points: row.points,
                expires_at: row.expires_at,
            });
    }
    Ok(by_customer
        .into_iter()
        .map(|(customer, movements)| (customer, expired_remainder(movements, now)))
        .filter(|(_, points)| *points > 0)
        .collect())
}

/// A row of the AVAILABLE ledger, as the expiry replay sees it.
#[derive(Debug, Clone, Copy)]
struct Movement {
    /// When it reached the AVAILABLE balance.
    at: DateTime<Utc>,
    id: i64,
    points: i64,
    expires_at: Option<DateTime<Utc>>,
}

/// Replays `movements` first in, first expired: returns what is left at
/// `now` of the credits whose expiry is at or before `now`.
fn expired_remainder(mut movements: Vec<Movement>, now: DateTime<Utc>) -> i64 {
    // Writers stamp rows to the second or finer; within one second the
    // order of insertion (the id) is the order of events.
    movements.sort_by_key(|m| (m.at.trunc_subsecs(0), m.id));
    // Lots as (expiry, remaining); `None` never expires and is spent last.
    let mut lots: Vec<(Option<DateTime<Utc>>, i64)> = Vec::new();
    for m in movements {
        if m.points > 0 {
            let at = lots.partition_point(|(e, _)| match (e, m.expires_at) {
                (_, None) => true,
                (None, Some(_)) => false,
                (Some(e), Some(x)) => *e <= x,
            });
            lots.insert(at, (m.expires_at, m.points));
            continue;
        }
        let mut need = -m.points;
        for (_, left) in lots.iter_mut() {
            if need == 0 {
                break;
            }
            let take = Ord::min(*left, need);
            *left -= take;
            need -= take;
        }
        lots.retain(|(_, left)| *left > 0);
    }
    lots.iter()
        .filter(|(e, _)| e.is_some_and(|e| e <= now))
        .map(|(_, left)| left)
        .sum()
}

/// Net spend of the trailing twelve months in the base currency: paid,
/// fulfilled and (partially) refunded orders placed within the tier window (`domain::tiers::WINDOW`),
/// `total - refunded`.
pub async fn trailing_spend(
    db: &impl ConnectionTrait,
    rules: &Rules,
    customer_id: i64,
    now: DateTime<Utc>,
) -> AppResult<i64> {
    use order::Column as O;
    let select = Query::select()
        .expr(Expr::cust(
            r#"CAST(COALESCE(SUM("total" - "refunded"), 0) AS BIGINT)"#,
        ))
        .from(order::Entity)
        .and_where(Expr::col(O::CustomerId).eq(customer_id))
        .and_where(Expr::col(O::Currency).eq(rules.base_currency.as_str()))
        .and_where(Expr::col(O::Status).is_in(SPENDING.map(|s| s.to_value())))
        .and_where(Expr::col(O::PlacedAt).gte(tiers::window_start(now)))
        .to_owned();
    scalar_i64(db, &select).await
}

/// Sets the customer's tier from their trailing-12-month net spend.
pub async fn refresh_tier(
    db: &impl ConnectionTrait,
    rules: &Rules,
    customer_id: i64,
    now: DateTime<Utc>,
) -> AppResult<LoyaltyTier> {
    let tier = tier_for_spend(
        trailing_spend(db, rules, customer_id, now).await?,
        &rules.tiers,
    );
    let update = Query::update()
        .table(loyalty_account::Entity)
        .value(loyalty_account::Column::Tier, tier.to_value())
        .and_where(Expr::col(loyalty_account::Column::CustomerId).eq(customer_id))
        .to_owned();
    db.execute(&update).await?;
    Ok(tier)
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
    if key.is_empty() || key.len() > 200 {
        return Err(AppError::bad_input(
            "idempotencyKey",
            "idempotencyKey must be 1 to 200 characters; reuse it when retrying the same redemption",
        ));
    }
    Ok(())
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
/// violation, so a retry is one redemption.
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
    refresh_balances(db, Some(&[customer_id])).await?;
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
        None => Err(AppError::NotFound(format!(
            "customer {customer_id} has no loyalty account"
        ))),
        Some(a) => Err(AppError::Conflict(format!(
            "insufficient points: {} available, {points} requested",
            a.points_available
        ))),
    }
}

/// A manual correction by staff: `points` (signed, not zero) with a reason.
/// A negative adjustment may not take the AVAILABLE balance below zero.
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
        return Err(AppError::NotFound(format!(
            "customer {customer_id} has no loyalty account"
        )));
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
    refresh_balances(db, Some(&[customer_id])).await?;
    Ok(row)
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
    if reason.is_empty() || reason.len() > 500 {
        return Err(AppError::bad_input(
            "reason",
            "reason must be 1 to 500 characters saying why the balance changes",
        ));
    }
    Ok(reason.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn at(day: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::days(day)
    }

    fn credit(id: i64, day: i64, points: i64, expires: Option<i64>) -> Movement {
        Movement {
            at: at(day),
            id,
            points,
            expires_at: expires.map(at),
        }
    }

    fn debit(id: i64, day: i64, points: i64) -> Movement {
        Movement {
            at: at(day),
            id,
            points: -points,
            expires_at: None,
        }
    }

    #[test]
    fn spending_takes_the_points_that_expire_first() {
        // 100 expiring on day 10, 50 on day 20; 30 spent on day 5.
        let ledger = vec![
            credit(1, 0, 100, Some(10)),
            debit(2, 5, 30),
            credit(3, 8, 50, Some(20)),
        ];
        assert_eq!(expired_remainder(ledger.clone(), at(9)), 0);
        assert_eq!(expired_remainder(ledger.clone(), at(10)), 70);
        assert_eq!(expired_remainder(ledger.clone(), at(20)), 120);
        // Once written off, the expired 70 is a debit and nothing is due twice.
        let mut written_off = ledger;
        written_off.push(debit(4, 10, 70));
        assert_eq!(expired_remainder(written_off.clone(), at(15)), 0);
        assert_eq!(expired_remainder(written_off, at(20)), 50);
    }

    #[test]
    fn spending_before_a_credit_existed_does_not_shield_it() {
        // Old points that never expire, all spent; then a new expiring credit.
        let ledger = vec![
            credit(1, 0, 500, None),
            debit(2, 1, 500),
            credit(3, 2, 100, Some(10)),
        ];
        assert_eq!(expired_remainder(ledger, at(10)), 100);
        // Never-expiring points are spent last.
        let ledger = vec![
            credit(1, 0, 500, None),
            credit(2, 1, 100, Some(10)),
            debit(3, 2, 150),
        ];
        assert_eq!(expired_remainder(ledger, at(10)), 0);
    }
}
