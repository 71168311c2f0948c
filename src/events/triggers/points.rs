//! `loyalty.points_expiring`: AVAILABLE points whose expiry falls within
//! the notice (`C360_POINTS_EXPIRING_NOTICE`), one event per customer and
//! expiry day (of the store's time zone), key
//! `points_expiring:<customer>:<YYYY-MM-DD>`.
//!
//! The points are what the loyalty expiry rule leaves of each credit
//! (spending takes the points that expire first), so the event tells what
//! settling will write off unless the customer spends first; a credit
//! already spent tells nothing.
//!
//! Candidates: accounts whose `settle_due_at` (indexed; the earliest
//! instant an account has anything due, so at or before any expiry in the
//! window) falls before the window's end and that hold an AVAILABLE credit
//! expiring in it. Per batch: the candidates, their AVAILABLE ledgers, the
//! keys already told, the insert.

use std::collections::BTreeMap;

use c360_entity::enums::LoyaltyTransactionState;
use c360_entity::{loyalty_account, loyalty_transaction};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{ActiveEnum, ConnectionTrait, DatabaseConnection};

use crate::error::AppResult;
use crate::events::payload;
use crate::events::scheduler::{BATCH, Pass, emit_new, local_day};
use crate::service::loyalty::unspent_expiring;

/// The natural key of a customer's notice for one expiry day.
fn key(customer_id: i64, on: NaiveDate) -> String {
    format!("points_expiring:{customer_id}:{on}")
}

pub(crate) async fn run(db: &DatabaseConnection, pass: &Pass<'_>) -> AppResult<u64> {
    let until = pass.now + pass.notices.points_expiring;
    let mut emitted = 0;
    let mut after = 0i64;
    loop {
        let ids = candidates(db, pass.now, until, after).await?;
        let Some(&last) = ids.last() else { break };
        // Per customer and expiry day: the points, and the first instant.
        let mut days: BTreeMap<(i64, NaiveDate), (i64, DateTime<Utc>)> = BTreeMap::new();
        for (customer, expires_at, points) in unspent_expiring(db, &ids).await? {
            if expires_at <= pass.now || expires_at > until {
                continue;
            }
            let day = days
                .entry((customer, local_day(expires_at, pass.tz)))
                .or_insert((0, expires_at));
            day.0 += points;
            day.1 = Ord::min(day.1, expires_at);
        }
        let events = days
            .into_iter()
            .map(|((customer, on), (points, first_at))| {
                (
                    payload::points_expiring(customer, points, on, first_at),
                    key(customer, on),
                )
            })
            .collect();
        emitted += emit_new(db, pass.now, events).await?;
        if ids.len() < BATCH {
            break;
        }
        after = last;
    }
    Ok(emitted)
}

/// Up to [`BATCH`] customers after `after`, in id order, holding an
/// AVAILABLE credit that expires in `(now, until]`.
async fn candidates(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    after: i64,
) -> AppResult<Vec<i64>> {
    use loyalty_account::Column as A;
    use loyalty_transaction::Column as L;
    let lt = |c: L| Expr::col((Alias::new("lt"), c));
    let expiring_credit = Query::select()
        .expr(Expr::val(1))
        .from_as(loyalty_transaction::Entity, Alias::new("lt"))
        .and_where(lt(L::CustomerId).equals((loyalty_account::Entity, A::CustomerId)))
        .and_where(lt(L::State).eq(LoyaltyTransactionState::Available.to_value()))
        .and_where(lt(L::Points).gt(0))
        .and_where(lt(L::ExpiresAt).gt(now))
        .and_where(lt(L::ExpiresAt).lte(until))
        .to_owned();
    let select = Query::select()
        .column((loyalty_account::Entity, A::CustomerId))
        .from(loyalty_account::Entity)
        .and_where(Expr::col((loyalty_account::Entity, A::SettleDueAt)).lte(until))
        .and_where(Expr::col((loyalty_account::Entity, A::CustomerId)).gt(after))
        .and_where(Expr::exists(expiring_credit))
        .order_by(
            (loyalty_account::Entity, A::CustomerId),
            sea_orm::Order::Asc,
        )
        .limit(BATCH as u64)
        .to_owned();
    let mut ids = Vec::new();
    for row in db.query_all(&select).await? {
        ids.push(row.try_get_by_index::<i64>(0)?);
    }
    Ok(ids)
}
