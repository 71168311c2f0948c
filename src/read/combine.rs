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

use std::collections::HashMap;
use std::hash::Hasher as _;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use std::fmt::Write as _;

use futures_util::future::BoxFuture;
use sea_orm::sqlx::Row as _;
use sea_orm::sqlx::postgres::PgRow;
use sea_orm::{DatabaseConnection, Statement, Values};
use tokio::sync::oneshot;

use super::loaders::LoadError;
use crate::db::SqlStats;
use crate::error::AppError;

/// What a statement answers: each row as one JSON text, in its order.
/// Every statement handed in must be PostgreSQL's text, its parameters
/// numbered from `$1`, giving each row as one JSON text in a column `j`;
/// one whose rows are ordered ([`Combiner::rows`]) also has a column `rn`
/// that orders them. The rows of a level have no shape in common but
/// that, and each statement writes its rows as arrays of its own columns,
/// which `row_to_json` would write with every column's name.
type Rows = Result<Vec<JsonRow>, LoadError>;

/// A row of a combined statement: its JSON text, read where sqlx received
/// it, rather than copied into a `String` of its own that is parsed once
/// and dropped.
pub struct JsonRow(PgRow);

impl JsonRow {
    /// The row's JSON text (its column `j`).
    pub fn text(&self) -> Result<&str, AppError> {
        self.0
            .try_get::<&str, _>(1)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("reading a combined row: {e}")))
    }
}

struct Submitted {
    stmt: Statement,
    ranked: bool,
    reply: oneshot::Sender<Rows>,
}

/// The statements a request's loaders handed in and not yet sent.
pub struct Combiner {
    db: DatabaseConnection,
    stats: Arc<SqlStats>,
    active: AtomicBool,
    pending: Mutex<Vec<Submitted>>,
}

impl Combiner {
    pub fn new(db: DatabaseConnection, stats: Arc<SqlStats>) -> Arc<Combiner> {
        Arc::new(Combiner {
            db,
            stats,
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

    /// Hands `stmt` in and waits for its rows, each its column `j`, in the
    /// order of its column `rn`. They arrive once the driver calls
    /// [`Combiner::flush`].
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
        let stats = self.stats.clone();
        Some(Box::pin(async move {
            let (stmts, replies): (Vec<_>, Vec<_>) = batch
                .into_iter()
                .map(|s| ((s.stmt, s.ranked), s.reply))
                .unzip();
            match run(&db, &stats, stmts).await {
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
    stats: &SqlStats,
    stmts: Vec<(Statement, bool)>,
) -> Result<Vec<Vec<JsonRow>>, AppError> {
    let count = stmts.len();
    if count == 0 {
        return Ok(Vec::new());
    }
    let sql = combined_text(&stmts);
    let values = stmts
        .into_iter()
        .flat_map(|(stmt, _)| stmt.values.map(|v| v.0).unwrap_or_default())
        .collect();
    let rows = crate::db::read_pg(db, stats, &sql, Values(values)).await?;
    let mut answers: Vec<Vec<JsonRow>> = (0..count).map(|_| Vec::new()).collect();
    let column = |e| AppError::Internal(anyhow::anyhow!("reading a combined row: {e}"));
    for row in rows {
        let q: i32 = row.try_get(0).map_err(column)?;
        match answers.get_mut(q as usize) {
            Some(rows) => rows.push(JsonRow(row)),
            None => {
                return Err(AppError::Internal(anyhow::anyhow!(
                    "combined statement answered statement {q} of {count}"
                )));
            }
        }
    }
    Ok(answers)
}

/// Combined texts by the texts they join, at most [`KEPT_COMBINED`]: a
/// level of a request has the statements of the last request of its shape,
/// and joining them anew cost a tenth of a profile request's instructions.
const KEPT_COMBINED: usize = 256;
static COMBINED_SQL: LazyLock<Mutex<HashMap<u64, Kept>>> = LazyLock::new(Mutex::default);

/// A combined text and the texts it was joined from.
struct Kept {
    parts: Vec<(Box<str>, bool, usize)>,
    sql: Arc<str>,
}

impl Kept {
    fn joins(&self, stmts: &[(Statement, bool)]) -> bool {
        self.parts.len() == stmts.len()
            && self
                .parts
                .iter()
                .zip(stmts)
                .all(|((sql, ranked, bound), (stmt, r))| {
                    ranked == r && *bound == bound_by(stmt) && **sql == stmt.sql
                })
    }
}

/// The text of `stmts` as one statement: kept, or joined by [`join`].
fn combined_text(stmts: &[(Statement, bool)]) -> Arc<str> {
    let mut hasher = rustc_hash::FxHasher::default();
    for (stmt, ranked) in stmts {
        hasher.write_usize(stmt.sql.len());
        hasher.write(stmt.sql.as_bytes());
        hasher.write_u8(u8::from(*ranked));
        hasher.write_usize(bound_by(stmt));
    }
    let key = hasher.finish();
    let mut kept = COMBINED_SQL.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(found) = kept.get(&key).filter(|k| k.joins(stmts)) {
        return found.sql.clone();
    }
    let sql: Arc<str> = Arc::from(join(stmts));
    if kept.len() >= KEPT_COMBINED {
        kept.clear();
    }
    let parts = stmts
        .iter()
        .map(|(stmt, ranked)| (Box::from(stmt.sql.as_str()), *ranked, bound_by(stmt)))
        .collect();
    kept.insert(
        key,
        Kept {
            parts,
            sql: sql.clone(),
        },
    );
    sql
}

/// How many values `stmt` binds.
fn bound_by(stmt: &Statement) -> usize {
    stmt.values.as_ref().map_or(0, |v| v.0.len())
}

/// `stmts` joined as one statement's text, each one's parameters numbered
/// after those of the statements before it.
fn join(stmts: &[(Statement, bool)]) -> String {
    let length = stmts.iter().map(|(s, _)| s.sql.len() + 96).sum::<usize>();
    let mut sql = String::with_capacity(length + 64);
    let mut bound = 0;
    sql.push_str(r#"SELECT "q", "j" FROM ("#);
    for (i, (stmt, ranked)) in stmts.iter().enumerate() {
        if i > 0 {
            sql.push_str(" UNION ALL ");
        }
        let rank = if *ranked { r#""t"."rn""# } else { "0" };
        let _ = write!(sql, r#"SELECT {i} AS "q", {rank} AS "rn", "t"."j" FROM ("#);
        renumber_into(&stmt.sql, bound, &mut sql);
        sql.push_str(r#") AS "t""#);
        bound += bound_by(stmt);
    }
    sql.push_str(r#") AS "u""#);
    // A union keeps no order of its own: each ranked statement's rows come
    // back in the order of their rank. Rows are split by statement
    // whatever their order, so a level with no ranked statement (most:
    // first pages on PostgreSQL come unranked) is not sorted at all.
    if stmts.iter().any(|(_, ranked)| *ranked) {
        sql.push_str(r#" ORDER BY "q" ASC, "rn" ASC"#);
    }
    sql
}

/// Appends `sql` to `out` with each parameter `$n` written as `$(n + by)`;
/// quoted identifiers and string literals are copied as they are.
///
/// Every column of a page statement is a quoted name, so quotes are what
/// the scan mostly meets: it only notes where each quoted part ends, and
/// copies text at the parameters alone.
fn renumber_into(sql: &str, by: usize, out: &mut String) {
    let bytes = sql.as_bytes();
    let mut copied = 0;
    let mut quoted: Option<u8> = None;
    for at in memchr::memchr3_iter(b'$', b'"', b'\'', bytes) {
        let mark = bytes[at];
        match quoted {
            // A doubled quote inside closes and opens again.
            Some(open) if mark == open => quoted = None,
            Some(_) => {}
            None if mark != b'$' => quoted = Some(mark),
            None => {
                let digits = bytes[at + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                if let Ok(n) = sql[at + 1..at + 1 + digits].parse::<usize>() {
                    out.push_str(&sql[copied..at]);
                    let _ = write!(out, "${}", n + by);
                    copied = at + 1 + digits;
                }
            }
        }
    }
    out.push_str(&sql[copied..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::DbBackend;

    /// A kept text is the one joined anew, and statements of other texts
    /// or other values do not take it.
    #[test]
    fn combined_texts_are_kept_by_what_they_join() {
        let stmt = |sql: &str, values: Vec<i64>| {
            let values = values.into_iter().map(sea_orm::Value::from).collect();
            Statement::from_sql_and_values(DbBackend::Postgres, sql, Values(values))
        };
        let level = vec![
            (
                stmt(r#"SELECT "id" FROM "a" WHERE "k" IN ($1, $2)"#, vec![1, 2]),
                true,
            ),
            (
                stmt(r#"SELECT "id" FROM "b" WHERE "k" = $1"#, vec![3]),
                false,
            ),
        ];
        let first = combined_text(&level);
        assert_eq!(*first, join(&level));
        assert!(first.contains(r#""k" = $3"#), "{first}");
        assert!(Arc::ptr_eq(&first, &combined_text(&level)), "kept");
        let mut other = level.clone();
        other[1].1 = true;
        assert_eq!(*combined_text(&other), join(&other));
        assert_ne!(combined_text(&other), first);
        let mut longer = level.clone();
        longer.swap(0, 1);
        assert_eq!(*combined_text(&longer), join(&longer));
        assert!(combined_text(&longer).contains(r#""k" IN ($2, $3)"#));
    }

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
