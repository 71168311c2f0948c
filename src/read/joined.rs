//! A customer's to-one rows read in the customer's own statement.
//!
//! Metrics, the loyalty account, the tags and the referral that brought a
//! customer in each belong to exactly one customer. When a selection asks for
//! them, the statement that reads the customers reads them too (left joins
//! and correlated subqueries on indexed keys), instead of one batched
//! statement per relation a level further down: the README profile takes
//! four statements fewer. They are the same snapshot as the customer row,
//! so they are exactly as fresh as a statement of their own would be.

use std::fmt::Write as _;
use std::marker::PhantomData;
use std::sync::{Arc, LazyLock, PoisonError, RwLock};

use rustc_hash::FxHashMap;

use c360_entity::enums::ReferralStatus;
use c360_entity::{customer, customer_metrics, customer_tag, loyalty_account, referral};
use sea_orm::sea_query::{
    Alias, Expr, ExprTrait, JoinType, Query, QueryStatementBuilder, SelectStatement, SimpleExpr,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityName, EntityTrait, FromQueryResult,
    IdenStatic, Iterable, QueryResult, QueryTrait, Select, Statement, StatementBuilder,
};

use sea_orm::sqlx::sqlite::SqliteRow;
use serde::Deserialize;
use serde::de::{DeserializeOwned, DeserializeSeed, Deserializer, SeqAccess, Visitor};

use super::columns::{Columns, Partial, PartialOrNull};
use super::combine::{Combiner, Keys, Relation};
use super::loaders::LoadError;
use crate::db::positional;
use crate::error::AppError;

/// Which to-one rows to read beside each customer, and of each row the
/// columns its fields read (`None`: not read).
///
/// On PostgreSQL a row is written as JSON ([`as_json`]) with only those
/// columns and its key, the rest left out: a page of 50 customers reads
/// about a dozen of its joined rows' 49 columns, and writing the others
/// (four timestamps among them) took PostgreSQL half as long again. The
/// statement below the JSON stays the same whatever the columns; SQLite
/// reads every column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Joins {
    /// The customer's own columns its fields read; its id and the time it
    /// was added (the default order's key) are always written.
    pub own: Columns,
    pub metrics: Option<Columns>,
    pub loyalty: Option<Columns>,
    pub tags: bool,
    pub referred_by: Option<Columns>,
}

impl Default for Joins {
    /// The customer alone, every column.
    fn default() -> Joins {
        Joins {
            own: Columns::ALL,
            metrics: None,
            loyalty: None,
            tags: false,
            referred_by: None,
        }
    }
}

/// The parts mixed into one write: a DataLoader hashes its keys (a
/// customer's id and its joins) with std's SipHash, whose cost grows with
/// each write, and the derived hash wrote nine.
impl std::hash::Hash for Joins {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let part = |columns: Option<Columns>, by: u32| {
            columns
                .map_or(0x9e37_79b9_7f4a_7c15, |c| c.bits())
                .rotate_left(by)
        };
        state.write_u64(
            self.own.bits()
                ^ part(self.metrics, 13)
                ^ part(self.loyalty, 29)
                ^ part(self.referred_by, 43)
                ^ u64::from(self.tags).rotate_left(57),
        );
    }
}

impl Joins {
    /// The same rows with every column: what the statement below the JSON
    /// depends on, and the key of the texts kept for it.
    pub fn tables(self) -> Joins {
        let all = |part: Option<Columns>| part.map(|_| Columns::ALL);
        Joins {
            own: Columns::ALL,
            metrics: all(self.metrics),
            loyalty: all(self.loyalty),
            tags: self.tags,
            referred_by: all(self.referred_by),
        }
    }
}

impl std::ops::BitOr for Joins {
    type Output = Joins;
    fn bitor(self, other: Joins) -> Joins {
        let either = |a: Option<Columns>, b: Option<Columns>| match (a, b) {
            (Some(a), Some(b)) => Some(a | b),
            (a, b) => a.or(b),
        };
        Joins {
            own: self.own | other.own,
            metrics: either(self.metrics, other.metrics),
            loyalty: either(self.loyalty, other.loyalty),
            tags: self.tags || other.tags,
            referred_by: either(self.referred_by, other.referred_by),
        }
    }
}

/// The rows read beside a customer: `None` when not read, `Some(None)` when
/// read and absent.
#[derive(Clone, Debug, Default)]
pub struct Joined {
    pub metrics: Option<Option<customer_metrics::Model>>,
    pub loyalty: Option<Option<loyalty_account::Model>>,
    pub tags: Option<Vec<String>>,
    pub referred_by: Option<Option<referral::Model>>,
}

const METRICS: &str = "m_";
const LOYALTY: &str = "l_";
const REFERRAL: &str = "r_";
const REFERRED_BY: &str = "referred_by";
const TAGS: &str = "tags_json";

/// Runs `select`, a statement over `customers`, with `joins`' columns added,
/// and reads each row as a customer and its joined rows, in the order
/// `order` gives: an ORDER BY over the statement's own output columns (see
/// [`metrics_column`]), the one `select` has. The statement must already
/// left-join `customer_metrics` and `loyalty_accounts` when `joins` asks
/// for them (`segment::customers_joined` joins both).
///
/// On PostgreSQL each row comes as one JSON text, read by [`read_array`]:
/// sea-orm reads a column by its name, formatted anew for every prefixed
/// column of every row, and that cost a page of 50 customers more than a
/// third of its request's instructions. The statement is wrapped to make
/// the text ([`json_row`]), and ordered again around it, since a
/// subquery's order is not the order of the query around it.
///
/// At most `limit` rows, a number written into the text rather than bound:
/// with a bound `LIMIT` PostgreSQL's generic plan guesses a tenth of the
/// table, so it planned the statement anew for every page (a fifth of its
/// time on the benchmark's list); with the number written it settles on
/// one generic plan per connection after five executions.
pub async fn fetch<C: ConnectionTrait>(
    db: &C,
    select: Select<customer::Entity>,
    joins: Joins,
    order: &str,
    limit: u64,
) -> Result<Vec<(customer::Model, Joined)>, AppError> {
    let backend = db.get_database_backend();
    let mut stmt = statement(select, joins, backend);
    let _ = write!(stmt.sql, " LIMIT {limit}");
    if backend != DatabaseBackend::Postgres {
        return read_rows(&db.query_all_raw(stmt).await?, joins);
    }
    let mut stmt = as_json(stmt, joins);
    stmt.sql.push_str(" ORDER BY ");
    stmt.sql.push_str(order);
    let rows = db.query_all_raw(stmt).await?;
    let parts = Row::new(joins);
    super::read_each(&rows, |row| {
        read_array(&row.try_get_by_index::<String>(0)?, parts)
    })
}

/// [`fetch`] on PostgreSQL through the request's `combiner`: the statement
/// goes out in the request's next combined statement as a relation
/// ([`Relation`]), which statements reading its customers handed in beside
/// it read by name (their lists, `PageLoader::prime_of`), so that a page of
/// customers and their lists are one statement. Gives the relation and the
/// rows, read as [`fetch`] reads them.
///
/// The relation holds each customer's JSON text, its id and `sort`, the
/// column `order` reads besides the id, rather than the statement's every
/// column: read by several statements, it is materialised, and measured
/// on the benchmark's list keeping the customers' 69 columns took its
/// statement from 1.52 to 1.58 ms.
pub fn fetch_combined<'c>(
    combiner: &'c Combiner,
    select: Select<customer::Entity>,
    joins: Joins,
    (order, sort): (&str, &str),
    limit: u64,
) -> (
    Relation,
    impl Future<Output = Result<Vec<(customer::Model, Joined)>, LoadError>> + Send + use<'c>,
) {
    // The page's keys alone, for the lists below it when the level goes out
    // as two statements: the same customers without the rows joined for
    // their fields (metrics stay, as a sort key may read them).
    let keys = combiner.splits().then(|| {
        let only = Joins {
            metrics: joins.metrics,
            ..Joins::default()
        };
        let stmt = statement(select.clone(), only, DatabaseBackend::Postgres);
        let mut sql = String::with_capacity(stmt.sql.len() + sort.len() + 64);
        let _ = write!(
            sql,
            r#"SELECT "t"."id", "t"."{sort}" FROM ({} LIMIT {limit}) AS "t""#,
            stmt.sql
        );
        Keys {
            stmt: Statement { sql, ..stmt },
            columns: format!(r#""id", "{sort}""#),
        }
    });
    let stmt = statement(select, joins, DatabaseBackend::Postgres);
    let row = json_row(joins);
    let mut sql = String::with_capacity(stmt.sql.len() + row.len() + sort.len() + 64);
    let _ = write!(
        sql,
        r#"SELECT {row} AS "j", "t"."id", "t"."{sort}" FROM ({} LIMIT {limit}) AS "t""#,
        stmt.sql
    );
    let relation = combiner.relation(Statement { sql, ..stmt }, keys);
    let mut sql = String::with_capacity(order.len() + 64);
    let _ = write!(
        sql,
        r#"SELECT "j", ROW_NUMBER() OVER (ORDER BY {order}) AS "rn" FROM {}"#,
        relation.name()
    );
    let rows = Statement::from_string(DatabaseBackend::Postgres, sql);
    let read = {
        let relation = relation.clone();
        async move {
            let json = combiner.rows_reading(&relation, rows, true).await?;
            let row = Row::new(joins);
            json.read(|| row).map_err(Arc::new)
        }
    };
    (relation, read)
}

/// `stmt`, a statement of [`statement`]'s shape on PostgreSQL, giving each
/// row as one JSON text in a column `j`, which [`read_array`] reads.
pub fn as_json(stmt: Statement, joins: Joins) -> Statement {
    let row = json_row(joins);
    let mut sql = String::with_capacity(stmt.sql.len() + row.len() + 64);
    sql.push_str("SELECT ");
    sql.push_str(&row);
    sql.push_str(r#" AS "j" FROM ("#);
    sql.push_str(&stmt.sql);
    sql.push_str(r#") AS "t""#);
    Statement { sql, ..stmt }
}

/// A row of [`statement`], the subquery `"t"`, as the JSON text
/// [`read_array`] reads: an array of the customer's columns, then for each
/// of `joins` in the order of [`Joins`]' fields its row's columns as an
/// array (`null` when absent) or the tags' JSON text. A row's columns its
/// fields do not read are left out of its array ([`written`]).
///
/// Arrays rather than `row_to_json`'s object: PostgreSQL writes no names,
/// and measured on a page of 50 customers writing the rows as JSON cost it
/// more than joining them. Written once for each combination of joins and
/// columns and kept, up to [`KEPT_ROWS`] of them (writing one took a
/// profile request 2 % of its instructions); past that, written for each
/// statement, so that no client can make the kept texts grow unbounded.
fn json_row(joins: Joins) -> Arc<str> {
    type Rows = RwLock<FxHashMap<Joins, Arc<str>>>;
    static ROWS: LazyLock<Rows> = LazyLock::new(Rows::default);
    let kept = ROWS
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&joins)
        .cloned();
    if let Some(row) = kept {
        return row;
    }
    let row: Arc<str> = Arc::from(write_json_row(joins));
    let mut rows = ROWS.write().unwrap_or_else(PoisonError::into_inner);
    if rows.len() < KEPT_ROWS {
        rows.insert(joins, row.clone());
    }
    row
}

/// How many texts of [`json_row`] are kept.
const KEPT_ROWS: usize = 1024;

fn write_json_row(joins: Joins) -> String {
    fn array<E: EntityTrait>(out: &mut String, prefix: &str, key: &str, columns: Columns) {
        let columns = written::<E>(columns, key);
        out.push_str("json_build_array(");
        let mut first = true;
        for (i, col) in E::Column::iter().enumerate() {
            if !columns.has(i) {
                continue;
            }
            if !first {
                out.push_str(", ");
            }
            first = false;
            out.push_str(r#""t"."#);
            out.push('"');
            out.push_str(prefix);
            out.push_str(col.as_str());
            out.push('"');
        }
        out.push(')');
    }
    fn optional<E: EntityTrait>(out: &mut String, prefix: &str, key: &str, columns: Columns) {
        out.push_str(&format!(
            r#", CASE WHEN "t"."{prefix}{key}" IS NULL THEN NULL ELSE "#
        ));
        array::<E>(out, prefix, key, columns);
        out.push_str(" END");
    }
    let mut out = String::with_capacity(4096);
    out.push_str("json_build_array(");
    let own = joins
        .own
        .with::<customer::Entity>(customer::Column::CreatedAt);
    array::<customer::Entity>(&mut out, "", "id", own);
    if let Some(columns) = joins.metrics {
        optional::<customer_metrics::Entity>(&mut out, METRICS, "customer_id", columns);
    }
    if let Some(columns) = joins.loyalty {
        optional::<loyalty_account::Entity>(&mut out, LOYALTY, "customer_id", columns);
    }
    if joins.tags {
        out.push_str(&format!(r#", "t"."{TAGS}""#));
    }
    if let Some(columns) = joins.referred_by {
        optional::<referral::Entity>(&mut out, REFERRAL, "id", columns);
    }
    out.push_str(")::text");
    out
}

/// The columns of `E` a row of [`json_row`] writes for `columns`: those,
/// and the row's key `key` (every one for [`Columns::ALL`]).
fn written<E: EntityTrait>(columns: Columns, key: &str) -> Columns {
    E::Column::iter()
        .filter(|column| column.as_str() == key)
        .fold(columns, |set, column| set.with::<E>(column))
}

/// Reads a row written by [`json_row`], each part straight into its model
/// in one pass over the text.
pub fn read_array(text: &str, row: Row) -> Result<(customer::Model, Joined), AppError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let row = de
        .deserialize_seq(Parts(row))
        .and_then(|row| de.end().map(|()| row))
        .map_err(|e| {
            AppError::Internal(anyhow::anyhow!("reading a customer's row as JSON: {e}"))
        })?;
    Ok(row)
}

/// A row of [`json_row`] as one element of a larger JSON value (the rows
/// of a combined statement, `read::combine::JsonRows`), with the columns
/// each of its parts writes ([`written`]) worked out once for all the rows
/// of a statement: for each row they cost a page of customers 1 % of its
/// instructions.
#[derive(Clone, Copy)]
pub struct Row {
    tags: bool,
    own: Columns,
    metrics: Option<Columns>,
    loyalty: Option<Columns>,
    referred_by: Option<Columns>,
}

impl Row {
    pub fn new(joins: Joins) -> Row {
        let own = joins
            .own
            .with::<customer::Entity>(customer::Column::CreatedAt);
        Row {
            tags: joins.tags,
            own: written::<customer::Entity>(own, "id"),
            metrics: joins
                .metrics
                .map(|c| written::<customer_metrics::Entity>(c, "customer_id")),
            loyalty: joins
                .loyalty
                .map(|c| written::<loyalty_account::Entity>(c, "customer_id")),
            referred_by: joins
                .referred_by
                .map(|c| written::<referral::Entity>(c, "id")),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Row {
    type Value = (customer::Model, Joined);
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_seq(Parts(self))
    }
}

/// The parts of a [`json_row`].
struct Parts(Row);

impl<'de> Visitor<'de> for Parts {
    type Value = (customer::Model, Joined);

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a customer's row as a JSON array of its parts")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let row = self.0;
        let mut parts = Elements {
            seq: &mut seq,
            at: 0,
        };
        let customer = parts.model(row.own)?;
        let mut joined = Joined::default();
        if let Some(columns) = row.metrics {
            joined.metrics = Some(parts.part(columns)?);
        }
        if let Some(columns) = row.loyalty {
            joined.loyalty = Some(parts.part(columns)?);
        }
        if row.tags {
            // A JSON text within the row's: escaped, so read as an owned string.
            let text: Option<String> = parts.next()?;
            joined.tags = Some(tags(text.as_deref()).map_err(serde::de::Error::custom)?);
        }
        if let Some(columns) = row.referred_by {
            joined.referred_by = Some(parts.part(columns)?);
        }
        Ok((customer, joined))
    }
}

/// A sequence's elements, counted for the error where it ends early.
struct Elements<'s, A> {
    seq: &'s mut A,
    at: usize,
}

impl<'de, A: SeqAccess<'de>> Elements<'_, A> {
    fn next<T: Deserialize<'de>>(&mut self) -> Result<T, A::Error> {
        self.next_seed(PhantomData)
    }

    fn next_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        let element = self.seq.next_element_seed(seed)?.ok_or_else(|| {
            serde::de::Error::invalid_length(self.at, &"every part the row joins")
        })?;
        self.at += 1;
        Ok(element)
    }

    /// A row with `columns` written ([`written`]): read as it is when every
    /// column is, else with the others left out.
    fn model<M: Deserialize<'de>>(&mut self, columns: Columns) -> Result<M, A::Error> {
        if columns == Columns::ALL {
            return self.next();
        }
        self.next_seed(Partial::new(columns))
    }

    /// A joined row, absent or with `columns` written ([`written`]).
    fn part<M: Deserialize<'de>>(&mut self, columns: Columns) -> Result<Option<M>, A::Error> {
        if columns == Columns::ALL {
            return self.next();
        }
        self.next_seed(PartialOrNull(Partial::new(columns)))
    }
}

/// A customer's tags from their JSON array (`None` for no tags), sorted.
fn tags(text: Option<&str>) -> Result<Vec<String>, serde_json::Error> {
    let mut tags: Vec<String> = match text {
        Some(text) => serde_json::from_str(text)?,
        None => Vec::new(),
    };
    tags.sort_unstable();
    Ok(tags)
}

/// The name a metrics column has among the columns of [`statement`].
pub fn metrics_column(column: customer_metrics::Column) -> String {
    format!("{METRICS}{}", column.as_str())
}

/// The statement [`fetch`] runs.
pub fn statement(
    select: Select<customer::Entity>,
    joins: Joins,
    backend: DatabaseBackend,
) -> Statement {
    let mut stmt = select.into_query();
    add_columns(&mut stmt, joins, backend);
    StatementBuilder::build(&stmt, &backend)
}

/// Reads the rows of [`statement`] as customers and their joined rows: on
/// SQLite by position ([`Layout`]), elsewhere by name.
pub fn read_rows(
    rows: &[QueryResult],
    joins: Joins,
) -> Result<Vec<(customer::Model, Joined)>, AppError> {
    let layout = rows
        .first()
        .and_then(QueryResult::try_as_sqlite_row)
        .map(|first| (first, Layout::of(joins)))
        .filter(|(first, layout)| layout.fits(first))
        .map(|(_, layout)| layout);
    super::read_each(rows, |row| {
        match (&layout, row.try_as_sqlite_row()) {
            (Some(layout), Some(row)) => layout.read(row),
            _ => read(row, joins),
        }
        .map_err(AppError::from)
    })
}

/// Where each part of a row of [`statement`] starts on SQLite: the
/// customer's columns in the entity's order, then each joined row's in its
/// own, as [`add_columns`] selects them. Read by name, sea-orm formats each
/// column's prefixed name anew for every column of every row, which was a
/// fifth of the instructions of the benchmark's list on SQLite
/// (BENCHMARKS.md, "SQLite's customers read by position").
struct Layout {
    /// The first column of each joined row and of its key.
    metrics: Option<(usize, usize)>,
    loyalty: Option<(usize, usize)>,
    tags: Option<usize>,
    referral: Option<(usize, usize)>,
    len: usize,
}

impl Layout {
    fn of(joins: Joins) -> Layout {
        /// The first column of `E`'s columns at `at`, and of its `key`
        /// (past them all if `E` has no such column, so nothing fits).
        fn part<E: EntityTrait>(at: &mut usize, key: &str) -> (usize, usize) {
            let start = *at;
            let mut key_at = usize::MAX;
            for (i, column) in E::Column::iter().enumerate() {
                if column.as_str() == key {
                    key_at = start + i;
                }
                *at += 1;
            }
            (start, key_at)
        }
        let mut at = customer::Column::iter().count();
        let metrics = joins
            .metrics
            .map(|_| part::<customer_metrics::Entity>(&mut at, "customer_id"));
        let loyalty = joins
            .loyalty
            .map(|_| part::<loyalty_account::Entity>(&mut at, "customer_id"));
        let tags = joins.tags.then(|| {
            at += 1;
            at - 1
        });
        let referral = joins
            .referred_by
            .map(|_| part::<referral::Entity>(&mut at, "id"));
        Layout {
            metrics,
            loyalty,
            tags,
            referral,
            len: at,
        }
    }

    /// Whether `row` has these columns, named as [`statement`] names them:
    /// checked on a statement's first row, whose columns are every row's.
    fn fits(&self, row: &SqliteRow) -> bool {
        use sea_orm::sqlx::{Column as _, Row as _};
        fn first<E: EntityTrait>() -> &'static str {
            E::Column::iter().next().map_or("", |c| c.as_str())
        }
        let columns = row.columns();
        let named = |at: usize, prefix: &str, name: &str| {
            columns.get(at).and_then(|c| c.name().strip_prefix(prefix)) == Some(name)
        };
        let keys = [self.metrics, self.loyalty, self.referral];
        columns.len() == self.len
            && keys.iter().flatten().all(|&(_, key)| key < self.len)
            && named(0, "", first::<customer::Entity>())
            && self
                .metrics
                .is_none_or(|(at, _)| named(at, METRICS, first::<customer_metrics::Entity>()))
            && self
                .loyalty
                .is_none_or(|(at, _)| named(at, LOYALTY, first::<loyalty_account::Entity>()))
            && self.tags.is_none_or(|at| named(at, "", TAGS))
            && self
                .referral
                .is_none_or(|(at, _)| named(at, REFERRAL, first::<referral::Entity>()))
    }

    /// A row that [`Layout::fits`], as [`read`] reads it by name.
    fn read(&self, row: &SqliteRow) -> Result<(customer::Model, Joined), DbErr> {
        /// A left-joined row: absent when its key column is NULL.
        fn part<M: DeserializeOwned>(
            row: &SqliteRow,
            (start, key): (usize, usize),
        ) -> Result<Option<M>, DbErr> {
            if positional::is_null(row, key)? {
                return Ok(None);
            }
            positional::read_at(row, start).map(Some)
        }
        let tags_at = |at: usize| {
            tags(positional::get::<Option<&str>>(row, at)?)
                .map_err(|e| DbErr::Type(format!("customer tags as JSON: {e}")))
        };
        let joined = Joined {
            metrics: self.metrics.map(|at| part(row, at)).transpose()?,
            loyalty: self.loyalty.map(|at| part(row, at)).transpose()?,
            tags: self.tags.map(tags_at).transpose()?,
            referred_by: self.referral.map(|at| part(row, at)).transpose()?,
        };
        Ok((positional::read_at(row, 0)?, joined))
    }
}

fn add_columns(stmt: &mut SelectStatement, joins: Joins, backend: DatabaseBackend) {
    if joins.metrics.is_some() {
        prefixed(stmt, &METRICS_COLUMNS);
    }
    if joins.loyalty.is_some() {
        prefixed(stmt, &LOYALTY_COLUMNS);
    }
    if joins.tags {
        // One JSON array per customer: tags may hold any character, so no
        // separator would be safe. PostgreSQL gives NULL for no rows.
        let aggregate = match backend {
            DatabaseBackend::Postgres => r#"json_agg("customer_tags"."tag")::text"#,
            _ => r#"json_group_array("customer_tags"."tag")"#,
        };
        let tags = Query::select()
            .expr(Expr::cust(aggregate))
            .from(customer_tag::Entity)
            .and_where(
                Expr::col((customer_tag::Entity, customer_tag::Column::CustomerId))
                    .equals((customer::Entity, customer::Column::Id)),
            )
            .to_owned();
        stmt.expr_as(
            Expr::SubQuery(None, Box::new(tags.into_sub_query_statement())),
            TAGS,
        );
    }
    if joins.referred_by.is_some() {
        let first = first_referral(
            Expr::col((referral::Entity, referral::Column::RefereeCustomerId))
                .equals((customer::Entity, customer::Column::Id)),
        );
        stmt.join_as(
            JoinType::LeftJoin,
            referral::Entity,
            Alias::new(REFERRED_BY),
            Expr::col((Alias::new(REFERRED_BY), referral::Column::Id)).eq(Expr::SubQuery(
                None,
                Box::new(first.into_sub_query_statement()),
            )),
        );
        prefixed(stmt, &REFERRAL_COLUMNS);
    }
}

/// The id of the referral that brought a customer in: the first attribution
/// that was not rejected, as `ReferredByLoader` picks it; `referee` says
/// whose.
fn first_referral(referee: SimpleExpr) -> SelectStatement {
    Query::select()
        .expr(referral::Column::Id.into_expr().min())
        .from(referral::Entity)
        .and_where(referee)
        .and_where(referral::Column::Status.ne(ReferralStatus::Rejected))
        .to_owned()
}

/// [`first_referral`] of the customer `referee`.
pub fn first_referral_of(referee: i64) -> SelectStatement {
    first_referral(referral::Column::RefereeCustomerId.eq(referee))
}

/// Selects every column of `E` from `table` as `<prefix><column>`, as one
/// text written once per joined table and kept (`kept`): built column by
/// column, quoting and formatting each name anew, the joined columns cost
/// a page of customers 3 % of its instructions.
fn prefixed(stmt: &mut SelectStatement, kept: &'static LazyLock<String>) {
    stmt.expr(Expr::cust(kept.as_str()));
}

/// The text [`prefixed`] selects for `E`.
fn prefixed_text<E: EntityTrait>(table: &str, prefix: &str) -> String {
    let quoted = |name: &str| format!("\"{}\"", name.replace('"', "\"\""));
    E::Column::iter()
        .map(|col| {
            let name = col.as_str();
            let alias = format!("{prefix}{name}");
            format!("{}.{} AS {}", quoted(table), quoted(name), quoted(&alias))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

static METRICS_COLUMNS: LazyLock<String> = LazyLock::new(|| {
    prefixed_text::<customer_metrics::Entity>(customer_metrics::Entity.table_name(), METRICS)
});
static LOYALTY_COLUMNS: LazyLock<String> = LazyLock::new(|| {
    prefixed_text::<loyalty_account::Entity>(loyalty_account::Entity.table_name(), LOYALTY)
});
static REFERRAL_COLUMNS: LazyLock<String> =
    LazyLock::new(|| prefixed_text::<referral::Entity>(REFERRED_BY, REFERRAL));

fn read(row: &QueryResult, joins: Joins) -> Result<(customer::Model, Joined), DbErr> {
    let customer = customer::Model::from_query_result(row, "")?;
    let mut joined = Joined::default();
    if joins.metrics.is_some() {
        joined.metrics = Some(optional::<customer_metrics::Model>(
            row,
            METRICS,
            "customer_id",
        )?);
    }
    if joins.loyalty.is_some() {
        joined.loyalty = Some(optional::<loyalty_account::Model>(
            row,
            LOYALTY,
            "customer_id",
        )?);
    }
    if joins.tags {
        let json: Option<String> = row.try_get("", TAGS)?;
        joined.tags = Some(
            tags(json.as_deref())
                .map_err(|e| DbErr::Type(format!("customer tags as JSON: {e}")))?,
        );
    }
    if joins.referred_by.is_some() {
        joined.referred_by = Some(optional::<referral::Model>(row, REFERRAL, "id")?);
    }
    Ok((customer, joined))
}

/// A left-joined row: absent when its key column is NULL. Any other
/// failure to read it is an error, not an absence.
fn optional<M: FromQueryResult>(
    row: &QueryResult,
    prefix: &str,
    key: &str,
) -> Result<Option<M>, DbErr> {
    let present: Option<i64> = row.try_get(prefix, key)?;
    match present {
        Some(_) => M::from_query_result(row, prefix).map(Some),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On SQLite a customer row and every row it joins read by position
    /// exactly as by name, absent rows and empty tags included; a statement
    /// whose columns are not where the layout expects them is read by name.
    #[tokio::test]
    async fn sqlite_rows_read_the_same_by_position_as_by_name() {
        use crate::config::Config;
        use crate::db::{Store, StoreOptions};
        use crate::seed::{SeedOptions, run};
        use crate::segment::compile::{join_loyalty, join_metrics};
        use crate::service::rules::Rules;

        let dir = tempfile::tempdir().expect("a directory");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("c360.db").display());
        let db = Store::connect(&StoreOptions::new(&url))
            .await
            .expect("opens")
            .conn;
        crate::db::migrate_up(&db).await.expect("migrates");
        let rules = Rules::from_config(&Config::for_store(url.clone())).expect("rules");
        let opts = SeedOptions {
            customers: 120,
            ..SeedOptions::new(rules, chrono::Utc::now())
        };
        run(&db, &opts).await.expect("seeds");
        // Every seeded customer has an account and figures: take one of
        // each away, so that absent joined rows are read too.
        for sql in [
            "DELETE FROM loyalty_accounts WHERE customer_id = (SELECT min(id) FROM customers)",
            "DELETE FROM customer_metrics WHERE customer_id = (SELECT max(id) FROM customers)",
        ] {
            db.execute_unprepared(sql).await.expect("deletes");
        }

        let every = Joins {
            metrics: Some(Columns::ALL),
            loyalty: Some(Columns::ALL),
            tags: true,
            referred_by: Some(Columns::ALL),
            ..Joins::default()
        };
        let some = Joins {
            loyalty: Some(Columns::ALL),
            tags: true,
            ..Joins::default()
        };
        for joins in [every, some, Joins::default()] {
            let mut select = customer::Entity::find();
            if joins.metrics.is_some() {
                join_metrics(QueryTrait::query(&mut select));
            }
            if joins.loyalty.is_some() {
                join_loyalty(QueryTrait::query(&mut select));
            }
            let stmt = statement(select, joins, DatabaseBackend::Sqlite);
            let rows = db.query_all_raw(stmt).await.expect("rows");
            assert_eq!(rows.len(), 120);
            let layout = Layout::of(joins);
            let first = rows[0].try_as_sqlite_row().expect("a SQLite row");
            assert!(layout.fits(first), "{joins:?}");
            let by_position = read_rows(&rows, joins).expect("by position");
            for (row, (customer, joined)) in rows.iter().zip(&by_position) {
                let (by_name, joined_by_name) = read(row, joins).expect("by name");
                assert_eq!(customer, &by_name);
                assert_eq!(format!("{joined:?}"), format!("{joined_by_name:?}"));
            }
            if joins == every {
                let read =
                    |pick: fn(&Joined) -> bool| by_position.iter().filter(|(_, j)| pick(j)).count();
                // The seed gives some customers each part and some none.
                for (what, count) in [
                    ("metrics", read(|j| matches!(j.metrics, Some(Some(_))))),
                    ("no metrics", read(|j| matches!(j.metrics, Some(None)))),
                    ("no loyalty", read(|j| matches!(j.loyalty, Some(None)))),
                    ("loyalty", read(|j| matches!(j.loyalty, Some(Some(_))))),
                    (
                        "tags",
                        read(|j| j.tags.as_ref().is_some_and(|t| !t.is_empty())),
                    ),
                    (
                        "no tags",
                        read(|j| j.tags.as_ref().is_some_and(Vec::is_empty)),
                    ),
                    ("referred", read(|j| matches!(j.referred_by, Some(Some(_))))),
                    (
                        "not referred",
                        read(|j| matches!(j.referred_by, Some(None))),
                    ),
                ] {
                    assert!(count > 0, "no customer with {what}");
                }
            }
        }

        // One more column ahead of the joined ones: the layout does not fit,
        // and the rows are read by name all the same.
        let mut select = customer::Entity::find().into_query();
        join_metrics(&mut select);
        join_loyalty(&mut select);
        select.expr_as(Expr::cust("1"), Alias::new("extra"));
        add_columns(&mut select, every, DatabaseBackend::Sqlite);
        let stmt = StatementBuilder::build(&select, &DatabaseBackend::Sqlite);
        let rows = db.query_all_raw(stmt).await.expect("rows");
        let first = rows[0].try_as_sqlite_row().expect("a SQLite row");
        assert!(!Layout::of(every).fits(first));
        let by_name = read_rows(&rows, every).expect("by name");
        assert_eq!(by_name.len(), 120);
        assert!(
            by_name
                .iter()
                .any(|(_, j)| matches!(j.metrics, Some(Some(_))))
        );
    }

    /// The kept texts select what sea-query writes column by column, on
    /// both backends.
    #[test]
    fn kept_joined_columns_are_what_sea_query_writes() {
        use sea_orm::sea_query::{IntoColumnRef, PostgresQueryBuilder, SqliteQueryBuilder};
        fn built<E: EntityTrait>(table: &str, prefix: &str) -> [String; 2] {
            let mut stmt = Query::select();
            for col in E::Column::iter() {
                let name = col.as_str();
                stmt.expr_as(
                    Expr::col((Alias::new(table), Alias::new(name)).into_column_ref()),
                    Alias::new(format!("{prefix}{name}")),
                );
            }
            [
                stmt.to_string(PostgresQueryBuilder),
                stmt.to_string(SqliteQueryBuilder),
            ]
        }
        let table = customer_metrics::Entity.table_name();
        for (kept, built) in [
            (
                &*METRICS_COLUMNS,
                built::<customer_metrics::Entity>(table, METRICS),
            ),
            (
                &*LOYALTY_COLUMNS,
                built::<loyalty_account::Entity>(loyalty_account::Entity.table_name(), LOYALTY),
            ),
            (
                &*REFERRAL_COLUMNS,
                built::<referral::Entity>(REFERRED_BY, REFERRAL),
            ),
        ] {
            for text in built {
                assert_eq!(text, format!("SELECT {kept}"));
            }
        }
    }

    fn written(row: &str, column: &str) -> bool {
        row.contains(&format!(r#""t"."{column}""#))
    }

    #[test]
    fn a_joined_row_writes_the_columns_asked_for_and_its_key() {
        use customer_metrics::Column as M;
        let joins = Joins {
            metrics: Some(Columns::of::<customer_metrics::Entity>([M::OrdersCount])),
            loyalty: Some(Columns::NONE),
            tags: true,
            ..Joins::default()
        };
        let row = json_row(joins);
        assert!(Arc::ptr_eq(&row, &json_row(joins)), "kept");
        assert!(customer::Column::iter().all(|c| written(&row, c.as_str())));
        assert!(written(&row, "m_orders_count") && written(&row, "m_customer_id"));
        assert!(!written(&row, "m_net_spend") && !written(&row, "m_updated_at"));
        assert!(written(&row, "l_customer_id") && !written(&row, "l_tier"));
        assert!(written(&row, TAGS) && !written(&row, "r_id"));
        // A left-out column is not written at all: the metrics row's array
        // is its key and its count, the account's its key alone.
        assert!(
            row.contains(r#"json_build_array("t"."m_customer_id", "t"."m_orders_count")"#),
            "{row}"
        );
        assert!(
            row.contains(r#"json_build_array("t"."l_customer_id")"#),
            "{row}"
        );
        assert!(!row.contains("NULL,"), "{row}");

        let whole = json_row(joins.tables());
        assert!(written(&whole, "m_net_spend") && written(&whole, "l_tier"));
        assert_eq!(
            whole,
            json_row(
                Joins {
                    tags: true,
                    ..joins
                }
                .tables()
            )
        );
    }

    #[test]
    fn joins_combine_their_columns() {
        use customer_metrics::Column as M;
        let of = |c| Some(Columns::of::<customer_metrics::Entity>([c]));
        let a = Joins {
            metrics: of(M::OrdersCount),
            ..Joins::default()
        };
        let b = Joins {
            metrics: of(M::NetSpend),
            tags: true,
            ..Joins::default()
        };
        let both = a | b;
        assert_eq!(
            both.metrics,
            Some(Columns::of::<customer_metrics::Entity>([
                M::OrdersCount,
                M::NetSpend
            ]))
        );
        assert!(both.tags && both.loyalty.is_none());
        assert_eq!(both.tables().metrics, Some(Columns::ALL));
        assert_eq!(Joins::default().tables(), Joins::default());
    }
}
