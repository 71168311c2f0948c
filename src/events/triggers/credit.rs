//! Store credit as time passes: `store_credit.expired` and
//! `store_credit.expiring`.
//!
//! Write-offs first: customers whose balance has a `next_expiry_at` at or
//! before the pass (indexed) are settled in batches of [`BATCH`], one
//! transaction each (`service::store_credit::settle`: the EXPIRE entries,
//! the balances and their events together; a concurrent pass or read finds
//! nothing left to expire).
//!
//! Then the notices (`C360_STORE_CREDIT_EXPIRING_NOTICE`): each credit entry
//! expiring within the notice with some of it unspent is told once, with
//! what is unspent by the spending rule (soonest-expiring first), key
//! `store_credit_expiring:<entry>`. Candidates: customers with a credit
//! entry expiring in the window (the `expires_at` index), keyset by id.

use c360_entity::store_credit_entry as entry;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::error::AppResult;
use crate::events::payload;
use crate::events::scheduler::{BATCH, Pass, emit_new};
use crate::service::store_credit;

/// What a pass did: entries told as expiring, EXPIRE entries written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Credit {
    pub expiring: u64,
    pub expired: u64,
}

pub(crate) async fn run(db: &DatabaseConnection, pass: &Pass<'_>) -> AppResult<Credit> {
    let expired = write_off(db, pass.now).await?;
    let expiring = notices(db, pass.now, pass.now + pass.notices.store_credit_expiring).await?;
    Ok(Credit { expiring, expired })
}

/// Settles every customer with expired credit due; the EXPIRE entries
/// written.
async fn write_off(db: &DatabaseConnection, now: DateTime<Utc>) -> AppResult<u64> {
    let mut written = 0;
    let mut after = 0;
    loop {
        let ids = store_credit::due_customers(db, now, after).await?;
        let Some(&last) = ids.last() else { break };
        let txn = crate::db::begin_write(db).await?;
        written += store_credit::settle(&txn, now, &ids).await?.len() as u64;
        txn.commit().await?;
        if ids.len() < BATCH {
            break;
        }
        after = last;
    }
    Ok(written)
}

/// Tells of every credit entry expiring in `(now, until]` with some of it
/// unspent, once per entry.
async fn notices(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> AppResult<u64> {
    let mut emitted = 0;
    let mut after = 0;
    loop {
        let ids = candidates(db, now, until, after).await?;
        let Some(&last) = ids.last() else { break };
        let events = store_credit::expiring_credits(db, &ids, now, until)
            .await?
            .into_iter()
            .map(|(e, unspent)| {
                (
                    payload::store_credit_expiring(&e, unspent),
                    format!("store_credit_expiring:{}", e.id),
                )
            })
            .collect();
        emitted += emit_new(db, now, events).await?;
        if ids.len() < BATCH {
            break;
        }
        after = last;
    }
    Ok(emitted)
}

/// Up to [`BATCH`] customers after `after`, in id order, with a credit
/// entry expiring in `(now, until]`.
async fn candidates(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    after: i64,
) -> AppResult<Vec<i64>> {
    use entry::Column as E;
    let select = Query::select()
        .distinct()
        .column(E::CustomerId)
        .from(entry::Entity)
        .and_where(Expr::col(E::ExpiresAt).gt(now))
        .and_where(Expr::col(E::ExpiresAt).lte(until))
        .and_where(Expr::col(E::CustomerId).gt(after))
        .order_by(E::CustomerId, sea_orm::Order::Asc)
        .limit(BATCH as u64)
        .to_owned();
    let mut ids = Vec::new();
    for row in db.query_all(&select).await? {
        ids.push(row.try_get_by_index::<i64>(0)?);
    }
    Ok(ids)
}
