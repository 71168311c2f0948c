//! The balances cached on `loyalty_accounts` and the ledger sums they are
//! recomputed from: available, pending, lifetime earned and the next
//! instant the account has something to settle.

use c360_entity::enums::{LoyaltyTransactionKind, LoyaltyTransactionState};
use c360_entity::{loyalty_account, loyalty_transaction};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{Alias, Cond, Expr, ExprTrait, Func, Query, SubQueryStatement};
use sea_orm::{ActiveEnum, ConnectionTrait};

use crate::error::AppResult;

/// Accounts per statement when refreshing a list of customers.
pub(super) const IDS_PER_STATEMENT: usize = 1_000;

/// Sets `points_available`, `points_pending` and `points_lifetime_earned` of
/// the accounts of `customer_ids` (all accounts for `None`) from the ledger,
/// `settle_due_at` to the next instant something is due, and `updated_at`
/// to `now`:
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
    now: DateTime<Utc>,
) -> AppResult<()> {
    let now = now.trunc_subsecs(0);
    match customer_ids {
        None => {
            db.execute(&balances_update(None, now)).await?;
        }
        Some(ids) => {
            let mut ids = ids.to_vec();
            ids.sort_unstable();
            ids.dedup();
            for chunk in ids.chunks(IDS_PER_STATEMENT) {
                db.execute(&balances_update(Some(chunk), now)).await?;
            }
        }
    }
    Ok(())
}

fn balances_update(ids: Option<&[i64]>, now: DateTime<Utc>) -> sea_orm::sea_query::UpdateStatement {
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
        .value(A::UpdatedAt, now);
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

/// `SUM(points)` of the customer's AVAILABLE ledger rows.
pub(super) async fn available_in_ledger(
    db: &impl ConnectionTrait,
    customer_id: i64,
) -> AppResult<i64> {
    use loyalty_transaction::Column as L;
    let select = Query::select()
        .expr(Expr::cust(r#"CAST(COALESCE(SUM("points"), 0) AS BIGINT)"#))
        .from(loyalty_transaction::Entity)
        .and_where(Expr::col(L::CustomerId).eq(customer_id))
        .and_where(Expr::col(L::State).eq(LoyaltyTransactionState::Available.to_value()))
        .to_owned();
    scalar_i64(db, &select).await
}

/// The first column of the first row of `select`, 0 without a row or value.
pub(super) async fn scalar_i64(
    db: &impl ConnectionTrait,
    select: &sea_orm::sea_query::SelectStatement,
) -> AppResult<i64> {
    let row = db.query_one(select).await?;
    Ok(match row {
        Some(row) => row.try_get_by_index::<Option<i64>>(0)?.unwrap_or(0),
        None => 0,
    })
}
