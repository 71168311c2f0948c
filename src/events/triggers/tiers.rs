//! Tiers lowered as spend ages out: a paid order older than the tier
//! window (`domain::tiers::WINDOW`) stops counting, and no write happens to
//! say so. Each pass compares stored tiers with the trailing spend at the
//! clock's time (`service::loyalty::window_spend`, the one definition of
//! that spend) and lowers those above it, telling `loyalty.tier_changed`
//! (DOWN, SPEND_WINDOW) with key `tier_changed:<customer>:<day>:<to>`, so
//! a second pass the same day tells nothing again. Only downward moves are
//! the scheduler's: spend rises only through writes, which set the tier
//! themselves.
//!
//! Per batch of accounts above BRONZE: one statement reads each stored tier
//! with its spend; when some fell, one transaction locks those customers
//! (PostgreSQL; a write to one of them waits, as writes to one customer
//! queue), reads their spend again under the lock, lowers each (from, to)
//! pair with one guarded UPDATE (`WHERE tier = from`, RETURNING who moved),
//! and emits for exactly the rows it moved: at most 6 updates, whatever the
//! number of customers. A concurrent pass finds the tiers already lowered
//! and moves, and tells, nothing.

use std::collections::BTreeMap;

use c360_entity::enums::LoyaltyTier;
use c360_entity::{loyalty_account, order};
use sea_orm::sea_query::{Expr, ExprTrait, Query, SubQueryStatement};
use sea_orm::{ActiveEnum, ConnectionTrait, DatabaseConnection};

use crate::domain::tiers::{ORDER, tier_for_spend};
use crate::error::AppResult;
use crate::events::payload;
use crate::events::scheduler::{BATCH, Pass, emit_new, local_day};
use crate::service::loyalty::{TierReason, window_spend};
use crate::service::owner::lock_customers;

/// The direction a lowered tier reports.
const DOWN: &str = "DOWN";

fn rank(tier: LoyaltyTier) -> usize {
    ORDER.iter().position(|t| *t == tier).unwrap_or(0)
}

/// `(customer, stored tier, trailing spend)` of accounts above BRONZE:
/// the batch after `after` (keyset), or exactly `ids`.
async fn tiers_and_spend(
    db: &impl ConnectionTrait,
    pass: &Pass<'_>,
    after: i64,
    ids: Option<&[i64]>,
) -> AppResult<Vec<(i64, LoyaltyTier, i64)>> {
    use loyalty_account::Column as A;
    let spend = window_spend(pass.rules, pass.now)
        .and_where(
            Expr::col((order::Entity, order::Column::CustomerId))
                .equals((loyalty_account::Entity, A::CustomerId)),
        )
        .to_owned();
    let mut select = Query::select();
    select
        .column((loyalty_account::Entity, A::CustomerId))
        .column((loyalty_account::Entity, A::Tier))
        .expr(Expr::SubQuery(
            None,
            Box::new(SubQueryStatement::from(spend)),
        ))
        .from(loyalty_account::Entity)
        .and_where(
            Expr::col((loyalty_account::Entity, A::Tier)).ne(LoyaltyTier::Bronze.to_value()),
        );
    match ids {
        Some(ids) => {
            select.and_where(
                Expr::col((loyalty_account::Entity, A::CustomerId)).is_in(ids.iter().copied()),
            );
        }
        None => {
            select
                .and_where(Expr::col((loyalty_account::Entity, A::CustomerId)).gt(after))
                .order_by(
                    (loyalty_account::Entity, A::CustomerId),
                    sea_orm::Order::Asc,
                )
                .limit(BATCH as u64);
        }
    }
    let mut out = Vec::new();
    for row in db.query_all(&select).await? {
        let customer: i64 = row.try_get_by_index(0)?;
        let tier = LoyaltyTier::try_from_value(&row.try_get_by_index::<String>(1)?)?;
        let spend = row.try_get_by_index::<Option<i64>>(2)?.unwrap_or(0);
        out.push((customer, tier, spend));
    }
    Ok(out)
}

/// The accounts of `rows` whose spend no longer reaches their tier, with
/// the tier it does reach.
fn fallen(
    rows: &[(i64, LoyaltyTier, i64)],
    pass: &Pass<'_>,
) -> Vec<(i64, LoyaltyTier, LoyaltyTier)> {
    rows.iter()
        .filter_map(|&(customer, from, spend)| {
            let to = tier_for_spend(spend, &pass.rules.tiers);
            (rank(to) < rank(from)).then_some((customer, from, to))
        })
        .collect()
}

pub(crate) async fn run(db: &DatabaseConnection, pass: &Pass<'_>) -> AppResult<u64> {
    let mut emitted = 0;
    let mut after = 0i64;
    loop {
        let rows = tiers_and_spend(db, pass, after, None).await?;
        let Some(&(last, _, _)) = rows.last() else {
            break;
        };
        let candidates: Vec<i64> = fallen(&rows, pass).iter().map(|f| f.0).collect();
        if !candidates.is_empty() {
            emitted += lower(db, pass, &candidates).await?;
        }
        if rows.len() < BATCH {
            break;
        }
        after = last;
    }
    Ok(emitted)
}

/// Lowers the tiers of `candidates` that still fell once locked, in one
/// transaction, and tells each move.
async fn lower(db: &DatabaseConnection, pass: &Pass<'_>, candidates: &[i64]) -> AppResult<u64> {
    use loyalty_account::Column as A;
    let txn = crate::db::begin_write(db).await?;
    lock_customers(&txn, candidates).await?;
    let rows = tiers_and_spend(&txn, pass, 0, Some(candidates)).await?;
    // Keyed by rank: the tiers themselves have no order of their own.
    let mut moves: BTreeMap<(usize, usize), (LoyaltyTier, LoyaltyTier, Vec<i64>)> = BTreeMap::new();
    for (customer, from, to) in fallen(&rows, pass) {
        moves
            .entry((rank(from), rank(to)))
            .or_insert_with(|| (from, to, Vec::new()))
            .2
            .push(customer);
    }
    let day = local_day(pass.now, pass.tz);
    let mut events = Vec::new();
    for (from, to, customers) in moves.into_values() {
        let update = Query::update()
            .table(loyalty_account::Entity)
            .value(A::Tier, to.to_value())
            .and_where(Expr::col(A::CustomerId).is_in(customers))
            .and_where(Expr::col(A::Tier).eq(from.to_value()))
            .returning(Query::returning().column(A::CustomerId))
            .to_owned();
        for row in txn.query_all(&update).await? {
            let customer: i64 = row.try_get_by_index(0)?;
            let key = format!("tier_changed:{customer}:{day}:{}", to.to_value());
            let event =
                payload::tier_changed(customer, from, to, DOWN, TierReason::SpendWindow.as_str());
            events.push((event, key));
        }
    }
    let emitted = emit_new(&txn, pass.now, events).await?;
    txn.commit().await?;
    Ok(emitted)
}
