//! Settlement: PENDING points becoming AVAILABLE when their return window
//! ends, and the unspent part of expired credits written off (the expiry
//! replay of the module's rule), per account or for every due account,
//! with their `loyalty.points_available` and `loyalty.points_expired`
//! events in the settling transaction, whichever read, write or schedule
//! settles.

use std::collections::BTreeMap;

use c360_entity::enums::{LoyaltyTransactionKind, LoyaltyTransactionState};
use c360_entity::{loyalty_account, loyalty_transaction};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ActiveEnum, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use super::balances::{IDS_PER_STATEMENT, refresh_balances};
use crate::error::AppResult;
use crate::events::{self, payload};

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
/// balances and `settle_due_at` are refreshed, and each account that
/// changed gets its `loyalty.points_available` and `loyalty.points_expired`
/// events. Statements per 1,000 accounts are fixed, whatever is due.
///
/// The first statement writes the accounts, so concurrent settlements of
/// the same account queue on its row (PostgreSQL) or on the write lock
/// (SQLite) and the second finds nothing left to do: points are never
/// expired, nor told of, twice.
pub async fn settle(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    customer_ids: &[i64],
) -> AppResult<Settled> {
    let (settled, changes) = settle_rows(db, now, customer_ids).await?;
    let events = changes
        .into_iter()
        .flat_map(|(customer, change)| {
            let available = (change.available > 0)
                .then(|| payload::points_available(customer, change.available));
            let expired =
                (change.expired > 0).then(|| payload::points_expired(customer, change.expired));
            available.into_iter().chain(expired)
        })
        .collect();
    events::emit_all(db, now, events).await?;
    Ok(settled)
}

/// As [`settle`], telling no one: for history loaded in bulk (`c360 seed`
/// generates years of ledger at once), where points that became available
/// or expired in that history are not news to send out.
pub async fn settle_history(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    customer_ids: &[i64],
) -> AppResult<Settled> {
    Ok(settle_rows(db, now, customer_ids).await?.0)
}

/// What settling did to one account.
#[derive(Debug, Clone, Copy, Default)]
struct Change {
    /// Net points of the rows made AVAILABLE (an EARN row with the PENDING
    /// CLAWBACK of a refund nets out).
    available: i64,
    expired: i64,
}

/// The writes of [`settle`], and what they did per account.
async fn settle_rows(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    customer_ids: &[i64],
) -> AppResult<(Settled, BTreeMap<i64, Change>)> {
    use loyalty_account::Column as A;
    use loyalty_transaction::Column as L;
    let mut settled = Settled::default();
    let mut changes: BTreeMap<i64, Change> = BTreeMap::new();
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
            .returning(Query::returning().columns([L::CustomerId, L::Points]))
            .to_owned();
        // RETURNING (SQLite 3.35+, PostgreSQL) says which rows moved in the
        // same statement.
        for row in db.query_all(&pending).await? {
            let customer: i64 = row.try_get_by_index(0)?;
            let points: i64 = row.try_get_by_index(1)?;
            changes.entry(customer).or_default().available += points;
            settled.rows += 1;
        }
        let expiring = expiring(db, now, chunk).await?;
        if !expiring.is_empty() {
            loyalty_transaction::Entity::insert_many(expiring.iter().map(|&(customer, points)| {
                loyalty_transaction::ActiveModel {
                    customer_id: Set(customer),
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
            }))
            .exec_without_returning(db)
            .await?;
        }
        for (customer, points) in expiring {
            changes.entry(customer).or_default().expired += points;
            settled.points_expired += points;
            settled.accounts_expired += 1;
        }
    }
    refresh_balances(db, Some(customer_ids), now).await?;
    Ok((settled, changes))
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
    Ok(ledgers(db, ids)
        .await?
        .into_iter()
        .map(|(customer, movements)| (customer, expired_remainder(movements, now)))
        .filter(|(_, points)| *points > 0)
        .collect())
}

/// Per customer of `ids` (at most a thousand), what is left of each
/// AVAILABLE credit that will expire, as `(customer, expires_at, points)`:
/// the module's expiry rule applied to the ledger as it stands, so it is
/// what settling at `expires_at` writes off unless more is spent first.
/// Lots already due are included; the caller picks the period it needs.
pub async fn unspent_expiring(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> AppResult<Vec<(i64, DateTime<Utc>, i64)>> {
    Ok(ledgers(db, ids)
        .await?
        .into_iter()
        .flat_map(|(customer, movements)| {
            remaining_lots(movements)
                .into_iter()
                .filter_map(move |(expiry, left)| Some((customer, expiry?, left)))
        })
        .collect())
}

/// The AVAILABLE ledger of each customer of `ids`, in one statement.
async fn ledgers(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> AppResult<BTreeMap<i64, Vec<Movement>>> {
    use loyalty_transaction::Column as L;
    let rows = loyalty_transaction::Entity::find()
        .filter(L::CustomerId.is_in(ids.iter().copied()))
        .filter(L::State.eq(LoyaltyTransactionState::Available))
        .all(db)
        .await?;
    let mut by_customer: BTreeMap<i64, Vec<Movement>> = Default::default();
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
    Ok(by_customer)
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
fn expired_remainder(movements: Vec<Movement>, now: DateTime<Utc>) -> i64 {
    remaining_lots(movements)
        .iter()
        .filter(|(e, _)| e.is_some_and(|e| e <= now))
        .map(|(_, left)| left)
        .sum()
}

/// Replays `movements` first in, first expired: what is left of each
/// credit, as `(expiry, points)` with `None` for never.
fn remaining_lots(mut movements: Vec<Movement>) -> Vec<(Option<DateTime<Utc>>, i64)> {
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
    lots
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
