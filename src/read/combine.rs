//! One round trip per level on PostgreSQL.
//!
//! The loaders of one level (customers; a customer's orders, tickets,
//! reviews, referrals, NPS answers and ledger rows; then the orders' lines
//! and the tickets' messages) each build their own statement. Over a network every
//! statement costs a round trip and, in PostgreSQL, a portal of its own. Here
//! the loaders hand their statements in, and once the request's driver has
//! run every loader of the level as far as it goes, it sends them as one
//! `UNION ALL`, each row as JSON, each statement's rows joined into one
//! array beside the statement's number. SQLite runs in-process, where a
//! statement costs no round trip, so it keeps one statement per loader.
//!
//! Combining trades parallelism for less work and fewer round trips: one
//! statement per level costs both servers less CPU, and a profile whose
//! lists are read ahead with the customer is one statement. A request
//! alone could run its statements side by side on idle connections
//! instead; measured, the profile answers sooner combined and the list no
//! slower. `Config::combine_pages` chooses; by default every request
//! combines.
//!
//! A request executing alone (`CombinePages::Split`, the default) leaves
//! the second core idle while PostgreSQL runs its one statement. A level
//! that reads a page of customers and lists below them is then sent as two
//! statements side by side ([`Halves`]): the page with its customers'
//! rows, and the lists over a form of the page that reads its keys alone
//! ([`Keys`]), which costs PostgreSQL an index walk rather than the
//! customers' joined rows and JSON. The two run in snapshots of their
//! own, so each also gives the page's keys, and where they differ (a
//! customer added or changed in between) the level runs again as one
//! statement: the lists are never of another page than the customers.

use std::collections::HashMap;
use std::hash::Hasher as _;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use std::fmt::Write as _;

use futures_util::future::BoxFuture;
use sea_orm::sqlx::Row as _;
use sea_orm::sqlx::postgres::PgRow;
use sea_orm::{DbBackend, Statement, Values};
use serde::Deserializer as _;
use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use tokio::sync::oneshot;

use super::loaders::LoadError;
use crate::db::Store;
use crate::error::AppError;

/// What a statement answers: each row as one JSON text, in its order.
/// Every statement handed in must be PostgreSQL's text, its parameters
/// numbered from `$1`, giving each row as one JSON text in a column `j`;
/// one whose rows are ordered ([`Combiner::rows`]) also has a column `rn`
/// that orders them. The rows of a level have no shape in common but
/// that, and each statement writes its rows as arrays of its own columns,
/// which `row_to_json` would write with every column's name.
type Rows = Result<JsonRows, LoadError>;

/// The rows a statement of a combined level answered, as PostgreSQL joined
/// them into one JSON array (`string_agg`), read where sqlx received it.
///
/// One row per statement rather than one per row: sqlx hands each row
/// through its stream one at a time, and on the benchmark's list (about
/// 300 rows) that took a tenth of the gateway's instructions, where
/// PostgreSQL takes no longer to join them.
#[derive(Default)]
pub struct JsonRows {
    /// The statement's row of the combined statement: its number, how many
    /// rows it joined and their array. `None`: no rows.
    row: Option<PgRow>,
    /// How many rows the array holds.
    count: usize,
}

impl JsonRows {
    /// The rows' array as PostgreSQL wrote it; `None` for no rows.
    fn text(&self) -> Option<&str> {
        let row = self.row.as_ref()?;
        row.try_get_unchecked(2).ok()
    }

    /// Each row read by a seed from `seed`, in their order.
    pub fn read<'a, S: DeserializeSeed<'a>>(
        &'a self,
        seed: impl FnMut() -> S,
    ) -> Result<Vec<S::Value>, AppError> {
        let Some(row) = &self.row else {
            return Ok(Vec::new());
        };
        let column = |e| AppError::Internal(anyhow::anyhow!("reading a combined row: {e}"));
        let text: &str = row.try_get_unchecked(2).map_err(column)?;
        let mut de = serde_json::Deserializer::from_str(text);
        de.deserialize_seq(Each {
            seed,
            count: self.count,
        })
        .and_then(|rows| de.end().map(|()| rows))
        .map_err(|e| {
            AppError::Internal(anyhow::anyhow!(
                "reading the rows of a combined statement: {e}"
            ))
        })
    }
}

/// The rows of a [`JsonRows`] array, each read by a seed of its own.
struct Each<F> {
    seed: F,
    count: usize,
}

impl<'de, S: DeserializeSeed<'de>, F: FnMut() -> S> Visitor<'de> for Each<F> {
    type Value = Vec<S::Value>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of rows")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut rows = Vec::with_capacity(self.count);
        while let Some(row) = seq.next_element_seed((self.seed)())? {
            rows.push(row);
        }
        Ok(rows)
    }
}

/// What a statement handed in is to the combined statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    /// Rows, in any order.
    Rows,
    /// Rows in the order of their column `rn`.
    Ranked,
    /// A relation the other statements of its batch read by name
    /// ([`Combiner::relation`]): a `WITH` query, answering nothing itself.
    With,
}

struct Submitted {
    stmt: Statement,
    part: Part,
    /// The batch whose relation the statement reads, if it reads one.
    reads: Option<u64>,
    /// A relation's form that gives its keys alone.
    keys: Option<Keys>,
    /// Whether the statement reads only the keys of its relation.
    keys_only: bool,
    reply: Option<oneshot::Sender<Rows>>,
}

/// A relation's rows with only their keys, for the statements that read no
/// more of it (the lists below a page of customers read its ids): what a
/// lone request sends beside the relation itself ([`Halves`]).
#[derive(Clone, Debug)]
pub struct Keys {
    /// The relation's statement giving only `columns`, in the same rows
    /// for the same snapshot.
    pub stmt: Statement,
    /// The columns both forms give, as their texts name them (`"id",
    /// "created_at"`): the page's keys, compared between the two halves.
    /// The first names each row (`"id"`).
    pub columns: String,
}

/// The statements handed in and not yet sent, and the number of the batch
/// they will go out in.
#[derive(Default)]
struct Pending {
    batch: u64,
    submitted: Vec<Submitted>,
}

/// The statements a request's loaders handed in and not yet sent.
pub struct Combiner {
    store: Store,
    active: AtomicBool,
    split: AtomicBool,
    pending: Mutex<Pending>,
}

/// A statement of a batch that others of the same batch read by its name:
/// a page of customers, whose lists are read ahead from its ids in the
/// same statement rather than bound as ids one round trip later.
#[derive(Clone, Debug)]
pub struct Relation {
    name: String,
    batch: u64,
}

impl Relation {
    /// The relation's name, quoted, to read it by in a statement's text.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Combiner {
    pub fn new(store: Store) -> Arc<Combiner> {
        Arc::new(Combiner {
            store,
            active: AtomicBool::new(false),
            split: AtomicBool::new(false),
            pending: Mutex::default(),
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

    /// Whether levels may go out as two statements ([`Combiner::set_split`]):
    /// only then is a relation's [`Keys`] worth writing.
    pub fn splits(&self) -> bool {
        self.split.load(AtomicOrdering::Relaxed)
    }

    /// Whether a level reading a page and the lists below it goes out as
    /// two statements side by side ([`Halves`]), decided when the request
    /// starts executing: while it executes alone (`CombinePages::Split`).
    pub fn set_split(&self, split: bool) {
        self.split.store(split, AtomicOrdering::Relaxed);
    }

    /// Hands `stmt` in and waits for its rows, each its column `j`, in the
    /// order of its column `rn`. They arrive once the driver calls
    /// [`Combiner::flush`].
    pub async fn rows(&self, stmt: Statement) -> Rows {
        self.submit(stmt, Part::Ranked, None, false).await
    }

    /// [`Combiner::rows`] for a statement without `rn`, whose rows come in
    /// any order (customers by id).
    pub async fn rows_unordered(&self, stmt: Statement) -> Rows {
        self.submit(stmt, Part::Rows, None, false).await
    }

    /// Hands `stmt` in as a relation the statements of its batch may read
    /// by the name returned (`WITH`): PostgreSQL runs it once for all of
    /// them. It answers no rows of its own; a statement reads them
    /// ([`Combiner::rows_reading`]). Hand the readers in before the batch
    /// goes out, that is, before the request next waits on anything else:
    /// one handed in later is answered with an error, never run without it.
    /// `keys` is its form with only its keys, for the statements reading no
    /// more ([`Combiner::keys_reading`]).
    pub fn relation(&self, stmt: Statement, keys: Option<Keys>) -> Relation {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let defined = pending
            .submitted
            .iter()
            .filter(|s| s.part == Part::With)
            .count();
        let batch = pending.batch;
        pending.submitted.push(Submitted {
            stmt,
            part: Part::With,
            reads: None,
            keys,
            keys_only: false,
            reply: None,
        });
        Relation {
            name: relation_name(defined),
            batch,
        }
    }

    /// [`Combiner::rows`] (`ranked`) or [`Combiner::rows_unordered`] for a
    /// statement that reads `relation`.
    pub async fn rows_reading(&self, relation: &Relation, stmt: Statement, ranked: bool) -> Rows {
        let part = if ranked { Part::Ranked } else { Part::Rows };
        self.submit(stmt, part, Some(relation.batch), false).await
    }

    /// [`Combiner::rows_unordered`] for a statement that reads only the keys
    /// of `relation` (the columns of its [`Keys`]).
    pub async fn keys_reading(&self, relation: &Relation, stmt: Statement) -> Rows {
        self.submit(stmt, Part::Rows, Some(relation.batch), true)
            .await
    }

    async fn submit(
        &self,
        stmt: Statement,
        part: Part,
        reads: Option<u64>,
        keys_only: bool,
    ) -> Rows {
        let (reply, answer) = oneshot::channel();
        self.pending
            .lock()
            .map_err(|_| {
                Arc::new(AppError::Internal(anyhow::anyhow!(
                    "statement queue poisoned"
                )))
            })?
            .submitted
            .push(Submitted {
                stmt,
                part,
                reads,
                keys: None,
                keys_only,
                reply: Some(reply),
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
        let (number, batch): (u64, Vec<Submitted>) = match self.pending.lock() {
            Ok(mut pending) if !pending.submitted.is_empty() => {
                let number = pending.batch;
                pending.batch += 1;
                (number, pending.submitted.drain(..).collect())
            }
            _ => return None,
        };
        // A statement reading the relation of an earlier batch cannot run:
        // its relation went out without it.
        let (batch, stale): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .partition(|s| s.reads.is_none_or(|b| b == number));
        for s in stale {
            if let Some(reply) = s.reply {
                let _ = reply.send(Err(Arc::new(AppError::Internal(anyhow::anyhow!(
                    "a statement read a relation of an earlier batch"
                )))));
            }
        }
        if batch.iter().all(|s| s.part == Part::With) {
            return None;
        }
        let store = self.store.clone();
        let halves = self
            .split
            .load(AtomicOrdering::Relaxed)
            .then(|| Halves::of(&batch))
            .flatten();
        Some(Box::pin(async move {
            let (stmts, replies): (Vec<_>, Vec<_>) = batch
                .into_iter()
                .map(|s| ((s.stmt, s.part), s.reply))
                .unzip();
            let answers = match halves {
                Some(halves) => halves.run(&store, stmts).await,
                None => run(&store, stmts).await,
            };
            match answers {
                Ok(mut answers) => {
                    for (reply, rows) in replies.into_iter().zip(answers.drain(..)) {
                        if let Some(reply) = reply {
                            let _ = reply.send(Ok(rows));
                        }
                    }
                }
                Err(err) => {
                    let err = Arc::new(err);
                    for reply in replies.into_iter().flatten() {
                        let _ = reply.send(Err(err.clone()));
                    }
                }
            }
        }))
    }
}

/// A level reading a page of customers, as two statements to run side by
/// side: the page's relation with every statement but those reading only
/// its keys, and the relation's [`Keys`] with those. Each half ends with
/// the same check, the page's keys by id, which must read the same in
/// both: the halves run in snapshots of their own.
struct Halves {
    keys: Keys,
    /// Of each statement of the level, whether it goes with the keys.
    on_keys: Vec<bool>,
}

impl Halves {
    /// How `batch` halves, if it does: it has one relation, with a form of
    /// its keys, which statements read in full and statements read only
    /// the keys of. Otherwise one statement serves it better.
    fn of(batch: &[Submitted]) -> Option<Halves> {
        let mut relations = batch.iter().filter(|s| s.part == Part::With);
        let keys = match (relations.next(), relations.next()) {
            (Some(relation), None) => relation.keys.clone()?,
            _ => return None,
        };
        let on_keys: Vec<bool> = batch.iter().map(|s| s.keys_only).collect();
        let rows = batch.iter().any(|s| s.part != Part::With && !s.keys_only);
        (rows && on_keys.contains(&true)).then_some(Halves { keys, on_keys })
    }

    /// Runs the halves of `stmts` side by side and hands each statement its
    /// row; where their pages differ, runs `stmts` as one statement.
    async fn run(
        self,
        store: &Store,
        stmts: Vec<(Statement, Part)>,
    ) -> Result<Vec<JsonRows>, AppError> {
        let check = {
            let first = self.keys.columns.split(',').next().unwrap_or_default();
            let sql = format!(
                r#"SELECT json_build_array({})::text AS "j", {first} AS "rn" FROM {}"#,
                self.keys.columns,
                relation_name(0),
            );
            (
                Statement::from_string(DbBackend::Postgres, sql),
                Part::Ranked,
            )
        };
        // Where each statement's row is: in which half, at which place.
        let mut place = Vec::with_capacity(stmts.len());
        let (mut rows, mut keys) = (Vec::new(), Vec::new());
        for ((stmt, part), &on_keys) in stmts.iter().zip(&self.on_keys) {
            if *part == Part::With {
                place.push(None);
                rows.push((stmt.clone(), Part::With));
                keys.push((self.keys.stmt.clone(), Part::With));
            } else if on_keys {
                place.push(Some((true, keys.len())));
                keys.push((stmt.clone(), *part));
            } else {
                place.push(Some((false, rows.len())));
                rows.push((stmt.clone(), *part));
            }
        }
        rows.push(check.clone());
        keys.push(check);
        let (rows, keys) = futures_util::join!(run(store, rows), run(store, keys));
        let (mut rows, mut keys) = (rows?, keys?);
        let same = match (rows.pop(), keys.pop()) {
            (Some(a), Some(b)) => a.text() == b.text(),
            _ => false,
        };
        if !same {
            store.stats.rerun();
            return run(store, stmts).await;
        }
        let mut take = |at: &Option<(bool, usize)>| match *at {
            Some((true, i)) => keys.get_mut(i).map(std::mem::take),
            Some((false, i)) => rows.get_mut(i).map(std::mem::take),
            None => None,
        };
        Ok(place
            .iter()
            .map(|at| take(at).unwrap_or_default())
            .collect())
    }
}

/// The name of a level's `n`th relation, as its statement's text reads it.
fn relation_name(n: usize) -> String {
    format!(r#""w{n}""#)
}

/// Runs `stmts` as one statement and hands each statement its row.
///
/// The statement is joined as text from the texts the loaders built (most of
/// them cached, see `PageLoader::first_pages`), their parameters renumbered
/// after those of the statements before them: building it as one sea-query
/// statement cloned and dropped every expression of every page each time.
async fn run(store: &Store, stmts: Vec<(Statement, Part)>) -> Result<Vec<JsonRows>, AppError> {
    let count = stmts.len();
    if count == 0 {
        return Ok(Vec::new());
    }
    let sql = combined_text(&stmts);
    let values = stmts
        .into_iter()
        .flat_map(|(stmt, _)| stmt.values.map(|v| v.0).unwrap_or_default())
        .collect();
    let rows = crate::db::read_pg(store, &sql, Values(values)).await?;
    let mut answers: Vec<JsonRows> = (0..count).map(|_| JsonRows::default()).collect();
    let column = |e| AppError::Internal(anyhow::anyhow!("reading a combined row: {e}"));
    for row in rows {
        // The combined text gives these columns these types: sqlx's check
        // of each against its type cost more than reading it.
        let q: i32 = row.try_get_unchecked(0).map_err(column)?;
        let count: i64 = row.try_get_unchecked(1).map_err(column)?;
        match answers.get_mut(q as usize) {
            // No rows: no text either.
            Some(_) if count <= 0 => {}
            Some(rows) => {
                rows.count = count as usize;
                rows.row = Some(row);
            }
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
    parts: Vec<(Box<str>, Part, usize)>,
    sql: Arc<str>,
}

impl Kept {
    fn joins(&self, stmts: &[(Statement, Part)]) -> bool {
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
fn combined_text(stmts: &[(Statement, Part)]) -> Arc<str> {
    let mut hasher = rustc_hash::FxHasher::default();
    for (stmt, part) in stmts {
        hasher.write_usize(stmt.sql.len());
        hasher.write(stmt.sql.as_bytes());
        hasher.write_u8(*part as u8);
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
        .map(|(stmt, part)| (Box::from(stmt.sql.as_str()), *part, bound_by(stmt)))
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
/// after those of the statements before it; the relations first, as the
/// `WITH` queries `"w0"`, `"w1"`, ... in their order.
fn join(stmts: &[(Statement, Part)]) -> String {
    let length = stmts.iter().map(|(s, _)| s.sql.len() + 96).sum::<usize>();
    let mut sql = String::with_capacity(length + 64);
    let mut offsets = Vec::with_capacity(stmts.len());
    let mut bound = 0;
    for (stmt, _) in stmts {
        offsets.push(bound);
        bound += bound_by(stmt);
    }
    let relations = stmts
        .iter()
        .zip(&offsets)
        .filter(|((_, p), _)| *p == Part::With);
    for (n, ((stmt, _), &offset)) in relations.enumerate() {
        sql.push_str(if n == 0 { "WITH " } else { ", " });
        let _ = write!(sql, "{} AS (", relation_name(n));
        renumber_into(&stmt.sql, offset, &mut sql);
        sql.push(')');
    }
    if !sql.is_empty() {
        sql.push(' ');
    }
    // Each statement's rows joined into one array ([`JsonRows`]) by an
    // aggregate of its own, in the order of their rank where they have one
    // (a union keeps no order of its own; most statements, first pages on
    // PostgreSQL, come unranked and are not sorted at all). One aggregate
    // over the union grouped by statement sorted every row of the level by
    // its statement first: on the benchmark's list the statement took 3 %
    // longer. A statement without rows answers nothing, as it did grouped:
    // a row each costs the gateway more than the `HAVING` costs PostgreSQL.
    let mut first = true;
    for (i, ((stmt, part), &offset)) in stmts.iter().zip(&offsets).enumerate() {
        let order = match part {
            Part::With => continue,
            Part::Ranked => r#" ORDER BY "t"."rn""#,
            Part::Rows => "",
        };
        if !first {
            sql.push_str(" UNION ALL ");
        }
        first = false;
        let _ = write!(
            sql,
            r#"SELECT {i} AS "q", count(*), '[' || string_agg("t"."j", ','{order}) || ']' FROM ("#
        );
        renumber_into(&stmt.sql, offset, &mut sql);
        sql.push_str(r#") AS "t" HAVING count(*) > 0"#);
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
                Part::Ranked,
            ),
            (
                stmt(r#"SELECT "id" FROM "b" WHERE "k" = $1"#, vec![3]),
                Part::Rows,
            ),
        ];
        let first = combined_text(&level);
        assert_eq!(*first, join(&level));
        assert!(first.contains(r#""k" = $3"#), "{first}");
        assert!(Arc::ptr_eq(&first, &combined_text(&level)), "kept");
        let mut other = level.clone();
        other[1].1 = Part::Ranked;
        assert_eq!(*combined_text(&other), join(&other));
        assert_ne!(combined_text(&other), first);
        let mut longer = level.clone();
        longer.swap(0, 1);
        assert_eq!(*combined_text(&longer), join(&longer));
        assert!(combined_text(&longer).contains(r#""k" IN ($2, $3)"#));
    }

    /// Relations come first, as `WITH` queries named in their order, each
    /// statement's parameters numbered by its place among all of them; a
    /// relation answers no rows of its own.
    #[test]
    fn relations_are_written_first_and_parameters_follow_the_statements_order() {
        let stmt = |sql: &str, values: Vec<i64>| {
            let values = values.into_iter().map(sea_orm::Value::from).collect();
            Statement::from_sql_and_values(DbBackend::Postgres, sql, Values(values))
        };
        let level = vec![
            (
                stmt(r#"SELECT "j" FROM "b" WHERE "k" = $1"#, vec![1]),
                Part::Rows,
            ),
            (
                stmt(r#"SELECT "id" FROM "c" WHERE "k" > $1 LIMIT 3"#, vec![2]),
                Part::With,
            ),
            (
                stmt(r#"SELECT "j", "rn" FROM "w0" WHERE "x" = $1"#, vec![3]),
                Part::Ranked,
            ),
        ];
        assert_eq!(
            join(&level),
            r#"WITH "w0" AS (SELECT "id" FROM "c" WHERE "k" > $2 LIMIT 3) SELECT 0 AS "q", count(*), '[' || string_agg("t"."j", ',') || ']' FROM (SELECT "j" FROM "b" WHERE "k" = $1) AS "t" HAVING count(*) > 0 UNION ALL SELECT 2 AS "q", count(*), '[' || string_agg("t"."j", ',' ORDER BY "t"."rn") || ']' FROM (SELECT "j", "rn" FROM "w0" WHERE "x" = $3) AS "t" HAVING count(*) > 0"#
        );
    }

    /// A statement reading a relation goes out in the relation's batch; one
    /// handed in after it went out is answered with an error, not run.
    #[tokio::test]
    async fn a_relation_is_read_only_in_its_own_batch() {
        let combiner = Combiner::new(Store::default());
        let relation = combiner.relation(
            Statement::from_string(DbBackend::Postgres, r#"SELECT 1 AS "id""#),
            None,
        );
        assert_eq!(relation.name(), r#""w0""#);
        // Only the relation: nothing to send.
        assert!(combiner.flush().is_none());
        let late = combiner.rows_reading(
            &relation,
            Statement::from_string(DbBackend::Postgres, r#"SELECT "id" AS "j" FROM "w0""#),
            false,
        );
        let (rows, ()) = futures_util::join!(late, async {
            assert!(combiner.flush().is_none(), "nothing left to run");
        });
        assert!(rows.is_err());
        let again = combiner.relation(
            Statement::from_string(DbBackend::Postgres, "SELECT 2"),
            None,
        );
        assert_eq!(again.name(), r#""w0""#, "named within its own batch");
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
