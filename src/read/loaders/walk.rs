//! First pages by one walk down the `(parent, sort, id)` index per parent,
//! stopping at the page: on PostgreSQL joined `LATERAL` to the parents' ids
//! bound as one array (one parent, a profile's, read directly), on SQLite
//! as an `IN` subquery with a `LIMIT`, correlated to the ids bound as one
//! JSON array (`json_each`).
//!
//! The window statement they replace (`ROW_NUMBER() OVER (PARTITION BY
//! parent ...)`, still [`super::pages`]' for later pages) reads every row of
//! every parent, sorts them and ranks them. Measured on the benchmark's
//! list: on PostgreSQL its level of five pages over 50 customers ran 1,181
//! times a second alone instead of 1,026 (`pgbench -M prepared`, one
//! client), 2,500 instead of 1,941 with 16, a profile's plan, with eight
//! such pages, being mostly their setup; on SQLite the orders' page took
//! 0.54 to 0.69 ms instead of 1.47 to 1.59, one customer's 0.034 to 0.039
//! instead of 0.051 to 0.065.
//!
//! The text depends on the list, its page size and the columns written,
//! never on how many parents there are (on PostgreSQL: whether one or
//! more), and the page size is written into it rather than bound:
//! PostgreSQL then settles on one generic plan per connection after its
//! first five executions, as it cannot when a bound `LIMIT` leaves it
//! guessing. Rows come in no order; the loader orders each parent's rows
//! itself.

use std::any::TypeId;
use std::fmt::Write as _;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use rustc_hash::FxHashMap;
use sea_orm::sea_query::ArrayType;
use sea_orm::{DbBackend, EntityName, EntityTrait, IdenStatic, Iterable, Statement, Value, Values};

use super::pages::{ChildList, Shape, with_keys};
use crate::read::columns::Columns;
use crate::read::pagination::Direction;

/// Texts by the lists they read, store, page sizes (above, own) and shape.
/// Columns come in combinations a client chooses, so past [`KEPT`] texts a
/// new one is written for each statement rather than kept.
type TextKey = (TypeId, Store, u64, u64, Shape);
const KEPT: usize = 1024;
static TEXTS: LazyLock<Mutex<FxHashMap<TextKey, Arc<str>>>> = LazyLock::new(Mutex::default);

/// The store a text is written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Store {
    /// Whether there is one parent, bound alone ([`push_ids`]).
    Postgres(bool),
    Sqlite,
}

/// The first `first` rows of `R` of each of `parents`, plus one where
/// there are more.
pub(super) fn first_pages<R: ChildList>(
    backend: DbBackend,
    parents: &[i64],
    first: u64,
    shape: Shape,
) -> Statement {
    if backend != DbBackend::Postgres {
        return sqlite_first_pages::<R>(parents, first);
    }
    let one = parents.len() == 1;
    let sql = kept(
        (TypeId::of::<R>(), Store::Postgres(one), 0, first, shape),
        || first_pages_text::<R>(Ids::bound(one), first, shape),
    );
    Statement::from_sql_and_values(DbBackend::Postgres, &*sql, ids(parents))
}

/// [`first_pages`] on PostgreSQL of the parents whose ids `parents`, a
/// query of the same statement, gives in its first column (the customers
/// of a page, `read::combine::Relation`). Binds nothing of its own.
pub(super) fn first_pages_of<R: ChildList>(parents: &str, first: u64, shape: Shape) -> Statement {
    let sql = first_pages_text::<R>(Ids::Query(parents), first, shape);
    Statement::from_string(DbBackend::Postgres, sql)
}

/// Where a statement's parents' ids come from.
#[derive(Clone, Copy)]
enum Ids<'a> {
    /// One id, bound alone as `$1` ([`ids`]).
    One,
    /// Ids bound as one array, `$1` ([`ids`]).
    Many,
    /// The first column of a query of the statement's own.
    Query(&'a str),
}

impl<'a> Ids<'a> {
    fn bound(one: bool) -> Self {
        if one { Ids::One } else { Ids::Many }
    }

    /// The query giving the ids; `None` where they are bound.
    fn query(self) -> Option<&'a str> {
        match self {
            Ids::Query(query) => Some(query),
            Ids::One | Ids::Many => None,
        }
    }
}

/// One parent's id, bound alone. PostgreSQL guesses ten elements in an
/// array it does not see, so a generic plan over an array of one (a
/// profile's lists) would cost ten times the custom plans, and it would go
/// on planning every execution anew.
///
/// Its rows are read directly, not joined to the id as a one-row relation:
/// PostgreSQL opens every node of a plan on each execution, which was a
/// third of its time on the profile's statement, and the join costs each
/// page two nodes (a `Values Scan` and its `Nested Loop`). Without them the
/// profile's statement has 54 nodes instead of 60 and the same rows, and
/// the profile served 3 to 6 % more requests a second (BENCHMARKS.md).
const ONE_ID: &str = "$1::int8";

fn first_pages_text<R: ChildList>(parents: Ids<'_>, first: u64, shape: Shape) -> String {
    let mut sql = select_list::<R>(shape);
    sql.push_str(" FROM ");
    if let Ids::One = parents {
        quoted(&mut sql, R::Entity::default().table_name());
        sql.push_str(r#" AS "c""#);
        page_of::<R>(&mut sql, ONE_ID, first + 1);
        return sql;
    }
    push_ids(&mut sql, parents.query(), r#""p"("parent")"#);
    sql.push_str(" CROSS JOIN LATERAL (");
    page::<R>(&mut sql, r#""p"."parent""#, first + 1, shape);
    sql.push_str(r#") AS "c""#);
    sql
}

/// [`first_pages`] on SQLite, which has no `LATERAL`: each row of the
/// table joined on its id being among its parent's first, walked by a
/// correlated subquery. Always whole rows ([`Shape::Columns`]): SQLite's
/// statements are never combined.
fn sqlite_first_pages<R: ChildList>(parents: &[i64], first: u64) -> Statement {
    let key = (TypeId::of::<R>(), Store::Sqlite, 0, first, Shape::Columns);
    let sql = kept(key, || {
        let mut sql = select_list::<R>(Shape::Columns);
        sql.push_str(r#" FROM json_each(?) AS "p" JOIN "#);
        quoted(&mut sql, R::Entity::default().table_name());
        sql.push_str(r#" AS "c" ON "c"."#);
        quoted(&mut sql, R::id_col().as_str());
        sql.push_str(" IN (SELECT ");
        quoted(&mut sql, R::id_col().as_str());
        sql.push_str(" FROM ");
        rows_of::<R>(&mut sql, r#""p"."value""#, first + 1);
        sql.push(')');
        sql
    });
    let mut list = String::with_capacity(parents.len() * 8 + 2);
    list.push('[');
    for (i, id) in parents.iter().enumerate() {
        if i > 0 {
            list.push(',');
        }
        let _ = write!(list, "{id}");
    }
    list.push(']');
    Statement::from_sql_and_values(
        DbBackend::Sqlite,
        &*sql,
        Values(vec![Value::String(Some(list))]),
    )
}

/// The first `first` rows of `R` below each of the first `above_first`
/// items of `grand`'s pages of `A` (an order's lines below a customer's
/// orders), the items chosen by their own walk in the same statement. On
/// PostgreSQL, whose levels are combined: read ahead only there.
pub(super) fn first_pages_below<A: ChildList, R: ChildList>(
    grand: &[i64],
    above_first: u64,
    first: u64,
    shape: Shape,
) -> Statement {
    let one = grand.len() == 1;
    let key = (
        TypeId::of::<(A, R)>(),
        Store::Postgres(one),
        above_first,
        first,
        shape,
    );
    let sql = kept(key, || {
        first_pages_below_text::<A, R>(Ids::bound(one), above_first, first, shape)
    });
    Statement::from_sql_and_values(DbBackend::Postgres, &*sql, ids(grand))
}

/// [`first_pages_below`] of the parents whose ids `grand`, a query of the
/// same statement, gives in its first column, as in [`first_pages_of`].
pub(super) fn first_pages_below_of<A: ChildList, R: ChildList>(
    grand: &str,
    above_first: u64,
    first: u64,
    shape: Shape,
) -> Statement {
    let sql = first_pages_below_text::<A, R>(Ids::Query(grand), above_first, first, shape);
    Statement::from_string(DbBackend::Postgres, sql)
}

fn first_pages_below_text<A: ChildList, R: ChildList>(
    grand: Ids<'_>,
    above_first: u64,
    first: u64,
    shape: Shape,
) -> String {
    let mut sql = select_list::<R>(shape);
    sql.push_str(" FROM ");
    // One customer's items are read directly, as in `first_pages_text`.
    let grand = match grand {
        Ids::One => ONE_ID,
        Ids::Many | Ids::Query(_) => {
            push_ids(&mut sql, grand.query(), r#""g"("grand")"#);
            sql.push_str(" CROSS JOIN LATERAL ");
            r#""g"."grand""#
        }
    };
    sql.push_str("(SELECT ");
    quoted(&mut sql, A::id_col().as_str());
    sql.push_str(r#" AS "parent" FROM "#);
    rows_of::<A>(&mut sql, grand, above_first);
    sql.push_str(r#") AS "p" CROSS JOIN LATERAL ("#);
    page::<R>(&mut sql, r#""p"."parent""#, first + 1, shape);
    sql.push_str(r#") AS "c""#);
    sql
}

fn kept(key: TextKey, write: impl FnOnce() -> String) -> Arc<str> {
    if let Some(sql) = TEXTS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&key)
    {
        return sql.clone();
    }
    let sql: Arc<str> = Arc::from(write());
    let mut texts = TEXTS.lock().unwrap_or_else(PoisonError::into_inner);
    if texts.len() < KEPT {
        texts.insert(key, sql.clone());
    }
    sql
}

/// The parents' ids as the relation `relation`: bound as one array, `$1`
/// ([`ids`]), or given by `query`.
fn push_ids(sql: &mut String, query: Option<&str>, relation: &str) {
    match query {
        None => sql.push_str("unnest($1::int8[]) AS "),
        Some(query) => {
            sql.push('(');
            sql.push_str(query);
            sql.push_str(") AS ");
        }
    }
    sql.push_str(relation);
}

/// The ids as the parameter `$1`: one alone, more as an array.
fn ids(ids: &[i64]) -> Values {
    if let [id] = ids {
        return Values(vec![Value::BigInt(Some(*id))]);
    }
    let ids = ids.iter().map(|&id| Value::BigInt(Some(id))).collect();
    Values(vec![Value::Array(ArrayType::BigInt, Some(Box::new(ids)))])
}

/// What the statement gives for each row of `"c"`: its columns by name
/// ([`Shape::Columns`], read by name), or the JSON array a combined
/// statement reads, with the columns written alone.
fn select_list<R: ChildList>(shape: Shape) -> String {
    let mut sql = String::with_capacity(1024);
    sql.push_str("SELECT ");
    let columns = <<R::Entity as EntityTrait>::Column as Iterable>::iter;
    match shape {
        Shape::Combined(written) => {
            let written = with_keys::<R>(written);
            sql.push_str("CAST(json_build_array(");
            let mut first = true;
            for (at, column) in columns().enumerate() {
                if !written.has(at) {
                    continue;
                }
                if !first {
                    sql.push_str(", ");
                }
                first = false;
                sql.push_str(r#""c"."#);
                quoted(&mut sql, column.as_str());
            }
            sql.push_str(r#") AS text) AS "j""#);
        }
        Shape::Columns => {
            for (at, column) in columns().enumerate() {
                if at > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(r#""c"."#);
                quoted(&mut sql, column.as_str());
            }
        }
    }
    sql
}

/// One parent's page of `R`, one row past it telling whether another
/// follows, in the list's order: the columns [`select_list`] writes of
/// `shape`. A page below a `LATERAL` is not flattened into the statement
/// (its `LIMIT` keeps it apart), so PostgreSQL forms every column it
/// selects for every row; measured on the benchmark's list, selecting only
/// the written ones took its statement from 1.52 to 1.42 ms.
fn page<R: ChildList>(sql: &mut String, parent: &str, limit: u64, shape: Shape) {
    let written = match shape {
        Shape::Combined(written) => with_keys::<R>(written),
        Shape::Columns => Columns::ALL,
    };
    sql.push_str("SELECT ");
    let mut first = true;
    for (at, column) in <<R::Entity as EntityTrait>::Column as Iterable>::iter().enumerate() {
        if !written.has(at) {
            continue;
        }
        if !first {
            sql.push_str(", ");
        }
        first = false;
        quoted(sql, column.as_str());
    }
    sql.push_str(" FROM ");
    rows_of::<R>(sql, parent, limit);
}

/// `FROM`'s table onwards: the first `limit` rows of `R` whose parent is
/// `parent`, in the list's order.
fn rows_of<R: ChildList>(sql: &mut String, parent: &str, limit: u64) {
    quoted(sql, R::Entity::default().table_name());
    page_of::<R>(sql, parent, limit);
}

/// `WHERE` onwards: [`rows_of`] after its table.
fn page_of<R: ChildList>(sql: &mut String, parent: &str, limit: u64) {
    sql.push_str(" WHERE ");
    quoted(sql, R::parent_col().as_str());
    let _ = write!(sql, " = {parent} ORDER BY ");
    let dir = match R::DIRECTION {
        Direction::Asc => "ASC",
        Direction::Desc => "DESC",
    };
    if let Some(sort) = R::sort_col() {
        quoted(sql, sort.as_str());
        let _ = write!(sql, " {dir}, ");
    }
    quoted(sql, R::id_col().as_str());
    let _ = write!(sql, " {dir} LIMIT {limit}");
}

/// An identifier of the entities' own, none holding a quote.
fn quoted(sql: &mut String, name: &str) {
    sql.push('"');
    sql.push_str(name);
    sql.push('"');
}

#[cfg(test)]
mod tests {
    use c360_entity::order;

    use super::*;
    use crate::read::loaders::{CustomerOrders, OrderLines};

    /// Every number of parents past one shares one text, with the ids in one
    /// array and the page size written; one parent is bound alone and its
    /// rows read directly.
    #[test]
    fn a_text_serves_any_parents_and_one_parent_is_bound_alone() {
        let shape = Shape::Combined(Columns::ALL);
        let three = first_pages::<CustomerOrders>(DbBackend::Postgres, &[1, 2, 3], 5, shape);
        let fifty: Vec<i64> = (1..=50).collect();
        let many = first_pages::<CustomerOrders>(DbBackend::Postgres, &fifty, 5, shape);
        assert_eq!(three.sql, many.sql);
        assert!(three.sql.contains("unnest($1::int8[])"), "{}", three.sql);
        assert!(three.sql.contains("LIMIT 6"), "{}", three.sql);
        assert!(!three.sql.contains("$2"), "{}", three.sql);
        let array = |values: &Option<Values>| match values.as_ref().map(|v| v.0.as_slice()) {
            Some([Value::Array(ArrayType::BigInt, Some(ids))]) => ids.len(),
            other => panic!("not one array: {other:?}"),
        };
        assert_eq!(array(&three.values), 3);
        assert_eq!(array(&many.values), 50);

        let one = first_pages::<CustomerOrders>(DbBackend::Postgres, &[7], 5, shape);
        assert!(
            one.sql.ends_with(
                r#") AS text) AS "j" FROM "orders" AS "c" WHERE "customer_id" = $1::int8 ORDER BY "placed_at" DESC, "id" DESC LIMIT 6"#
            ),
            "{}",
            one.sql
        );
        assert_eq!(one.values, Some(Values(vec![Value::BigInt(Some(7))])));
        let other_size = first_pages::<CustomerOrders>(DbBackend::Postgres, &[7], 10, shape);
        assert!(other_size.sql.contains("LIMIT 11"), "{}", other_size.sql);
    }

    /// A combined page writes the columns asked for and the keys paging
    /// reads, and selects nothing else, each parent's rows in the list's
    /// order and no further than the page and one row.
    #[test]
    fn a_combined_page_writes_only_the_columns_asked_for() {
        let asked = Columns::of::<order::Entity>([order::Column::Total]);
        let stmt =
            first_pages::<CustomerOrders>(DbBackend::Postgres, &[1, 2], 5, Shape::Combined(asked));
        assert!(
            stmt.sql.starts_with(
                r#"SELECT CAST(json_build_array("c"."id", "c"."customer_id", "c"."total", "c"."placed_at") AS text) AS "j" FROM "#
            ),
            "{}",
            stmt.sql
        );
        assert!(
            stmt.sql.ends_with(
                r#" CROSS JOIN LATERAL (SELECT "id", "customer_id", "total", "placed_at" FROM "orders" WHERE "customer_id" = "p"."parent" ORDER BY "placed_at" DESC, "id" DESC LIMIT 6) AS "c""#
            ),
            "{}",
            stmt.sql
        );
    }

    /// On SQLite the parents are one JSON array, the page an `IN` subquery
    /// walking the parent's rows, and every column is read.
    #[test]
    fn sqlite_walks_each_parent_in_a_subquery() {
        let stmt = first_pages::<CustomerOrders>(DbBackend::Sqlite, &[3, 1, 2], 5, Shape::Columns);
        assert!(
            stmt.sql
                .starts_with(r#"SELECT "c"."id", "c"."customer_id", "c"."order_number", "#),
            "{}",
            stmt.sql
        );
        assert!(
            stmt.sql.ends_with(
                r#" FROM json_each(?) AS "p" JOIN "orders" AS "c" ON "c"."id" IN (SELECT "id" FROM "orders" WHERE "customer_id" = "p"."value" ORDER BY "placed_at" DESC, "id" DESC LIMIT 6)"#
            ),
            "{}",
            stmt.sql
        );
        assert_eq!(
            stmt.values,
            Some(Values(vec![Value::String(Some("[3,1,2]".into()))]))
        );
        let one = first_pages::<CustomerOrders>(DbBackend::Sqlite, &[9], 5, Shape::Columns);
        assert_eq!(one.sql, stmt.sql);
    }

    /// The lines below a customer's orders walk the first orders of each
    /// customer, then each order's first lines.
    #[test]
    fn pages_below_walk_the_items_then_their_rows() {
        let stmt = first_pages_below::<CustomerOrders, OrderLines>(
            &[4, 5],
            10,
            20,
            Shape::Combined(Columns::ALL),
        );
        assert!(
            stmt.sql.contains(
                r#" FROM unnest($1::int8[]) AS "g"("grand") CROSS JOIN LATERAL (SELECT "id" AS "parent" FROM "orders" WHERE "customer_id" = "g"."grand" ORDER BY "placed_at" DESC, "id" DESC LIMIT 10) AS "p" CROSS JOIN LATERAL (SELECT "#
            ),
            "{}",
            stmt.sql
        );
        assert!(
            stmt.sql.ends_with(
                r#" FROM "order_lines" WHERE "order_id" = "p"."parent" ORDER BY "id" ASC LIMIT 21) AS "c""#
            ),
            "{}",
            stmt.sql
        );
        let one = first_pages_below::<CustomerOrders, OrderLines>(
            &[4],
            10,
            20,
            Shape::Combined(Columns::ALL),
        );
        assert!(
            one.sql.contains(
                r#") AS text) AS "j" FROM (SELECT "id" AS "parent" FROM "orders" WHERE "customer_id" = $1::int8 ORDER BY "placed_at" DESC, "id" DESC LIMIT 10) AS "p" CROSS JOIN LATERAL (SELECT "#
            ),
            "{}",
            one.sql
        );
        assert_eq!(one.values, Some(Values(vec![Value::BigInt(Some(4))])));
    }
}
