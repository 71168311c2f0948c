//! One round trip per level on PostgreSQL.
//!
//! The page loaders of one level (a customer's orders, tickets, reviews,
//! referrals, NPS answers and ledger rows; then the orders' lines and the
//! tickets' messages) each build their own statement. Over a network every
//! statement costs a round trip and, in PostgreSQL, a portal of its own. Here
//! the loaders hand their statements in, and once the request's driver has
//! run every loader of the level as far as it goes, it sends them as one
//! `UNION ALL`, each row as JSON beside the number of the statement it
//! answers. SQLite runs in-process, where a statement costs no round trip,
//! so it keeps one statement per loader.
//!
//! Combining trades parallelism for less work: a request alone runs its
//! level's statements side by side on idle connections and cores, and
//! answers sooner that way, while under load one statement per level costs
//! both servers less CPU. `Config::combine_pages` chooses; by default a
//! request combines when others are executing beside it.

use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use sea_orm::sea_query::{Alias, Expr, Order, Query, SelectStatement, UnionType};
use sea_orm::{DatabaseConnection, StatementBuilder};
use tokio::sync::oneshot;

use super::loaders::LoadError;
use crate::error::AppError;

/// What a statement answers: its rows as JSON objects, in its order.
/// Every statement handed in must have a column `rn` that orders its rows.
type Rows = Result<Vec<String>, LoadError>;

struct Submitted {
    stmt: SelectStatement,
    reply: oneshot::Sender<Rows>,
}

/// The statements a request's loaders handed in and not yet sent.
pub struct Combiner {
    db: DatabaseConnection,
    active: AtomicBool,
    pending: Mutex<Vec<Submitted>>,
}

impl Combiner {
    pub fn new(db: DatabaseConnection) -> Arc<Combiner> {
        Arc::new(Combiner {
            db,
            active: AtomicBool::new(false),
            pending: Mutex::new(Vec::new()),
        })
    }

    /// Whether loaders hand their statements in, decided when the request
    /// starts executing (see `Config::combine_pages`).
    pub fn set_active(&self, active: bool) {
        self.active.store(active, AtomicOrdering::Relaxed);
    }

    pub fn active(&self) -> bool {
        self.active.load(AtomicOrdering::Relaxed)
    }

    /// Hands `stmt` in and waits for its rows, each a JSON object of its
    /// columns. They arrive once the driver calls [`Combiner::flush`].
    pub async fn rows(&self, stmt: SelectStatement) -> Rows {
        let (reply, answer) = oneshot::channel();
        self.pending
            .lock()
            .map_err(|_| {
                Arc::new(AppError::Internal(anyhow::anyhow!(
                    "statement queue poisoned"
                )))
            })?
            .push(Submitted { stmt, reply });
        answer.await.unwrap_or_else(|_| {
            Err(Arc::new(AppError::Internal(anyhow::anyhow!(
                "combined statement dropped before it answered"
            ))))
        })
    }

    /// The statements handed in so far as one statement, to be run by the
    /// driver; `None` when there are none.
    pub fn flush(&self) -> Option<BoxFuture<'static, ()>> {
        let batch: Vec<Submitted> = match self.pending.lock() {
            Ok(mut pending) if !pending.is_empty() => pending.drain(..).collect(),
            _ => return None,
        };
        let db = self.db.clone();
        Some(Box::pin(async move {
            let (stmts, replies): (Vec<_>, Vec<_>) =
                batch.into_iter().map(|s| (s.stmt, s.reply)).unzip();
            match run(&db, stmts).await {
                Ok(mut answers) => {
                    for (reply, rows) in replies.into_iter().zip(answers.drain(..)) {
                        let _ = reply.send(Ok(rows));
                    }
                }
                Err(err) => {
                    let err = Arc::new(err);
                    for reply in replies {
                        let _ = reply.send(Err(err.clone()));
                    }
                }
            }
        }))
    }
}

/// Runs `stmts` as one statement and splits its rows back by statement.
async fn run(
    db: &DatabaseConnection,
    stmts: Vec<SelectStatement>,
) -> Result<Vec<Vec<String>>, AppError> {
    let count = stmts.len();
    let mut branches = stmts.into_iter().enumerate().map(|(i, stmt)| {
        Query::select()
            .expr_as(Expr::val(i as i32), Alias::new("q"))
            .expr_as(
                Expr::col((Alias::new("t"), Alias::new("rn"))),
                Alias::new("rn"),
            )
            .expr_as(Expr::cust(r#"row_to_json("t")::text"#), Alias::new("j"))
            .from_subquery(stmt, Alias::new("t"))
            .to_owned()
    });
    let Some(mut union) = branches.next() else {
        return Ok(Vec::new());
    };
    for branch in branches {
        union.union(UnionType::All, branch);
    }
    // A union keeps no order of its own: each statement's rows come back
    // in the order of their rank.
    let combined = Query::select()
        .column(Alias::new("q"))
        .column(Alias::new("j"))
        .from_subquery(union, Alias::new("u"))
        .order_by(Alias::new("q"), Order::Asc)
        .order_by(Alias::new("rn"), Order::Asc)
        .to_owned();
    let rows = crate::db::read_all(
        db,
        StatementBuilder::build(&combined, &db.get_database_backend()),
    )
    .await?;
    let mut answers = vec![Vec::new(); count];
    for row in rows {
        let q: i32 = row.try_get_by_index(0)?;
        let json: String = row.try_get_by_index(1)?;
        match answers.get_mut(q as usize) {
            Some(rows) => rows.push(json),
            None => {
                return Err(AppError::Internal(anyhow::anyhow!(
                    "combined statement answered statement {q} of {count}"
                )));
            }
        }
    }
    Ok(answers)
}
