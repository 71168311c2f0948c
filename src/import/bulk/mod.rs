//! Orders imported a batch at a time, with the result of importing them one
//! by one through [`crate::service::orders`] (the `--record-at-a-time`
//! path, kept for comparison): the same rows, audit rows, events and
//! rejected lines, in the same order.
//!
//! A batch is one transaction. Its records are checked in Rust; their
//! customers are read in one statement per way of naming them, their
//! orders already stored (by `externalRef`) with their lines in one each.
//! Each record then falls in one of four cases, in file order:
//! - rejected: the first check it fails, with the error the services give;
//! - unchanged: an order stored before the batch, with the same content and
//!   state, which a record-at-a-time import leaves alone too;
//! - new: an order not stored yet, ingested and taken to its status by the
//!   moves [`segment`] applies in memory and writes with multi-row inserts;
//! - anything else (an order the batch already touched, a stored order
//!   moving on, a referee's paid order that may reward a referral, an
//!   order number taken): the record-at-a-time path, in a savepoint,
//!   after the new orders before it are written, so it reads what they
//!   wrote.
//!
//! The batch's events are appended and numbered by the batch, not by the
//! outbox's per-row trigger ([`outbox`]).
//!
//! A statement of the batch that fails for any other reason rolls the
//! batch back, and the batch is imported again record by record, so the
//! rejected lines stay exact.

mod outbox;
mod rows;
mod segment;

use std::collections::{HashMap, HashSet};

use c360_entity::enums::{OrderStatus, ReferralStatus};
use c360_entity::{customer, order, order_line, referral};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

use self::outbox::Outbox;
use self::segment::NewOrderWork;
use super::read::Numbered;
use super::records::{Context, CustomerKey, OrderRecord, Record};
use super::{Options, Progress, Report};
use crate::error::{AppError, AppResult};
use crate::service::orders::{NewOrder, Step, same_content, steps};
use crate::service::{Outcome, owner};

/// Values bound per `IN (...)` list.
const IDS_PER_STATEMENT: usize = 1_000;

/// Imports order records batch by batch; see the module documentation.
pub(super) async fn load(
    db: &DatabaseConnection,
    ctx: &Context,
    records: Box<dyn Iterator<Item = Numbered<OrderRecord>>>,
    options: &Options,
    progress: &Progress,
) -> AppResult<Report> {
    let mut report = Report::default();
    let mut records = records.peekable();
    while records.peek().is_some() {
        let batch: Vec<Numbered<OrderRecord>> =
            records.by_ref().take(options.batch_size.max(1)).collect();
        let txn = crate::db::begin_write(db).await?;
        match write_batch(&txn, ctx, &batch).await {
            Ok(results) => {
                txn.commit().await?;
                for (line, result) in results {
                    match result {
                        Ok(outcome) => report.count(outcome),
                        Err(err) => report.reject(line, err),
                    }
                }
            }
            Err(err) => {
                txn.rollback().await?;
                tracing::warn!(
                    error = %err,
                    first_line = batch.first().map_or(0, |r| r.line),
                    "a batch failed as a whole; importing it record by record"
                );
                super::write_records(db, ctx, batch, &mut report).await?;
            }
        }
        progress.update(&report);
    }
    Ok(report)
}

/// What becomes of one record of a batch.
enum Plan {
    Done(AppResult<Outcome>),
    /// A new order written with the new orders around it.
    New,
    /// Through the record-at-a-time path.
    OneByOne,
}

/// A record past the checks that need no store, waiting for its customer.
struct Named {
    target: (OrderStatus, i64),
    key: CustomerKey,
}

/// A record past every check that needs no store but the reads below.
struct Ready {
    input: NewOrder,
    subtotal: i64,
    target: (OrderStatus, i64),
}

/// Writes one batch in `txn`: each record's line and result, in file
/// order. An error is a statement that failed unexpectedly.
async fn write_batch(
    txn: &DatabaseTransaction,
    ctx: &Context,
    batch: &[Numbered<OrderRecord>],
) -> AppResult<Vec<(u64, AppResult<Outcome>)>> {
    let checked = check(batch, ctx);
    let keys = checked
        .iter()
        .filter_map(|c| c.as_ref().ok())
        .map(|n| n.key.clone());
    let found = customers(txn, keys).await?;
    // The order as ingest validates it, after its customer, as a record
    // at a time checks them.
    let ready: Vec<AppResult<Ready>> = batch
        .iter()
        .zip(checked)
        .map(|(numbered, checked)| {
            let named = checked?;
            let Ok(record) = &numbered.record else {
                unreachable!("a record that did not parse fails its check");
            };
            let customer_id = record.customer().found(found.get(&named.key), ctx)?;
            let (input, subtotal) = record
                .clone()
                .into_new_order(customer_id, ctx)?
                .validate()?;
            Ok(Ready {
                input,
                subtotal,
                target: named.target,
            })
        })
        .collect();
    let ok = || ready.iter().filter_map(|r| r.as_ref().ok());
    let mut customer_ids: Vec<i64> = ok().map(|r| r.input.customer_id).collect();
    customer_ids.sort_unstable();
    customer_ids.dedup();
    // As a write to a customer does, so a concurrent write waits for the batch.
    owner::lock_customers(txn, &customer_ids).await?;
    let refs: Vec<String> = ok().filter_map(|r| r.input.external_ref.clone()).collect();
    let stored = stored_orders(txn, &refs).await?;
    let numbers: Vec<String> = ok().filter_map(|r| r.input.order_number.clone()).collect();
    let taken = taken_numbers(txn, &numbers).await?;
    let referees = waiting_referees(txn, &customer_ids).await?;

    let mut seen_refs: HashSet<String> = HashSet::new();
    let mut seen_numbers: HashSet<String> = HashSet::new();
    let mut work: Vec<NewOrderWork> = Vec::new();
    let mut plans: Vec<Plan> = Vec::with_capacity(batch.len());
    for ready in ready {
        let Ready {
            input,
            subtotal,
            target,
        } = match ready {
            Ok(r) => r,
            Err(err) => {
                plans.push(Plan::Done(Err(err)));
                continue;
            }
        };
        let reference = input.external_ref.clone().unwrap_or_default();
        let plan = if seen_refs.contains(&reference) {
            Plan::OneByOne
        } else if let Some((existing, lines)) = stored.get(&reference) {
            match same_content(existing.clone(), lines, &input)
                .and_then(|o| steps((o.status, o.refunded), target))
            {
                Err(err) => Plan::Done(Err(err)),
                Ok(moves) if moves.is_empty() => Plan::Done(Ok(Outcome::Unchanged)),
                Ok(_) => {
                    seen_refs.insert(reference);
                    Plan::OneByOne
                }
            }
        } else {
            // A new order the file's state cannot follow is ingested and
            // then refused as a whole: nothing stays.
            match steps((input.status, 0), target) {
                Err(err) => Plan::Done(Err(err)),
                Ok(moves) => {
                    let number_taken = input
                        .order_number
                        .as_ref()
                        .is_some_and(|n| taken.contains(n) || !seen_numbers.insert(n.clone()));
                    let may_reward =
                        input.status == OrderStatus::Paid && referees.contains(&input.customer_id);
                    seen_refs.insert(reference);
                    if number_taken || may_reward || !covered(input.status, &moves) {
                        Plan::OneByOne
                    } else {
                        work.push(NewOrderWork {
                            input,
                            subtotal,
                            target,
                            moves,
                        });
                        Plan::New
                    }
                }
            }
        };
        plans.push(plan);
    }

    let mut results = Vec::with_capacity(batch.len());
    let mut outbox = Outbox::new(txn.get_database_backend());
    let (mut written, mut planned) = (0, 0);
    for (numbered, plan) in batch.iter().zip(plans) {
        let result = match plan {
            Plan::Done(result) => result,
            Plan::New => {
                planned += 1;
                Ok(Outcome::Created)
            }
            Plan::OneByOne => {
                segment::write(txn, ctx, &work[written..planned], &mut outbox).await?;
                written = planned;
                outbox.before_other_rows(txn).await?;
                let Ok(record) = &numbered.record else {
                    unreachable!("a record that did not parse is done");
                };
                let savepoint = txn.begin().await?;
                match record.clone().write(&savepoint, ctx).await {
                    Ok(outcome) => {
                        savepoint.commit().await?;
                        Ok(outcome)
                    }
                    Err(err) => {
                        savepoint.rollback().await?;
                        Err(err)
                    }
                }
            }
        };
        results.push((numbered.line, result));
    }
    segment::write(txn, ctx, &work[written..planned], &mut outbox).await?;
    // The batch's events are numbered as it commits: nothing may follow.
    outbox.finish(txn).await?;
    Ok(results)
}

/// The checks of `batch` before anything is read: each record's target
/// state and customer key, or its rejection (a line that did not parse
/// included).
fn check(batch: &[Numbered<OrderRecord>], ctx: &Context) -> Vec<Result<Named, AppError>> {
    batch
        .iter()
        .map(|Numbered { record, .. }| {
            let record = record.as_ref().map_err(|reason| AppError::BadUserInput {
                message: reason.clone(),
                field: None,
            })?;
            let target = record.target()?;
            let key = record.customer().key(ctx)?;
            Ok(Named { target, key })
        })
        .collect()
}

/// The customers `keys` name, found in one statement per kind of key.
async fn customers(
    db: &impl ConnectionTrait,
    keys: impl Iterator<Item = CustomerKey>,
) -> AppResult<HashMap<CustomerKey, customer::Model>> {
    let (mut ids, mut emails, mut refs) = (HashSet::new(), HashSet::new(), HashSet::new());
    for key in keys {
        match key {
            CustomerKey::Id(id) => ids.insert(id),
            CustomerKey::Email(email) => emails.insert(email),
            CustomerKey::External { reference, .. } => refs.insert(reference),
        };
    }
    let mut found = HashMap::new();
    let ids: Vec<i64> = ids.into_iter().collect();
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        for c in customer::Entity::find()
            .filter(customer::Column::Id.is_in(chunk.iter().copied()))
            .all(db)
            .await?
        {
            found.insert(CustomerKey::Id(c.id), c);
        }
    }
    let emails: Vec<String> = emails.into_iter().collect();
    for chunk in emails.chunks(IDS_PER_STATEMENT) {
        for c in customer::Entity::find()
            .filter(customer::Column::Email.is_in(chunk.iter().cloned()))
            .all(db)
            .await?
        {
            found.insert(CustomerKey::Email(c.email.clone()), c);
        }
    }
    let refs: Vec<String> = refs.into_iter().collect();
    for chunk in refs.chunks(IDS_PER_STATEMENT) {
        for c in customer::Entity::find()
            .filter(customer::Column::ExternalRef.is_in(chunk.iter().cloned()))
            .all(db)
            .await?
        {
            if let (Some(source), Some(reference)) = (&c.external_source, &c.external_ref) {
                let key = CustomerKey::External {
                    source: source.clone(),
                    reference: reference.clone(),
                };
                found.insert(key, c);
            }
        }
    }
    Ok(found)
}

/// The stored orders with these external references, with their lines in
/// id order: two statements per thousand.
async fn stored_orders(
    db: &impl ConnectionTrait,
    refs: &[String],
) -> AppResult<HashMap<String, (order::Model, Vec<order_line::Model>)>> {
    let mut out = HashMap::new();
    for chunk in refs.chunks(IDS_PER_STATEMENT) {
        let found = order::Entity::find()
            .filter(order::Column::ExternalRef.is_in(chunk.iter().cloned()))
            .all(db)
            .await?;
        if found.is_empty() {
            continue;
        }
        let mut lines: HashMap<i64, Vec<order_line::Model>> = HashMap::new();
        for l in order_line::Entity::find()
            .filter(order_line::Column::OrderId.is_in(found.iter().map(|o| o.id)))
            .order_by_asc(order_line::Column::Id)
            .all(db)
            .await?
        {
            lines.entry(l.order_id).or_default().push(l);
        }
        for o in found {
            if let Some(r) = o.external_ref.clone() {
                let l = lines.remove(&o.id).unwrap_or_default();
                out.insert(r, (o, l));
            }
        }
    }
    Ok(out)
}

/// Which of `numbers` stored orders carry.
async fn taken_numbers(
    db: &impl ConnectionTrait,
    numbers: &[String],
) -> AppResult<HashSet<String>> {
    let mut out = HashSet::new();
    for chunk in numbers.chunks(IDS_PER_STATEMENT) {
        let found: Vec<String> = order::Entity::find()
            .select_only()
            .column(order::Column::OrderNumber)
            .filter(order::Column::OrderNumber.is_in(chunk.iter().cloned()))
            .into_tuple()
            .all(db)
            .await?;
        out.extend(found);
    }
    Ok(out)
}

/// Which of `customers` are referees whose referral still waits for their
/// first paid order.
async fn waiting_referees(db: &impl ConnectionTrait, customers: &[i64]) -> AppResult<HashSet<i64>> {
    let mut out = HashSet::new();
    for chunk in customers.chunks(IDS_PER_STATEMENT) {
        let found: Vec<i64> = referral::Entity::find()
            .select_only()
            .column(referral::Column::RefereeCustomerId)
            .filter(referral::Column::Status.eq(ReferralStatus::SignedUp))
            .filter(referral::Column::RefereeCustomerId.is_in(chunk.iter().copied()))
            .into_tuple::<Option<i64>>()
            .all(db)
            .await?
            .into_iter()
            .flatten()
            .collect();
        out.extend(found);
    }
    Ok(out)
}

/// Whether the moves taking a new order from `entry` are ones
/// [`segment`] applies: cancelling a pending order, fulfilling a paid one,
/// or one refund of a paid one.
fn covered(entry: OrderStatus, moves: &[Step]) -> bool {
    match moves {
        [] => true,
        [Step::Status(OrderStatus::Cancelled)] => entry == OrderStatus::Pending,
        [Step::Status(OrderStatus::Fulfilled)] | [Step::Refund(_)] => entry == OrderStatus::Paid,
        _ => false,
    }
}
