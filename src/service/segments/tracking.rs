//! Tracked segments: a saved segment whose membership is kept in
//! `segment_members` and re-evaluated, each change told once as
//! `segment.entered` / `segment.exited`.
//!
//! One evaluation ([`evaluate`], [`reevaluate`]) is one transaction that
//! holds the segment's row (`SELECT … FOR UPDATE` on PostgreSQL; on SQLite
//! the transaction is the one writer from its start, `BEGIN IMMEDIATE`):
//! 1. exits: `DELETE FROM segment_members WHERE segment_id = $s AND NOT
//!    EXISTS (the compiled query, for that customer) RETURNING customer_id`;
//! 2. entries: `INSERT INTO segment_members SELECT $s, id, $now FROM (the
//!    compiled query) WHERE NOT EXISTS (a kept row) RETURNING customer_id`;
//! 3. the events, one insert per thousand (`events::emit_all_once`);
//! 4. the segment's `evaluated_at`, and `membership_version` when the
//!    membership changed.
//!
//! The kept membership and the events therefore commit together or not at
//! all: they never disagree. The statements are set-based: an evaluation
//! costs four statements plus one per thousand changes, whatever the
//! number of customers.
//!
//! Natural keys: `segment_entered:<segment>:<customer>:<version>` and
//! `segment_exited:…`, where `<version>` is the segment's
//! `membership_version` after the evaluation (one more than before when
//! anything changed). A customer enters or leaves at most once per
//! evaluation, so a later re-entry has a later version and a key of its
//! own. Two evaluations of one segment at once queue on its row: the second
//! reads the membership and version the first committed and finds nothing
//! to tell; were they ever not to queue, both would compute the same
//! version from the same kept rows, so the outbox's unique key would still
//! let one event through.
//!
//! Rules:
//! - the first evaluation (tracking just turned on, `evaluated_at` NULL)
//!   fills the membership silently: the customers already in the segment
//!   did not just enter it. Only later changes are told (as Klaviyo and
//!   Shopify do). Turning tracking on (`segmentCreate`/`segmentUpdate` with
//!   `tracked: true`) fills in the same transaction, so `members` reads the
//!   kept table at once;
//! - evaluations run on every scheduler pass (`C360_SCHEDULER_INTERVAL`)
//!   and on `segmentRefresh`; a write to a customer does not re-evaluate
//!   the segments it may move them in or out of (each would cost its query
//!   in the write), so a change is told at the next pass;
//! - relative dates are days of the evaluation's `Env`: `last_order_date <
//!   -90d` lets customers enter as days pass, with no write at all;
//! - a query changed while tracked is evaluated at the next pass, and the
//!   difference from the kept membership is told;
//! - untracking or deleting a segment drops its membership and tells no
//!   exits; a customer deleted (merged away) leaves every membership with
//!   its row (the foreign key's cascade), told by `customer.merged` only.
//!
//! On PostgreSQL each statement sees what committed before it began: a
//! write to a customer committing between the two statements can make
//! that customer leave and enter (or the reverse) in one evaluation. Both
//! are told and the kept row agrees with the last.

use c360_entity::{customer, segment, segment_member as member};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryResult, QuerySelect,
    QueryTrait, TransactionSession, TransactionTrait,
};

use crate::error::{AppError, AppResult};
use crate::events::{NewEvent, emit_all_once, payload};
use crate::segment::{Env, customers_joined};

/// What one evaluation changed in the kept membership.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Evaluation {
    /// Customers who entered (kept rows inserted).
    pub entered: u64,
    /// Customers who left (kept rows deleted).
    pub exited: u64,
    /// Whether the changes were told: false for the first, silent fill.
    pub told: bool,
}

/// The natural key of a customer's entry into (or exit from) a segment at
/// one membership version.
fn key(what: &str, segment_id: i64, customer_id: i64, version: i64) -> String {
    format!("{what}:{segment_id}:{customer_id}:{version}")
}

/// Re-evaluates segment `id` at `now`, in a transaction of its own. `None`
/// when it no longer exists or is not tracked.
pub async fn evaluate(
    db: &impl TransactionTrait,
    id: i64,
    env: &Env,
    now: DateTime<Utc>,
) -> AppResult<Option<Evaluation>> {
    let txn = crate::db::begin_write(db).await?;
    let done = match lock(&txn, id).await? {
        Some(seg) if seg.tracked => Some(reevaluate(&txn, seg, env, now).await?.1),
        _ => None,
    };
    txn.commit().await?;
    Ok(done)
}

/// Segment `id`, its row locked until the caller's transaction ends
/// (PostgreSQL; SQLite's write transaction already excludes every other).
pub(super) async fn lock(db: &impl ConnectionTrait, id: i64) -> AppResult<Option<segment::Model>> {
    let mut find = segment::Entity::find_by_id(id);
    if db.get_database_backend() == DbBackend::Postgres {
        find = find.lock_exclusive();
    }
    Ok(find.one(db).await?)
}

/// Brings the kept membership of `seg`, a tracked segment whose row the
/// caller's transaction holds ([`lock`]), in line with its query at `now`,
/// tells the difference (unless this is the first evaluation), and records
/// the evaluation. The segment as it now is, and what changed.
pub(super) async fn reevaluate(
    db: &impl ConnectionTrait,
    mut seg: segment::Model,
    env: &Env,
    now: DateTime<Utc>,
) -> AppResult<(segment::Model, Evaluation)> {
    let now = now.trunc_subsecs(0);
    let query = crate::segment::condition(&seg.query, env)?;
    let mut exited = leave(db, seg.id, query.clone()).await?;
    let mut entered = enter(db, seg.id, query, now).await?;
    let changed = !(entered.is_empty() && exited.is_empty());
    let version = seg.membership_version + i64::from(changed);
    let told = seg.evaluated_at.is_some();
    if told && changed {
        exited.sort_unstable();
        entered.sort_unstable();
        let events: Vec<(NewEvent, String)> = exited
            .iter()
            .map(|&c| {
                let event = payload::segment_exited(seg.id, &seg.name, c);
                (event, key("segment_exited", seg.id, c, version))
            })
            .chain(entered.iter().map(|&c| {
                let event = payload::segment_entered(seg.id, &seg.name, c);
                (event, key("segment_entered", seg.id, c, version))
            }))
            .collect();
        emit_all_once(db, now, events).await?;
    }
    segment::Entity::update_many()
        .col_expr(segment::Column::EvaluatedAt, Expr::val(now))
        .col_expr(segment::Column::MembershipVersion, Expr::val(version))
        .filter(segment::Column::Id.eq(seg.id))
        .exec(db)
        .await?;
    seg.evaluated_at = Some(now);
    seg.membership_version = version;
    let evaluation = Evaluation {
        entered: entered.len() as u64,
        exited: exited.len() as u64,
        told,
    };
    Ok((seg, evaluation))
}

/// Drops the kept members `query` no longer selects; who they were.
async fn leave(
    db: &impl ConnectionTrait,
    segment_id: i64,
    query: Condition,
) -> AppResult<Vec<i64>> {
    use member::Column as M;
    let still_in = customers_joined()
        .select_only()
        .expr(Expr::val(1))
        .filter(
            Expr::col((customer::Entity, customer::Column::Id))
                .equals((member::Entity, M::CustomerId)),
        )
        .filter(query)
        .into_query();
    let delete = Query::delete()
        .from_table(member::Entity)
        .and_where(Expr::col((member::Entity, M::SegmentId)).eq(segment_id))
        .and_where(Expr::exists(still_in).not())
        .returning_col(M::CustomerId)
        .to_owned();
    ids(db.query_all(&delete).await?)
}

/// Keeps the customers `query` selects who are not kept yet, as entered at
/// `now`; who they were.
async fn enter(
    db: &impl ConnectionTrait,
    segment_id: i64,
    query: Condition,
    now: DateTime<Utc>,
) -> AppResult<Vec<i64>> {
    use member::Column as M;
    let kept = Query::select()
        .expr(Expr::val(1))
        .from(member::Entity)
        .and_where(Expr::col((member::Entity, M::SegmentId)).eq(segment_id))
        .and_where(
            Expr::col((member::Entity, M::CustomerId))
                .equals((customer::Entity, customer::Column::Id)),
        )
        .to_owned();
    let selected = customers_joined()
        .select_only()
        .expr(Expr::val(segment_id))
        .column(customer::Column::Id)
        .expr(Expr::val(now))
        .filter(query)
        .filter(Expr::exists(kept).not())
        .into_query();
    let insert = Query::insert()
        .into_table(member::Entity)
        .columns([M::SegmentId, M::CustomerId, M::EnteredAt])
        .select_from(selected)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("segment members insert: {e}")))?
        .returning_col(M::CustomerId)
        .to_owned();
    ids(db.query_all(&insert).await?)
}

fn ids(rows: Vec<QueryResult>) -> AppResult<Vec<i64>> {
    Ok(rows
        .iter()
        .map(|row| row.try_get_by_index::<i64>(0))
        .collect::<Result<_, _>>()?)
}

/// Drops the kept membership of segment `id` (tracking turned off): no
/// exits are told, since nobody left the segment.
pub(super) async fn forget(db: &impl ConnectionTrait, id: i64) -> AppResult<()> {
    member::Entity::delete_many()
        .filter(member::Column::SegmentId.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_re_entry_has_a_key_of_its_own() {
        assert_eq!(key("segment_entered", 3, 42, 1), "segment_entered:3:42:1");
        assert_ne!(
            key("segment_entered", 3, 42, 1),
            key("segment_entered", 3, 42, 4)
        );
        assert_ne!(
            key("segment_entered", 3, 42, 2),
            key("segment_exited", 3, 42, 2)
        );
    }
}
