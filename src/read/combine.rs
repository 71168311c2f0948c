//! One round trip per level on PostgreSQL.
//!
//! The loaders of one level (customers; a customer's orders, tickets,
//! reviews, referrals, NPS answers and ledger rows; then the orders' lines
//! and the tickets' messages) each build their own statement. Over a network every
//! statement costs a round trip and, in PostgreSQL, a portal of its own. Here
//! the loaders hand their statements in, and once the request's driver has
//! run every loader of the level as far as it goes, it sends them as one
//! `UNION ALL`, each row as JSON beside the number of the statement it
//! answers. SQLite runs in-process, where a statement costs no round trip,
//! so it keeps one statement per loader.
//!
//! Combining trades parallelism for less work and fewer round trips: one
//! statement per level costs both servers less CPU, and a profile whose
//! lists are read ahead with the customer is one statement. A request
//! alone could run its statements side by side on idle connections
//! instead; measured, the profile answers sooner combined and the list no
//! slower. `Config::combine_pages` chooses; by default every request
//! combines.

use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};

use std::fmt::Write as _;

use futures_util::future::BoxFuture;
use sea_orm::{DatabaseConnection, DbBackend, Statement, Values};
use tokio::sync::oneshot;

use super::loaders::LoadError;
use crate::error::AppError;

/// What a statement answers: its rows as JSON objects, in its order.
/// Every statement handed in must be PostgreSQL's text, its parameters
/// numbered from `$1`; one whose rows are ordered has a column `rn` that
/// orders them.
type Rows = Result<Vec<String>, LoadError>;

struct Submitted {
    stmt: Statement,
    ranked: bool,
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
    /// columns, in the order of its column `rn`. They arrive once the driver
    /// calls [`Combiner::flush`].
    pub async fn rows(&self, stmt: Statement) -> Rows {
        self.submit(stmt, true).await
    }

    /// [`Combiner::rows`] for a statement without `rn`, whose rows come in
    /// any order (customers by id).
    pub async fn rows_unordered(&self, stmt: Statement) -> Rows {
        self.submit(stmt, false).await
    }

    async fn submit(&self, stmt: Statement, ranked: bool) -> Rows {
        let (reply, answer) = oneshot::channel();
        self.pending
            .lock()
            .map_err(|_| {
                Arc::new(AppError::Internal(anyhow::anyhow!(
                    "statement queue poisoned"
                )))
            })?
            .push(Submitted {
                stmt,
                ranked,
                reply,
            });
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
            let (stmts, replies): (Vec<_>, Vec<_>) = batch
                .into_iter()
                .map(|s| ((s.stmt, s.ranked), s.reply))
                .unzip();
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
///
/// The statement is joined as text from the texts the loaders built (most of
/// them cached, see `PageLoader::first_pages`), their parameters renumbered
/// after those of the statements before them: building it as one sea-query
/// statement cloned and dropped every expression of every page each time.
async fn run(
    db: &DatabaseConnection,
    stmts: Vec<(Statement, bool)>,
) -> Result<Vec<Vec<String>>, AppError> {
    let count = stmts.len();
    if count == 0 {
        return Ok(Vec::new());
    }
    let length = stmts.iter().map(|(s, _)| s.sql.len() + 96).sum::<usize>();
    let mut sql = String::with_capacity(length + 64);
    let mut values = Vec::new();
    sql.push_str(r#"SELECT "q", "j" FROM ("#);
    for (i, (stmt, ranked)) in stmts.into_iter().enumerate() {
        if i > 0 {
            sql.push_str(" UNION ALL ");
        }
        let rank = if ranked { r#""t"."rn""# } else { "0" };
        let _ = write!(
            sql,
            r#"SELECT {i} AS "q", {rank} AS "rn", row_to_json("t")::text AS "j" FROM ("#
        );
        renumber_into(&stmt.sql, values.len(), &mut sql);
        sql.push_str(r#") AS "t""#);
        values.extend(stmt.values.map(|v| v.0).unwrap_or_default());
    }
    // A union keeps no order of its own: each statement's rows come back
    // in the order of their rank.
    sql.push_str(r#") AS "u" ORDER BY "q" ASC, "rn" ASC"#);
    let combined = Statement::from_sql_and_values(DbBackend::Postgres, sql, Values(values));
    let rows = crate::db::read_all(db, combined).await?;
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

/// Appends `sql` to `out` with each parameter `$n` written as `$(n + by)`;
/// quoted identifiers and string literals are copied as they are.
fn renumber_into(sql: &str, by: usize, out: &mut String) {
    let mut rest = sql;
    while let Some(at) = rest.find(['$', '"', '\'']) {
        out.push_str(&rest[..at]);
        let mark = rest.as_bytes()[at];
        rest = &rest[at + 1..];
        if mark == b'$' {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            match rest[..digits].parse::<usize>() {
                Ok(n) => {
                    let _ = write!(out, "${}", n + by);
                }
                Err(_) => out.push('$'),
            }
            rest = &rest[digits..];
        } else {
            // To the closing quote; a doubled quote inside is two steps of this.
            let close = rest.find(mark as char).map_or(rest.len(), |i| i + 1);
            out.push(mark as char);
            out.push_str(&rest[..close]);
            rest = &rest[close..];
        }
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::renumber_into;

    #[test]
    fn parameters_are_renumbered_and_quotes_kept() {
        let mut out = String::new();
        renumber_into(
            r#"SELECT "a$1", 'it''s $2' FROM "t" WHERE "x" IN ($1, $2) AND "y" < $10"#,
            3,
            &mut out,
        );
        assert_eq!(
            out,
            r#"SELECT "a$1", 'it''s $2' FROM "t" WHERE "x" IN ($4, $5) AND "y" < $13"#
        );
    }
}
