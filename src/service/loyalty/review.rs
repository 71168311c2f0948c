//! Tier reviews: the tier policy (`domain::tiers::policy`) applied to
//! accounts at the clock's time, from the orders that count towards tiers,
//! with what it gives written on the account (`tier_review_at`,
//! `tier_expires_at`, `tier_notice_at`, `tier_spend_to_keep`, and
//! `tier_due_at`, the next instant any of them changes without a write).
//!
//! Every write that moves spend reviews its customer ([`super::refresh_tier`]);
//! time does the rest, so accounts are reviewed again when `tier_due_at`
//! passes: by a read of the account (before it is shown), by the events
//! scheduler in `serve` and by `c360 loyalty settle` ([`review_due`]).
//! A review that lowers a tier tells `loyalty.tier_changed` (DOWN, reason
//! `REVIEW`, or `SPEND_WINDOW` under the rolling policy); an account inside
//! the downgrade notice of a review it would lose its tier at is told
//! `loyalty.tier_at_risk`, once per review (natural key
//! `tier_at_risk:<customer>:<review>:<tier>`). Events are appended in the
//! reviewing transaction.
//!
//! Per batch of up to a thousand accounts: one statement finds them (a
//! range on the `tier_due_at` index), one locks their customers on
//! PostgreSQL and one reads them again under the lock, one reads the
//! orders that count, one UPDATE writes every account whose standing
//! changed, and the events go in one insert each (tier changes; notices,
//! insert-or-ignore on their key). Writes to a customer lock its row first
//! too, so a review and a write of one customer queue, and two concurrent
//! sweeps review each account once.

use std::collections::{BTreeMap, HashMap, HashSet};

use c360_entity::enums::LoyaltyTier;
use c360_entity::{loyalty_account, order};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{CaseStatement, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveEnum, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DeriveIden,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::balances::IDS_PER_STATEMENT;
use super::tiers::TierReason;
use crate::domain::orders::SPENDING;
use crate::domain::tiers::ORDER;
use crate::domain::tiers::policy::{Keep, Spend, Standing, standing};
use crate::error::AppResult;
use crate::events::{self, NewEvent, payload};
use crate::service::Rules;
use crate::service::owner::lock_customers;

/// Accounts a sweep reviews per transaction.
const BATCH: u64 = 1_000;

/// What reviewing did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reviewed {
    /// Accounts reviewed.
    pub accounts: u64,
    /// Tiers lowered.
    pub lowered: u64,
    /// `loyalty.tier_at_risk` notices appended (each once per review).
    pub told_at_risk: u64,
}

impl std::ops::AddAssign for Reviewed {
    fn add_assign(&mut self, other: Reviewed) {
        self.accounts += other.accounts;
        self.lowered += other.lowered;
        self.told_at_risk += other.told_at_risk;
    }
}

/// One account's review: the tier it held and where it stands now.
#[derive(Debug, Clone, Copy)]
pub(super) struct Outcome {
    pub customer: i64,
    pub from: LoyaltyTier,
    pub standing: Standing,
}

fn rank(tier: LoyaltyTier) -> usize {
    ORDER.iter().position(|t| *t == tier).unwrap_or(0)
}

/// Reviews every account due at `now`, a batch per transaction, until none
/// is due: what `c360 loyalty settle` and the events scheduler run.
pub async fn review_due(
    db: &DatabaseConnection,
    rules: &Rules,
    now: DateTime<Utc>,
) -> AppResult<Reviewed> {
    let mut reviewed = Reviewed::default();
    let mut seen = HashSet::new();
    loop {
        let txn = crate::db::begin_write(db).await?;
        let batch = due(&txn, now, None).await?;
        if batch.is_empty() {
            break;
        }
        let full = batch.len() as u64 == BATCH;
        let ids: Vec<i64> = batch.iter().map(|a| a.customer_id).collect();
        // A review moves `tier_due_at` past `now`; an account found twice
        // would mean it did not, and the sweep stops rather than spin.
        if !ids.iter().any(|id| seen.insert(*id)) {
            break;
        }
        let accounts = if txn.get_database_backend() == DbBackend::Postgres {
            lock_customers(&txn, &ids).await?;
            due(&txn, now, Some(&ids)).await?
        } else {
            batch
        };
        reviewed += review_accounts(&txn, rules, now, accounts, None).await?;
        txn.commit().await?;
        if !full {
            break;
        }
    }
    Ok(reviewed)
}

/// `applied_settings`: a value the store's data was made under, by name.
#[derive(DeriveIden)]
enum AppliedSettings {
    Table,
    Name,
    Value,
    AppliedAt,
}

/// The name the tier rules' key is kept under in `applied_settings`.
const RULES_SETTING: &str = "tier_rules";

/// What a stored review depends on besides the orders: the policy, its
/// notice and time zone, the thresholds and the base currency.
fn rules_key(rules: &Rules) -> String {
    let p = &rules.tier_policy;
    let t = &rules.tiers;
    format!(
        "{:?};notice={}d;tz={};tiers={}/{}/{};currency={}",
        p.keep, p.notice_days, p.tz, t.silver, t.gold, t.platinum, rules.base_currency
    )
}

/// Makes every account above BRONZE due at `now` when the store's reviews
/// were made under other tier rules than `rules` (a changed policy,
/// notice, time zone, threshold or base currency), so the change applies at
/// the next review pass or read instead of at each account's old review
/// instant; then records `rules` as applied. Run once as the app starts:
/// one read when nothing changed. Whether the accounts were marked.
pub async fn mark_due_on_new_rules(
    db: &DatabaseConnection,
    rules: &Rules,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    use loyalty_account::Column as A;
    let key = rules_key(rules);
    let txn = crate::db::begin_write(db).await?;
    let stored = Query::select()
        .column(AppliedSettings::Value)
        .from(AppliedSettings::Table)
        .and_where(Expr::col(AppliedSettings::Name).eq(RULES_SETTING))
        .to_owned();
    let stored: Option<String> = match txn.query_one(&stored).await? {
        Some(row) => Some(row.try_get_by_index(0)?),
        None => None,
    };
    if stored.as_deref() == Some(key.as_str()) {
        return Ok(false);
    }
    let due = Query::update()
        .table(loyalty_account::Entity)
        .value(A::TierDueAt, now.trunc_subsecs(0))
        .and_where(Expr::col(A::Tier).ne(LoyaltyTier::Bronze.to_value()))
        .to_owned();
    txn.execute(&due).await?;
    record_rules(&txn, &key, now).await?;
    txn.commit().await?;
    Ok(true)
}

/// Records the rules of `key` as the ones every stored review was made
/// under.
async fn record_rules(db: &impl ConnectionTrait, key: &str, now: DateTime<Utc>) -> AppResult<()> {
    use AppliedSettings as S;
    let record = Query::insert()
        .into_table(S::Table)
        .columns([S::Name, S::Value, S::AppliedAt])
        .values([
            RULES_SETTING.into(),
            key.into(),
            now.trunc_subsecs(0).into(),
        ])
        .map_err(|e| crate::error::AppError::Internal(e.into()))?
        .on_conflict(
            OnConflict::column(S::Name)
                .update_columns([S::Value, S::AppliedAt])
                .to_owned(),
        )
        .to_owned();
    db.execute(&record).await?;
    Ok(())
}

/// Reviews those of the accounts of `customer_ids` that are due at `now`,
/// in the caller's transaction, locking their customers first: what a read
/// of due accounts runs before showing them.
pub async fn review_due_of(
    db: &impl ConnectionTrait,
    rules: &Rules,
    now: DateTime<Utc>,
    customer_ids: &[i64],
) -> AppResult<Reviewed> {
    let mut reviewed = Reviewed::default();
    for chunk in customer_ids.chunks(IDS_PER_STATEMENT) {
        lock_customers(db, chunk).await?;
        let accounts = due(db, now, Some(chunk)).await?;
        reviewed += review_accounts(db, rules, now, accounts, None).await?;
    }
    Ok(reviewed)
}

/// Reviews every account above BRONZE at `now`, telling no one: for history
/// loaded in bulk (`c360 seed`), whose tiers are not news. How many tiers
/// changed. Every account above BRONZE then stands as `rules` make it, so
/// they are recorded as applied: otherwise the first start would find no
/// rules recorded and make every such account due at once, each read of
/// one a review until a pass had swept them all.
pub async fn review_history(
    db: &impl ConnectionTrait,
    rules: &Rules,
    now: DateTime<Utc>,
) -> AppResult<u64> {
    use loyalty_account::Column as A;
    let mut changed = 0;
    let mut after = 0i64;
    loop {
        let accounts = loyalty_account::Entity::find()
            .filter(A::Tier.ne(LoyaltyTier::Bronze))
            .filter(A::CustomerId.gt(after))
            .order_by_asc(A::CustomerId)
            .limit(BATCH)
            .all(db)
            .await?;
        let Some(last) = accounts.last().map(|a| a.customer_id) else {
            break;
        };
        let full = accounts.len() as u64 == BATCH;
        changed += apply(db, rules, now, &accounts, Held::Stored)
            .await?
            .iter()
            .filter(|o| o.standing.tier != o.from)
            .count() as u64;
        if !full {
            break;
        }
        after = last;
    }
    record_rules(db, &rules_key(rules), now).await?;
    Ok(changed)
}

/// Accounts due at `now` (of `ids`, or the first `BATCH` by due instant).
async fn due(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    ids: Option<&[i64]>,
) -> AppResult<Vec<loyalty_account::Model>> {
    use loyalty_account::Column as A;
    let select = loyalty_account::Entity::find().filter(A::TierDueAt.lte(now));
    Ok(match ids {
        Some(ids) => {
            select
                .filter(A::CustomerId.is_in(ids.iter().copied()))
                .all(db)
                .await?
        }
        None => {
            select
                .order_by_asc(A::TierDueAt)
                .order_by_asc(A::CustomerId)
                .limit(BATCH)
                .all(db)
                .await?
        }
    })
}

/// Reviews `accounts` and tells what changed; `because` is the write that
/// caused the review, `None` for time.
async fn review_accounts(
    db: &impl ConnectionTrait,
    rules: &Rules,
    now: DateTime<Utc>,
    accounts: Vec<loyalty_account::Model>,
    because: Option<TierReason>,
) -> AppResult<Reviewed> {
    if accounts.is_empty() {
        return Ok(Reviewed::default());
    }
    let outcomes = apply(db, rules, now, &accounts, Held::Stored).await?;
    let changes: Vec<NewEvent> = outcomes
        .iter()
        .filter_map(|o| tier_changed(rules, o, because))
        .collect();
    let notices: Vec<(NewEvent, String)> = outcomes
        .iter()
        .filter_map(|o| at_risk(rules, o, now))
        .collect();
    events::emit_all(db, now, changes).await?;
    let told_at_risk = events::emit_all_once(db, now, notices).await?;
    Ok(Reviewed {
        accounts: outcomes.len() as u64,
        lowered: outcomes
            .iter()
            .filter(|o| rank(o.standing.tier) < rank(o.from))
            .count() as u64,
        told_at_risk,
    })
}

/// The tier a review starts from, which it keeps or lowers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Held {
    /// The account's stored tier.
    Stored,
    /// Whatever the policy gives the history: after a merge, the history
    /// is two customers', and the tier either held comes with its own.
    Policy,
}

/// Where each of `accounts` stands at `now`, written on those whose stored
/// standing differs: one read of their orders, one UPDATE.
pub(super) async fn apply(
    db: &impl ConnectionTrait,
    rules: &Rules,
    now: DateTime<Utc>,
    accounts: &[loyalty_account::Model],
    held: Held,
) -> AppResult<Vec<Outcome>> {
    let ids: Vec<i64> = accounts.iter().map(|a| a.customer_id).collect();
    let histories = histories(db, rules, &ids).await?;
    let outcomes: Vec<Outcome> = accounts
        .iter()
        .map(|a| {
            outcome(
                rules,
                a,
                histories.get(&a.customer_id).map_or(&[], Vec::as_slice),
                held,
                now,
            )
        })
        .collect();
    let changed: Vec<Outcome> = accounts
        .iter()
        .zip(&outcomes)
        .filter(|(a, o)| !holds(a, &o.standing))
        .map(|(_, o)| *o)
        .collect();
    for chunk in changed.chunks(IDS_PER_STATEMENT) {
        write(db, now, chunk).await?;
    }
    Ok(outcomes)
}

/// Where `account` stands at `now` over its spend `history`.
fn outcome(
    rules: &Rules,
    account: &loyalty_account::Model,
    history: &[Spend],
    held: Held,
    now: DateTime<Utc>,
) -> Outcome {
    Outcome {
        customer: account.customer_id,
        from: account.tier,
        standing: standing(
            &rules.tier_policy,
            &rules.tiers,
            match held {
                Held::Stored => account.tier,
                Held::Policy => LoyaltyTier::Platinum,
            },
            history,
            now,
        ),
    }
}

/// An order's part in the spend tiers count ([`histories`]): `None` for an
/// order that does not count (never paid, or in another currency).
pub fn spend_of(rules: &Rules, order: &order::Model) -> Option<Spend> {
    (order.currency == rules.base_currency && SPENDING.contains(&order.status)).then(|| Spend {
        placed_at: order.placed_at,
        net: order.total - order.refunded,
    })
}

/// What [`super::refresh_tier`] decides for one account, worked out from
/// rows already read: for writes applied many at a time, which keep the
/// account and its spend history themselves and write what changed with
/// [`write_standings`].
#[derive(Debug, Clone)]
pub struct TierReview {
    /// Where the account stands after the write.
    pub standing: Standing,
    /// Whether that differs from what the account holds (and is written).
    pub changed: bool,
    /// `loyalty.tier_at_risk` with its natural key, appended at most once.
    pub notice: Option<(NewEvent, String)>,
    /// `loyalty.tier_changed`, emitted with the write's events.
    pub tier_changed: Option<NewEvent>,
}

/// [`super::refresh_tier`] of `account` over its spend `history` at `now`,
/// after a write done `because`, without the store: `account` is left
/// holding the standing, as the write leaves the stored one.
pub fn review_one(
    rules: &Rules,
    account: &mut loyalty_account::Model,
    history: &[Spend],
    now: DateTime<Utc>,
    because: TierReason,
) -> TierReview {
    let held = match because {
        TierReason::Merge => Held::Policy,
        _ => Held::Stored,
    };
    let o = outcome(rules, account, history, held, now);
    let s = o.standing;
    let changed = !holds(account, &s);
    if changed {
        account.tier = s.tier;
        account.tier_review_at = s.review_at;
        account.tier_expires_at = s.expires_at;
        account.tier_notice_at = s.notice_at;
        account.tier_due_at = s.due_at;
        account.tier_spend_to_keep = s.spend_to_keep;
    }
    TierReview {
        standing: s,
        changed,
        notice: at_risk(rules, &o, now),
        tier_changed: tier_changed(rules, &o, Some(because)),
    }
}

/// Writes each customer's standing on its account: one UPDATE per
/// thousand accounts, as a review does.
pub async fn write_standings(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    standings: &[(i64, Standing)],
) -> AppResult<()> {
    let outcomes: Vec<Outcome> = standings
        .iter()
        .map(|(customer, standing)| Outcome {
            customer: *customer,
            from: standing.tier,
            standing: *standing,
        })
        .collect();
    for chunk in outcomes.chunks(IDS_PER_STATEMENT) {
        write(db, now, chunk).await?;
    }
    Ok(())
}

/// Whether the account already holds `s`.
fn holds(a: &loyalty_account::Model, s: &Standing) -> bool {
    a.tier == s.tier
        && a.tier_review_at == s.review_at
        && a.tier_expires_at == s.expires_at
        && a.tier_notice_at == s.notice_at
        && a.tier_due_at == s.due_at
        && a.tier_spend_to_keep == s.spend_to_keep
}

/// The orders of `ids` that count towards tiers (paid at some point, in the
/// base currency), as spend: one statement.
pub async fn histories(
    db: &impl ConnectionTrait,
    rules: &Rules,
    ids: &[i64],
) -> AppResult<HashMap<i64, Vec<Spend>>> {
    use order::Column as O;
    let mut out: HashMap<i64, Vec<Spend>> = HashMap::new();
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        let rows: Vec<(i64, DateTime<Utc>, i64, i64)> = order::Entity::find()
            .select_only()
            .column(O::CustomerId)
            .column(O::PlacedAt)
            .column(O::Total)
            .column(O::Refunded)
            .filter(O::CustomerId.is_in(chunk.iter().copied()))
            .filter(O::Currency.eq(rules.base_currency.as_str()))
            .filter(O::Status.is_in(SPENDING.map(|s| s.to_value())))
            .into_tuple()
            .all(db)
            .await?;
        for (customer, placed_at, total, refunded) in rows {
            out.entry(customer).or_default().push(Spend {
                placed_at,
                net: total - refunded,
            });
        }
    }
    Ok(out)
}

/// One UPDATE setting each account of `changed` to its standing: a CASE per
/// column over the ids sharing each value.
async fn write(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    changed: &[Outcome],
) -> AppResult<()> {
    use loyalty_account::Column as A;
    let per = |f: &dyn Fn(&Standing) -> sea_orm::Value| -> Vec<(i64, sea_orm::Value)> {
        changed
            .iter()
            .map(|o| (o.customer, f(&o.standing)))
            .collect()
    };
    let update = Query::update()
        .table(loyalty_account::Entity)
        .value(
            A::Tier,
            by_value(A::Tier, per(&|s| s.tier.to_value().into())),
        )
        .value(
            A::TierReviewAt,
            by_value(A::TierReviewAt, per(&|s| s.review_at.into())),
        )
        .value(
            A::TierExpiresAt,
            by_value(A::TierExpiresAt, per(&|s| s.expires_at.into())),
        )
        .value(
            A::TierNoticeAt,
            by_value(A::TierNoticeAt, per(&|s| s.notice_at.into())),
        )
        .value(
            A::TierDueAt,
            by_value(A::TierDueAt, per(&|s| s.due_at.into())),
        )
        .value(
            A::TierSpendToKeep,
            by_value(A::TierSpendToKeep, per(&|s| s.spend_to_keep.into())),
        )
        .value(A::UpdatedAt, now.trunc_subsecs(0))
        .and_where(Expr::col(A::CustomerId).is_in(changed.iter().map(|o| o.customer)))
        .to_owned();
    db.execute(&update).await?;
    Ok(())
}

/// `CASE WHEN customer_id IN (<ids with v1>) THEN v1 WHEN ... ELSE <column>
/// END`: one branch per distinct value, so review dates shared by many
/// accounts (1 January under `next-year`) cost one parameter.
fn by_value(column: loyalty_account::Column, rows: Vec<(i64, sea_orm::Value)>) -> Expr {
    // Values have no order of their own; equal ones print alike.
    let mut groups: BTreeMap<String, (sea_orm::Value, Vec<i64>)> = BTreeMap::new();
    for (id, value) in rows {
        groups
            .entry(format!("{value:?}"))
            .or_insert_with(|| (value, Vec::new()))
            .1
            .push(id);
    }
    let mut case = CaseStatement::new();
    for (value, ids) in groups.into_values() {
        case = case.case(
            Expr::col(loyalty_account::Column::CustomerId).is_in(ids),
            Expr::val(value),
        );
    }
    case.finally(Expr::col(column)).into()
}

/// The `loyalty.tier_changed` of a review that moved the tier. `because` is
/// the write behind it: a tier moving the way the write moves spend gives
/// the write's reason, any other move (and one with no write) is time's:
/// `REVIEW`, or `SPEND_WINDOW` under the rolling policy.
pub(super) fn tier_changed(
    rules: &Rules,
    o: &Outcome,
    because: Option<TierReason>,
) -> Option<NewEvent> {
    let (from, to) = (o.from, o.standing.tier);
    if from == to {
        return None;
    }
    let up = rank(to) > rank(from);
    let timed = match rules.tier_policy.keep {
        Keep::Rolling => TierReason::SpendWindow,
        Keep::NextYear | Keep::Days(_) => TierReason::Review,
    };
    let reason = because.map_or(timed, |b| b.for_move(up, timed));
    Some(payload::tier_changed(
        o.customer,
        from,
        to,
        if up { "UP" } else { "DOWN" },
        reason.as_str(),
    ))
}

/// The `loyalty.tier_at_risk` notice of an account inside the notice of a
/// review it would lose its tier at, with its natural key.
pub(super) fn at_risk(
    rules: &Rules,
    o: &Outcome,
    now: DateTime<Utc>,
) -> Option<(NewEvent, String)> {
    let s = &o.standing;
    let review = s.review_at.filter(|_| s.at_risk(now))?;
    let key = format!(
        "tier_at_risk:{}:{}:{}",
        o.customer,
        review.timestamp(),
        s.tier.to_value()
    );
    let event = payload::tier_at_risk(
        o.customer,
        s.tier,
        s.tier_after_review,
        review,
        s.spend_to_keep,
        &rules.base_currency,
    );
    Some((event, key))
}
