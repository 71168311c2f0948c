//! Writing the store credit ledger: appending an entry with its
//! `balance_after`, keeping `store_credit_balances` equal to the ledger in
//! the same transaction, and writing off expired credit (with its
//! `store_credit.expired` event), per customer or for many at once.
//!
//! Concurrency, as for points: every append first locks the balance row of
//! its customer and currency (a redemption with the conditional update that
//! takes the amount only while the balance holds it; a credit with an
//! upsert), so on PostgreSQL two writes to one balance queue and the second
//! reads what the first committed; SQLite runs one write at a time. The
//! balance can therefore never go below zero, and nothing is expired twice.

use std::collections::BTreeMap;

use c360_entity::store_credit_balance as balance;
use c360_entity::store_credit_entry::{self as entry, StoreCreditKind};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

use super::lots::{self, Lot, Movement};
use crate::domain::money::format_minor;
use crate::error::{AppError, AppResult};
use crate::events::{self, payload};

/// Customers per statement when settling many.
const IDS_PER_STATEMENT: usize = 1_000;

/// An entry to append, validated by its caller.
#[derive(Debug, Clone)]
pub(super) struct NewEntry {
    pub customer_id: i64,
    pub currency: String,
    pub kind: StoreCreditKind,
    /// Signed: positive adds credit, negative spends it.
    pub amount: i64,
    pub expires_at: Option<DateTime<Utc>>,
    pub order_id: Option<i64>,
    pub idempotency_key: Option<String>,
    pub reason: Option<String>,
}

/// Appends `new` at `now` and returns the entry. A debit first writes off
/// what has expired, then takes its amount from the balance only if the
/// balance holds it: BAD_USER_INPUT on `currency` when the customer never
/// held credit in it, CONFLICT naming the balance when it is short.
pub(super) async fn append(
    db: &impl ConnectionTrait,
    new: NewEntry,
    now: DateTime<Utc>,
) -> AppResult<entry::Model> {
    let now = now.trunc_subsecs(0);
    if new.amount < 0 {
        settle(db, now, &[new.customer_id]).await?;
        debit(db, new.customer_id, &new.currency, -new.amount).await?;
    } else {
        lock_balance(db, new.customer_id, &new.currency, now).await?;
    }
    let mut entries = entries_of(db, &[new.customer_id])
        .await?
        .remove(&(new.customer_id, new.currency.clone()))
        .unwrap_or_default();
    let before: i64 = entries.iter().map(|e| e.amount).sum();
    let row = entry::ActiveModel {
        customer_id: Set(new.customer_id),
        currency: Set(new.currency.clone()),
        kind: Set(new.kind),
        amount: Set(new.amount),
        balance_after: Set(before + new.amount),
        expires_at: Set(new.expires_at.map(|at| at.trunc_subsecs(0))),
        order_id: Set(new.order_id),
        idempotency_key: Set(new.idempotency_key),
        reason: Set(new.reason),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    entries.push(row.clone());
    write_balances(
        db,
        vec![cached(new.customer_id, &new.currency, &entries, now)],
    )
    .await?;
    Ok(row)
}

/// Takes `amount` off the cached balance only while it holds it: one
/// conditional `UPDATE`, which also locks the row on PostgreSQL, so
/// concurrent redemptions queue and each checks the committed balance.
async fn debit(
    db: &impl ConnectionTrait,
    customer_id: i64,
    currency: &str,
    amount: i64,
) -> AppResult<()> {
    use balance::Column as B;
    let update = Query::update()
        .table(balance::Entity)
        .value(B::Balance, Expr::col(B::Balance).sub(amount))
        .and_where(Expr::col(B::CustomerId).eq(customer_id))
        .and_where(Expr::col(B::Currency).eq(currency))
        .and_where(Expr::col(B::Balance).gte(amount))
        .to_owned();
    if db.execute(&update).await?.rows_affected() == 1 {
        return Ok(());
    }
    let held = balance::Entity::find()
        .filter(B::CustomerId.eq(customer_id))
        .filter(B::Currency.eq(currency))
        .one(db)
        .await?;
    match held {
        None => Err(AppError::bad_input(
            "currency",
            format!("the customer has no store credit in {currency}"),
        )),
        Some(b) => Err(AppError::Conflict(format!(
            "insufficient store credit: {} {currency} available, {} {currency} requested",
            format_minor(b.balance, currency),
            format_minor(amount, currency)
        ))),
    }
}

/// Creates the balance row of a customer and currency if it is missing and
/// locks it: an upsert that touches `updated_at`.
async fn lock_balance(
    db: &impl ConnectionTrait,
    customer_id: i64,
    currency: &str,
    now: DateTime<Utc>,
) -> AppResult<()> {
    use balance::Column as B;
    balance::Entity::insert(balance::ActiveModel {
        customer_id: Set(customer_id),
        currency: Set(currency.to_owned()),
        balance: Set(0),
        next_expiry_at: Set(None),
        next_expiry_amount: Set(0),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([B::CustomerId, B::Currency])
            .update_column(B::UpdatedAt)
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// The ledgers of `customer_ids` (at most a thousand), per customer and
/// currency, each in the order written: one statement.
pub(super) async fn entries_of(
    db: &impl ConnectionTrait,
    customer_ids: &[i64],
) -> AppResult<BTreeMap<(i64, String), Vec<entry::Model>>> {
    let rows = entry::Entity::find()
        .filter(entry::Column::CustomerId.is_in(customer_ids.iter().copied()))
        .order_by_asc(entry::Column::Id)
        .all(db)
        .await?;
    let mut out: BTreeMap<(i64, String), Vec<entry::Model>> = BTreeMap::new();
    for row in rows {
        out.entry((row.customer_id, row.currency.clone()))
            .or_default()
            .push(row);
    }
    Ok(out)
}

/// What is unspent of each credit of one ledger, in spending order.
pub(super) fn unspent(entries: &[entry::Model]) -> Vec<Lot> {
    let movements: Vec<Movement> = entries
        .iter()
        .map(|e| Movement {
            entry_id: e.id,
            amount: e.amount,
            expires_at: e.expires_at,
        })
        .collect();
    lots::unspent(&movements)
}

/// The balance row one ledger amounts to.
fn cached(
    customer_id: i64,
    currency: &str,
    entries: &[entry::Model],
    now: DateTime<Utc>,
) -> balance::ActiveModel {
    let next = lots::next_expiry(&unspent(entries));
    balance::ActiveModel {
        customer_id: Set(customer_id),
        currency: Set(currency.to_owned()),
        balance: Set(entries.iter().map(|e| e.amount).sum()),
        next_expiry_at: Set(next.map(|(at, _)| at)),
        next_expiry_amount: Set(next.map_or(0, |(_, amount)| amount)),
        updated_at: Set(now),
    }
}

/// Writes balance rows, inserting or replacing: one statement per thousand.
async fn write_balances(
    db: &impl ConnectionTrait,
    rows: Vec<balance::ActiveModel>,
) -> AppResult<()> {
    use balance::Column as B;
    for chunk in rows.chunks(IDS_PER_STATEMENT) {
        balance::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([B::CustomerId, B::Currency])
                    .update_columns([
                        B::Balance,
                        B::NextExpiryAt,
                        B::NextExpiryAmount,
                        B::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Sets the balance rows of `customer_ids` from their ledgers (after entries
/// were moved between customers).
pub(super) async fn refresh(
    db: &impl ConnectionTrait,
    customer_ids: &[i64],
    now: DateTime<Utc>,
) -> AppResult<()> {
    let now = now.trunc_subsecs(0);
    for chunk in customer_ids.chunks(IDS_PER_STATEMENT) {
        let rows = entries_of(db, chunk)
            .await?
            .iter()
            .map(|((customer, currency), entries)| cached(*customer, currency, entries, now))
            .collect();
        write_balances(db, rows).await?;
    }
    Ok(())
}

/// Writes off, at `now`, what is unspent of the credits of `customer_ids`
/// whose expiry has passed: one EXPIRE entry per customer and currency, the
/// balances refreshed and a `store_credit.expired` event each, in the
/// caller's transaction. Returns the EXPIRE entries written.
///
/// The first statement touches the customers' balance rows, so concurrent
/// settlements of one customer queue on them (PostgreSQL) or on the write
/// lock (SQLite), and the second finds nothing left to expire. Statements
/// per thousand customers are fixed, whatever is due.
pub async fn settle(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    customer_ids: &[i64],
) -> AppResult<Vec<entry::Model>> {
    use balance::Column as B;
    let now = now.trunc_subsecs(0);
    let mut written = Vec::new();
    for chunk in customer_ids.chunks(IDS_PER_STATEMENT) {
        let lock = Query::update()
            .table(balance::Entity)
            .value(B::UpdatedAt, now)
            .and_where(Expr::col(B::CustomerId).is_in(chunk.iter().copied()))
            .to_owned();
        db.execute(&lock).await?;
        let mut expiring = Vec::new();
        let mut balances = Vec::new();
        for ((customer, currency), mut entries) in entries_of(db, chunk).await? {
            let lots = unspent(&entries);
            let expired: Vec<&Lot> = lots.iter().filter(|l| lots::expired(l, now)).collect();
            let amount: i64 = expired.iter().map(|l| l.left).sum();
            if amount == 0 {
                continue;
            }
            let before: i64 = entries.iter().map(|e| e.amount).sum();
            let row = entry::Model {
                id: 0,
                customer_id: customer,
                currency: currency.clone(),
                kind: StoreCreditKind::Expire,
                amount: -amount,
                balance_after: before - amount,
                expires_at: None,
                order_id: None,
                idempotency_key: None,
                reason: None,
                created_at: now,
            };
            let ids: Vec<i64> = expired.iter().map(|l| l.entry_id).collect();
            // The write-off spends exactly the expired lots (they expire
            // soonest), so the cache after it is the ledger with it.
            entries.push(entry::Model {
                id: i64::MAX,
                ..row.clone()
            });
            balances.push(cached(customer, &currency, &entries, now));
            expiring.push((row, ids));
        }
        if expiring.is_empty() {
            continue;
        }
        entry::Entity::insert_many(expiring.iter().map(|(row, _)| entry::ActiveModel {
            customer_id: Set(row.customer_id),
            currency: Set(row.currency.clone()),
            kind: Set(row.kind),
            amount: Set(row.amount),
            balance_after: Set(row.balance_after),
            expires_at: Set(None),
            order_id: Set(None),
            idempotency_key: Set(None),
            reason: Set(None),
            created_at: Set(now),
            ..Default::default()
        }))
        .exec_without_returning(db)
        .await?;
        write_balances(db, balances).await?;
        let told = expiring
            .iter()
            .map(|(row, ids)| payload::store_credit_expired(row, ids))
            .collect();
        events::emit_all(db, now, told).await?;
        written.extend(expiring.into_iter().map(|(row, _)| row));
    }
    Ok(written)
}

/// Customers holding, at `now`, credit whose expiry has passed and that is
/// not written off yet, after `after` in id order: at most a thousand, from
/// the `next_expiry_at` index.
pub async fn due_customers(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    after: i64,
) -> AppResult<Vec<i64>> {
    use balance::Column as B;
    let select = Query::select()
        .distinct()
        .column(B::CustomerId)
        .from(balance::Entity)
        .and_where(Expr::col(B::NextExpiryAt).lte(now))
        .and_where(Expr::col(B::CustomerId).gt(after))
        .order_by(B::CustomerId, sea_orm::Order::Asc)
        .limit(IDS_PER_STATEMENT as u64)
        .to_owned();
    let mut ids = Vec::new();
    for row in db.query_all(&select).await? {
        ids.push(row.try_get_by_index::<i64>(0)?);
    }
    Ok(ids)
}
