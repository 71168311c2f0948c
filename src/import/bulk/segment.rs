//! New orders of a batch written together: what ingesting each and taking
//! it to the file's status would write one by one, worked out in memory in
//! file order and written with a few multi-row statements.
//!
//! Reads, for the customers of the run: their loyalty accounts, the spend
//! tiers count (`loyalty::histories`) and, when a refund may take points
//! from it, the AVAILABLE ledger balance. Then, in file order, each order
//! is ingested (PENDING or PAID: `order.placed`, `order.paid`, the EARN
//! row and its events), and moved (cancelled while pending, fulfilled, or
//! refunded once), each step reviewing the customer's tier on the spend
//! as it stands after it (`loyalty::review_one`), as the services do
//! after every write: tier changes and at-risk notices come out where the
//! services emit them, and a customer's second order sees the tier the
//! first one reached. Writes: the orders at their final state (every step
//! is stamped with the run's one instant, so only the last state shows),
//! their lines, the ledger rows, the accounts whose standing moved, then
//! metrics and balances once per customer, the audit rows and the events,
//! each table's rows in the order the services write them.

use std::collections::HashMap;

use c360_entity::enums::{LoyaltyTransactionState, OrderStatus};
use c360_entity::{audit_event, loyalty_account, loyalty_transaction, order, order_line};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{CaseStatement, Expr, ExprTrait, Query};
use sea_orm::{
    ActiveEnum, ActiveValue, ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait,
    QueryFilter, QuerySelect, TryIntoModel,
};
use serde::Serialize;

use super::IDS_PER_STATEMENT;
use super::outbox::{self, Outbox};
use super::rows::{self, Kind, Table, stamp, stamp_opt};
use crate::domain::tiers::policy::{Spend, Standing};
use crate::error::{AppError, AppResult};
use crate::events::{NewEvent, payload};
use crate::import::records::Context;
use crate::service::loyalty::{self, TierReason};
use crate::service::orders::{
    NewOrder, Step, default_order_number, ingest_audit, line_row, order_row, refund_audit,
    refund_points, status_audit, target,
};
use crate::service::{audit, metrics};

/// The columns of an order as inserted ([`order_json`]); the id is the store's.
const ORDERS: Table = Table {
    name: "orders",
    columns: &[
        ("customer_id", Kind::BigInt),
        ("order_number", Kind::Text),
        ("external_ref", Kind::Text),
        ("status", Kind::Text),
        ("channel", Kind::Text),
        ("currency", Kind::Text),
        ("subtotal", Kind::BigInt),
        ("discount", Kind::BigInt),
        ("tax", Kind::BigInt),
        ("total", Kind::BigInt),
        ("refunded", Kind::BigInt),
        ("placed_at", Kind::Stamp),
        ("created_at", Kind::Stamp),
        ("updated_at", Kind::Stamp),
    ],
};

/// The columns of an order line as inserted ([`line_json`]).
const LINES: Table = Table {
    name: "order_lines",
    columns: &[
        ("order_id", Kind::BigInt),
        ("customer_id", Kind::BigInt),
        ("sku", Kind::Text),
        ("product_name", Kind::Text),
        ("quantity", Kind::Int),
        ("unit_price", Kind::BigInt),
        ("category", Kind::Text),
    ],
};

/// The columns of a ledger row as inserted ([`ledger_json`]).
const LEDGER: Table = Table {
    name: "loyalty_transactions",
    columns: &[
        ("customer_id", Kind::BigInt),
        ("kind", Kind::Text),
        ("points", Kind::BigInt),
        ("state", Kind::Text),
        ("order_id", Kind::BigInt),
        ("idempotency_key", Kind::Text),
        ("description", Kind::Text),
        ("available_at", Kind::Stamp),
        ("expires_at", Kind::Stamp),
        ("created_at", Kind::Stamp),
    ],
};

/// The columns of an audit row as inserted ([`audit_json`]).
const AUDITS: Table = Table {
    name: "audit_events",
    columns: &[
        ("principal", Kind::Text),
        ("role", Kind::Text),
        ("action", Kind::Text),
        ("target", Kind::Text),
        ("customer_id", Kind::BigInt),
        ("at", Kind::Stamp),
        ("details", Kind::Json),
    ],
};

/// A new order of the batch: validated, with the moves from its entry
/// status to the file's (see `super::covered`).
pub(super) struct NewOrderWork {
    pub input: NewOrder,
    pub subtotal: i64,
    pub target: (OrderStatus, i64),
    pub moves: Vec<Step>,
}

/// An event in the order the services append it.
enum Pending {
    Plain(NewEvent),
    /// Appended unless its natural key was (`events::emit_all_once`).
    Once(NewEvent, String),
    /// The events of the EARN row with this idempotency key, once stored.
    Earned(String),
}

/// A customer as the run goes: its account, the spend its tier counts
/// (stored orders, then the run's by position) and its AVAILABLE points.
struct Customer {
    account: Option<loyalty_account::Model>,
    stored: Vec<Spend>,
    new: Vec<(usize, Spend)>,
    available: i64,
    /// The standing to write, when a review moved it.
    standing: Option<Standing>,
}

impl Customer {
    fn set_spend(&mut self, at: usize, spend: Option<Spend>) {
        self.new.retain(|(i, _)| *i != at);
        if let Some(s) = spend {
            self.new.push((at, s));
        }
    }

    fn history(&self) -> Vec<Spend> {
        let mut all = self.stored.clone();
        all.extend(self.new.iter().map(|(_, s)| *s));
        all
    }
}

/// Everything the run writes after its orders and lines.
#[derive(Default)]
struct Writes {
    ledger: Vec<loyalty_transaction::ActiveModel>,
    audits: Vec<audit_event::ActiveModel>,
    events: Vec<Pending>,
}

/// Writes `work`, the new orders of a run of the batch, in `db`'s transaction.
pub(super) async fn write(
    db: &impl ConnectionTrait,
    ctx: &Context,
    work: &[NewOrderWork],
    outbox: &mut Outbox,
) -> AppResult<()> {
    if work.is_empty() {
        return Ok(());
    }
    let now = ctx.now.trunc_subsecs(0);
    let mut ids: Vec<i64> = work.iter().map(|w| w.input.customer_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let refunds = work
        .iter()
        .any(|w| w.moves.iter().any(|m| matches!(m, Step::Refund(_))));
    let mut customers = read_customers(db, ctx, &ids, refunds).await?;
    let orders = insert_orders(db, work, now).await?;
    let lines: Vec<LineRow> = work
        .iter()
        .zip(&orders)
        .flat_map(|(w, o)| w.input.lines.iter().map(move |l| line_row(o, l)))
        .map(line_json)
        .collect::<AppResult<_>>()?;
    rows::insert(db, &LINES, &lines).await?;

    let mut writes = Writes::default();
    for (i, (w, stored)) in work.iter().zip(&orders).enumerate() {
        let customer = customers
            .get_mut(&stored.customer_id)
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("customer not read")))?;
        replay(ctx, now, i, w, stored, customer, &mut writes)?;
    }

    let backend = db.get_database_backend();
    let ledger: Vec<LedgerRow> = writes
        .ledger
        .into_iter()
        .map(|row| Ok(ledger_json(backend, ledger_model(&row)?)))
        .collect::<AppResult<_>>()?;
    let mut earned: HashMap<String, loyalty_transaction::Model> = HashMap::new();
    for row in rows::insert_returning::<loyalty_transaction::Model, _>(db, &LEDGER, &ledger).await?
    {
        if let Some(key) = row.idempotency_key.clone() {
            earned.insert(key, row);
        }
    }
    let standings: Vec<(i64, Standing)> = customers
        .iter()
        .filter_map(|(id, c)| c.standing.map(|s| (*id, s)))
        .collect();
    loyalty::write_standings(db, now, &standings).await?;
    metrics::refresh_for(db, &ctx.rules.base_currency, &ids, now).await?;
    loyalty::refresh_balances(db, Some(&ids), now).await?;
    let audits: Vec<AuditRow> = writes
        .audits
        .into_iter()
        .map(|row| audit_json(backend, row))
        .collect::<AppResult<_>>()?;
    rows::insert(db, &AUDITS, &audits).await?;
    emit(db, now, writes.events, &earned, outbox).await
}

/// A row of [`ORDERS`].
#[derive(Serialize)]
struct OrderRow {
    customer_id: i64,
    order_number: String,
    external_ref: Option<String>,
    status: String,
    channel: String,
    currency: String,
    subtotal: i64,
    discount: i64,
    tax: i64,
    total: i64,
    refunded: i64,
    placed_at: String,
    created_at: String,
    updated_at: String,
}

fn order_json(backend: DatabaseBackend, mut row: order::ActiveModel) -> AppResult<OrderRow> {
    row.id = ActiveValue::Set(0);
    let o = row
        .try_into_model()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("order row: {e}")))?;
    Ok(OrderRow {
        customer_id: o.customer_id,
        order_number: o.order_number,
        external_ref: o.external_ref,
        status: o.status.to_value(),
        channel: o.channel.to_value(),
        currency: o.currency,
        subtotal: o.subtotal,
        discount: o.discount,
        tax: o.tax,
        total: o.total,
        refunded: o.refunded,
        placed_at: stamp(backend, o.placed_at),
        created_at: stamp(backend, o.created_at),
        updated_at: stamp(backend, o.updated_at),
    })
}

/// A row of [`LINES`].
#[derive(Serialize)]
struct LineRow {
    order_id: i64,
    customer_id: i64,
    sku: String,
    product_name: String,
    quantity: i32,
    unit_price: i64,
    category: Option<String>,
}

fn line_json(mut row: order_line::ActiveModel) -> AppResult<LineRow> {
    row.id = ActiveValue::Set(0);
    let l = row
        .try_into_model()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("order line row: {e}")))?;
    Ok(LineRow {
        order_id: l.order_id,
        customer_id: l.customer_id,
        sku: l.sku,
        product_name: l.product_name,
        quantity: l.quantity,
        unit_price: l.unit_price,
        category: l.category,
    })
}

/// A row of [`LEDGER`].
#[derive(Serialize)]
struct LedgerRow {
    customer_id: i64,
    kind: String,
    points: i64,
    state: String,
    order_id: Option<i64>,
    idempotency_key: Option<String>,
    description: Option<String>,
    available_at: Option<String>,
    expires_at: Option<String>,
    created_at: String,
}

fn ledger_json(backend: DatabaseBackend, t: loyalty_transaction::Model) -> LedgerRow {
    LedgerRow {
        customer_id: t.customer_id,
        kind: t.kind.to_value(),
        points: t.points,
        state: t.state.to_value(),
        order_id: t.order_id,
        idempotency_key: t.idempotency_key,
        description: t.description,
        available_at: stamp_opt(backend, t.available_at),
        expires_at: stamp_opt(backend, t.expires_at),
        created_at: stamp(backend, t.created_at),
    }
}

/// A row of [`AUDITS`].
#[derive(Serialize)]
struct AuditRow {
    principal: String,
    role: String,
    action: String,
    target: String,
    customer_id: Option<i64>,
    at: String,
    /// The serialized JSON ([`rows::json_text`]).
    details: String,
}

fn audit_json(backend: DatabaseBackend, mut row: audit_event::ActiveModel) -> AppResult<AuditRow> {
    row.id = ActiveValue::Set(0);
    let a = row
        .try_into_model()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("audit row: {e}")))?;
    Ok(AuditRow {
        details: rows::json_text(&a.details)?,
        principal: a.principal,
        role: a.role,
        action: a.action,
        target: a.target,
        customer_id: a.customer_id,
        at: stamp(backend, a.at),
    })
}

/// The run's customers as they stand before it.
async fn read_customers(
    db: &impl ConnectionTrait,
    ctx: &Context,
    ids: &[i64],
    with_balance: bool,
) -> AppResult<HashMap<i64, Customer>> {
    let mut accounts: HashMap<i64, loyalty_account::Model> = HashMap::new();
    let mut balances: HashMap<i64, i64> = HashMap::new();
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        for a in loyalty_account::Entity::find()
            .filter(loyalty_account::Column::CustomerId.is_in(chunk.iter().copied()))
            .all(db)
            .await?
        {
            accounts.insert(a.customer_id, a);
        }
        if with_balance {
            use loyalty_transaction::Column as L;
            let rows: Vec<(i64, i64)> = loyalty_transaction::Entity::find()
                .select_only()
                .column(L::CustomerId)
                .column_as(
                    Expr::cust(r#"CAST(COALESCE(SUM("points"), 0) AS BIGINT)"#),
                    "available",
                )
                .filter(L::CustomerId.is_in(chunk.iter().copied()))
                .filter(L::State.eq(LoyaltyTransactionState::Available))
                .group_by(L::CustomerId)
                .into_tuple()
                .all(db)
                .await?;
            balances.extend(rows);
        }
    }
    let mut spend = loyalty::histories(db, &ctx.rules, ids).await?;
    Ok(ids
        .iter()
        .map(|id| {
            let customer = Customer {
                account: accounts.remove(id),
                stored: spend.remove(id).unwrap_or_default(),
                new: Vec::new(),
                available: balances.get(id).copied().unwrap_or(0),
                standing: None,
            };
            (*id, customer)
        })
        .collect())
}

/// Inserts the orders at their final state; returns them in `work`'s
/// order, numbered.
async fn insert_orders(
    db: &impl ConnectionTrait,
    work: &[NewOrderWork],
    now: DateTime<Utc>,
) -> AppResult<Vec<order::Model>> {
    let nanos = now.timestamp_nanos_opt().unwrap_or_default();
    let backend = db.get_database_backend();
    let rows: Vec<OrderRow> = work
        .iter()
        .enumerate()
        .map(|(i, w)| {
            // Unique within the run until the id gives the number.
            let placeholder = format!("pending-{}-{nanos}-{i}", w.input.customer_id);
            let mut row = order_row(&w.input, w.subtotal, placeholder, now);
            row.status = ActiveValue::Set(w.target.0);
            row.refunded = ActiveValue::Set(w.target.1);
            order_json(backend, row)
        })
        .collect::<AppResult<_>>()?;
    let mut by_ref: HashMap<String, order::Model> = HashMap::new();
    for o in rows::insert_returning::<order::Model, _>(db, &ORDERS, &rows).await? {
        by_ref.insert(o.external_ref.clone().unwrap_or_default(), o);
    }
    let mut orders = work
        .iter()
        .map(|w| {
            by_ref
                .remove(w.input.external_ref.as_deref().unwrap_or_default())
                .ok_or_else(|| AppError::Internal(anyhow::anyhow!("an inserted order is missing")))
        })
        .collect::<AppResult<Vec<order::Model>>>()?;
    let unnumbered: Vec<usize> = (0..work.len())
        .filter(|i| work[*i].input.order_number.is_none())
        .collect();
    for chunk in unnumbered.chunks(IDS_PER_STATEMENT / 2) {
        let mut case = CaseStatement::new();
        for &i in chunk {
            case = case.case(
                Expr::col(order::Column::Id).eq(orders[i].id),
                Expr::val(default_order_number(orders[i].id)),
            );
        }
        let number: Expr = case.finally(Expr::col(order::Column::OrderNumber)).into();
        let update = Query::update()
            .table(order::Entity)
            .value(order::Column::OrderNumber, number)
            .and_where(Expr::col(order::Column::Id).is_in(chunk.iter().map(|&i| orders[i].id)))
            .to_owned();
        db.execute(&update).await?;
    }
    for i in unnumbered {
        orders[i].order_number = default_order_number(orders[i].id);
    }
    Ok(orders)
}

/// What ingesting order `at` of the run and taking it to the file's status
/// writes, one write at a time, as `orders::ingest` and `orders::replay`
/// do: `stored` is the order as inserted, at its final state.
fn replay(
    ctx: &Context,
    now: DateTime<Utc>,
    at: usize,
    w: &NewOrderWork,
    stored: &order::Model,
    customer: &mut Customer,
    writes: &mut Writes,
) -> AppResult<()> {
    let rules = &ctx.rules;
    let audit_row = |action: &str, o: &order::Model, details| {
        audit::row(
            &ctx.principal,
            action,
            &target(o),
            Some(o.customer_id),
            details,
            now,
        )
    };
    let mut o = stored.clone();
    o.status = w.input.status;
    o.refunded = 0;
    // The order's ledger rows, for a refund to take back from.
    let mut rows: Vec<loyalty_transaction::Model> = Vec::new();

    // Ingest.
    let mut events = vec![Pending::Plain(payload::order_placed(&o))];
    let (mut points, mut because) = (0, TierReason::SpendWindow);
    if o.status == OrderStatus::Paid {
        events.push(Pending::Plain(payload::order_paid(&o)));
        if let Some(row) = loyalty::earn_row(rules, &o, now) {
            let model = ledger_model(&row)?;
            points = model.points;
            if model.state == LoyaltyTransactionState::Available {
                customer.available += model.points;
            }
            events.push(Pending::Earned(
                model.idempotency_key.clone().unwrap_or_default(),
            ));
            rows.push(model);
            writes.ledger.push(row);
        }
        because = TierReason::OrderPaid;
    }
    customer.set_spend(at, loyalty::spend_of(rules, &o));
    review(ctx, now, customer, because, writes, &mut events);
    writes
        .audits
        .push(audit_row("order.ingest", &o, ingest_audit(&o, points)));
    writes.events.extend(events);

    // The moves to the file's status.
    for step in &w.moves {
        let mut events = Vec::new();
        match *step {
            Step::Status(to @ (OrderStatus::Cancelled | OrderStatus::Fulfilled)) => {
                // Cancelled while pending (nothing earned to take back),
                // or fulfilled once paid: `super::covered`.
                let from = o.status;
                o.status = to;
                events.push(Pending::Plain(if to == OrderStatus::Cancelled {
                    payload::order_cancelled(&o, 0)
                } else {
                    payload::order_fulfilled(&o)
                }));
                customer.set_spend(at, loyalty::spend_of(rules, &o));
                review(
                    ctx,
                    now,
                    customer,
                    TierReason::SpendWindow,
                    writes,
                    &mut events,
                );
                writes
                    .audits
                    .push(audit_row("order.status", &o, status_audit(from, to, 0)));
            }
            Step::Refund(amount) => {
                let (before, after) = (o.refunded, o.refunded + amount);
                let owed = refund_points(rules, &o.currency, before, after);
                o.refunded = after;
                // `steps` ends at the file's state: the refund reaches it.
                o.status = w.target.0;
                let clawed = claw_back(&o, owed, now, customer, &mut rows, writes)?;
                events.push(Pending::Plain(payload::order_refunded(&o, amount, clawed)));
                customer.set_spend(at, loyalty::spend_of(rules, &o));
                review(ctx, now, customer, TierReason::Refund, writes, &mut events);
                writes.audits.push(audit_row(
                    "order.refund",
                    &o,
                    refund_audit(&o, amount, clawed),
                ));
            }
            Step::Status(other) => {
                return Err(AppError::Internal(anyhow::anyhow!(
                    "a move to {other:?} is not written in bulk"
                )));
            }
        }
        writes.events.extend(events);
    }
    Ok(())
}

/// `loyalty::claw_back` on the order's ledger `rows` and the customer's
/// AVAILABLE balance as the run has them.
fn claw_back(
    o: &order::Model,
    points: i64,
    now: DateTime<Utc>,
    customer: &mut Customer,
    rows: &mut Vec<loyalty_transaction::Model>,
    writes: &mut Writes,
) -> AppResult<i64> {
    if points <= 0 {
        return Ok(0);
    }
    let plan = loyalty::plan_claw_back(rows, points);
    let mut taken = 0;
    let mut take = |points, state, available_at| -> AppResult<()> {
        let row = loyalty::clawback_row(o, points, state, available_at, now);
        rows.push(ledger_model(&row)?);
        writes.ledger.push(row);
        Ok(())
    };
    if plan.from_pending > 0 {
        take(
            plan.from_pending,
            LoyaltyTransactionState::Pending,
            plan.settles_at,
        )?;
        taken += plan.from_pending;
    }
    if plan.rest > 0 {
        let from_available = loyalty::from_available(plan.rest, customer.available);
        if from_available > 0 {
            take(
                from_available,
                LoyaltyTransactionState::Available,
                Some(now),
            )?;
            customer.available -= from_available;
            taken += from_available;
        }
    }
    Ok(taken)
}

/// `loyalty::refresh_tier` after a write done `because`: the at-risk
/// notice goes out at once, the tier change with the write's `events`.
fn review(
    ctx: &Context,
    now: DateTime<Utc>,
    customer: &mut Customer,
    because: TierReason,
    writes: &mut Writes,
    events: &mut Vec<Pending>,
) {
    let history = customer.history();
    let Some(account) = customer.account.as_mut() else {
        return;
    };
    let review = loyalty::review_one(&ctx.rules, account, &history, now, because);
    if review.changed {
        customer.standing = Some(review.standing);
    }
    if let Some((event, key)) = review.notice {
        writes.events.push(Pending::Once(event, key));
    }
    if let Some(event) = review.tier_changed {
        events.push(Pending::Plain(event));
    }
}

/// The row a ledger insert will store, without its id.
fn ledger_model(row: &loyalty_transaction::ActiveModel) -> AppResult<loyalty_transaction::Model> {
    let mut row = row.clone();
    row.id = ActiveValue::Set(0);
    row.try_into_model()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("ledger row: {e}")))
}

/// Appends `events` in order to the batch's [`Outbox`]: notices unless
/// their natural key was appended (`events::emit_all_once`), each key once,
/// after the events before them.
async fn emit(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    events: Vec<Pending>,
    earned: &HashMap<String, loyalty_transaction::Model>,
    outbox: &mut Outbox,
) -> AppResult<()> {
    let keys: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Pending::Once(_, key) => Some(key.as_str()),
            _ => None,
        })
        .collect();
    let stored = outbox::stored_keys(db, &keys).await?;
    let mut once: Vec<(NewEvent, String)> = Vec::new();
    for event in events {
        let plain = match event {
            Pending::Plain(e) => vec![e],
            Pending::Earned(key) => {
                let row = earned.get(&key).ok_or_else(|| {
                    AppError::Internal(anyhow::anyhow!("EARN row {key} was not stored"))
                })?;
                loyalty::earned(row).events
            }
            Pending::Once(e, key) => {
                once.push((e, key));
                continue;
            }
        };
        outbox.push_once(now, std::mem::take(&mut once), &stored)?;
        outbox.push(now, plain)?;
    }
    outbox.push_once(now, once, &stored)
}
