//! `order.follow_up_due`: a FULFILLED order whose follow-up delay
//! (`C360_FOLLOW_UP_AFTER`) has passed is followed up once, by the channels
//! (`C360_FOLLOW_UP_CHANNELS`, in that order) its customer consents to
//! (`domain::follow_ups::Reach`). Key `follow_up_due:<order>`.
//!
//! A FULFILLED order's `updated_at` is its fulfilment: nothing changes a
//! fulfilled order but a refund, which moves it to another status (and out
//! of the follow-ups: a refunded order is not called about). Candidates are
//! one range of the `orders(status, updated_at, id)` index: fulfilled
//! between `now - after - 14 days` (`domain::follow_ups::latest_after_due`)
//! and `now - after`, with no `follow_ups` row yet, in keyset batches, each
//! read with its customer's consents in the same statement.
//!
//! Each batch is one transaction: one insert of its `follow_ups` rows (DUE
//! with the channels, or SKIPPED when the customer allows none, so it is
//! not looked at again in every pass) that ignores orders already there and
//! returns those it inserted, then the events of the DUE ones it inserted.
//! The row and its event commit together, and the order's unique row lets
//! only one of two overlapping passes (or instances) make it: the other's
//! insert skips it, and so does its event. A consent given after a skip
//! does not bring the follow-up back.

use c360_entity::enums::{EmailMarketingState, OrderStatus};
use c360_entity::follow_up::{self, FollowUpState};
use c360_entity::{customer, order};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveEnum, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, FromQueryResult,
    JoinType, QueryFilter, QueryOrder, QuerySelect, RelationTrait,
};

use crate::domain::follow_ups::{self as rule, Reach};
use crate::error::{AppError, AppResult};
use crate::events::scheduler::{BATCH, Pass};
use crate::events::{NewEvent, emit_all_once, payload};
use crate::service::follow_ups::FollowUpRule;

/// Follow-ups one pass made due, and skipped for want of consent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Made {
    pub due: u64,
    pub skipped: u64,
}

fn key(order_id: i64) -> String {
    format!("follow_up_due:{order_id}")
}

/// A fulfilled order and what its customer allows.
#[derive(Debug, FromQueryResult)]
struct Candidate {
    id: i64,
    order_number: String,
    customer_id: i64,
    fulfilled_at: DateTime<Utc>,
    email_marketing_state: EmailMarketingState,
    phone: Option<String>,
    sms_consent_state: EmailMarketingState,
    phone_consent_state: EmailMarketingState,
    erased_at: Option<DateTime<Utc>>,
}

pub(crate) async fn run(db: &DatabaseConnection, pass: &Pass<'_>) -> AppResult<Made> {
    let Some(rule) = &pass.follow_up else {
        return Ok(Made::default());
    };
    let until = pass.now - rule.after;
    let since = until - rule::latest_after_due();
    let mut made = Made::default();
    let mut after: Option<(DateTime<Utc>, i64)> = None;
    loop {
        let batch = candidates(db, since, until, after).await?;
        let Some(last) = batch.last() else { break };
        after = Some((last.fulfilled_at, last.id));
        let full = batch.len() == BATCH;
        let done = make(db, rule, pass.now, batch).await?;
        made.due += done.due;
        made.skipped += done.skipped;
        if !full {
            break;
        }
    }
    Ok(made)
}

/// Up to [`BATCH`] orders fulfilled in `(since, until]` after `after`,
/// without a follow-up, in fulfilment order.
async fn candidates(
    db: &DatabaseConnection,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    after: Option<(DateTime<Utc>, i64)>,
) -> AppResult<Vec<Candidate>> {
    use customer::Column as C;
    use order::Column as O;
    let made = Query::select()
        .expr(Expr::val(1))
        .from(follow_up::Entity)
        .and_where(
            Expr::col((follow_up::Entity, follow_up::Column::OrderId))
                .equals((order::Entity, O::Id)),
        )
        .to_owned();
    let mut select = order::Entity::find()
        .select_only()
        .column(O::Id)
        .column(O::OrderNumber)
        .column(O::CustomerId)
        .column_as(O::UpdatedAt, "fulfilled_at")
        .column(C::EmailMarketingState)
        .column(C::Phone)
        .column(C::SmsConsentState)
        .column(C::PhoneConsentState)
        .column(C::ErasedAt)
        .join(JoinType::InnerJoin, order::Relation::Customer.def())
        .filter(O::Status.eq(OrderStatus::Fulfilled))
        .filter(O::UpdatedAt.gt(since))
        .filter(O::UpdatedAt.lte(until))
        .filter(Expr::exists(made).not());
    if let Some((at, id)) = after {
        select = select.filter(
            Expr::tuple([
                Expr::col((order::Entity, O::UpdatedAt)),
                Expr::col((order::Entity, O::Id)),
            ])
            .gt(Expr::tuple([Expr::val(at), Expr::val(id)])),
        );
    }
    Ok(select
        .order_by_asc(O::UpdatedAt)
        .order_by_asc(O::Id)
        .limit(BATCH as u64)
        .into_model::<Candidate>()
        .all(db)
        .await?)
}

/// Writes the batch's follow-ups and the events of those it made DUE, in
/// one transaction.
async fn make(
    db: &DatabaseConnection,
    rule: &FollowUpRule,
    now: DateTime<Utc>,
    batch: Vec<Candidate>,
) -> AppResult<Made> {
    let mut insert = Query::insert();
    insert.into_table(follow_up::Entity).columns([
        follow_up::Column::OrderId,
        follow_up::Column::CustomerId,
        follow_up::Column::FulfilledAt,
        follow_up::Column::DueAt,
        follow_up::Column::Channels,
        follow_up::Column::State,
        follow_up::Column::CreatedAt,
    ]);
    let mut planned = Vec::with_capacity(batch.len());
    for c in batch {
        let reach = Reach {
            erased: c.erased_at.is_some(),
            email_marketing: c.email_marketing_state,
            phone: c.phone.as_deref(),
            sms: c.sms_consent_state,
            phone_call: c.phone_consent_state,
        };
        let channels = reach.allowed(&rule.channels);
        let state = if channels.is_empty() {
            FollowUpState::Skipped
        } else {
            FollowUpState::Due
        };
        let due_at = c.fulfilled_at + rule.after;
        insert
            .values([
                c.id.into(),
                c.customer_id.into(),
                c.fulfilled_at.into(),
                due_at.into(),
                rule::encode(&channels).into(),
                state.to_value().into(),
                now.into(),
            ])
            .map_err(|e| AppError::Internal(anyhow::anyhow!("follow-up row: {e}")))?;
        planned.push((c, due_at, channels));
    }
    insert
        .on_conflict(
            OnConflict::column(follow_up::Column::OrderId)
                .do_nothing()
                .to_owned(),
        )
        .returning_col(follow_up::Column::OrderId);
    let txn = crate::db::begin_write(db).await?;
    let mut inserted = std::collections::HashSet::new();
    for row in txn.query_all(&insert).await? {
        inserted.insert(row.try_get_by_index::<i64>(0)?);
    }
    let mut made = Made::default();
    let mut events: Vec<(NewEvent, String)> = Vec::new();
    for (c, due_at, channels) in planned {
        if !inserted.contains(&c.id) {
            continue;
        }
        if channels.is_empty() {
            made.skipped += 1;
            continue;
        }
        let names: Vec<&str> = channels.iter().map(|ch| ch.name()).collect();
        let event = payload::follow_up_due(
            c.customer_id,
            c.id,
            &c.order_number,
            c.fulfilled_at,
            due_at,
            &names,
        );
        events.push((event, key(c.id)));
    }
    made.due = emit_all_once(&txn, now, events).await?;
    txn.commit().await?;
    Ok(made)
}
