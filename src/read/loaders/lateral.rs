//! PostgreSQL's first pages: each parent's page read by its own walk down
//! the `(parent, sort, id)` index, joined `LATERAL` to the parents' ids,
//! which are bound as one array.
//!
//! The window statement SQLite runs (`ROW_NUMBER() OVER (PARTITION BY
//! parent ...)`, [`super::pages`]) reads every row of every parent, sorts
//! them and ranks them; here each parent's walk stops at its page, and
//! PostgreSQL sets up no sort and no window for it. Measured on the
//! benchmark's list, its level of five pages over 50 customers ran 1,181
//! times a second alone instead of 1,026 (`pgbench -M prepared`, one
//! client), 2,500 instead of 1,941 with 16; a profile's plan, with eight
//! such pages, is mostly their setup.
//!
//! The text depends on the list, its page size and the columns written,
//! never on how many parents there are, and the page size is written into
//! it rather than bound: PostgreSQL then settles on one generic plan per
//! connection after its first five executions, as it cannot when a bound
//! `LIMIT` leaves it guessing. Rows come in no order; the loader orders
//! each parent's rows itself.

use std::any::TypeId;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use sea_orm::sea_query::ArrayType;
use sea_orm::{DbBackend, EntityName, EntityTrait, IdenStatic, Iterable, Statement, Value, Values};

use super::pages::{ChildList, Shape, with_keys};
use crate::read::pagination::Direction;

/// Texts by the lists they read, page sizes and shape. Columns come in
/// combinations a client chooses, so past [`KEPT`] texts a new one is
/// written for each statement rather than kept.
/// (list, one parent or more, page size above, page size, shape)
type TextKey = (TypeId, bool, u64, u64, Shape);
const KEPT: usize = 1024;
static TEXTS: LazyLock<Mutex<HashMap<TextKey, Arc<str>>>> = LazyLock::new(Mutex::default);

/// The first `first` rows of `R` of each of `parents`.
pub(super) fn first_pages<R: ChildList>(parents: &[i64], first: u64, shape: Shape) -> Statement {
    let one = parents.len() == 1;
    let sql = kept((TypeId::of::<R>(), one, 0, first, shape), || {
        let mut sql = select_list::<R>(shape);
        sql.push_str(" FROM ");
        push_ids(&mut sql, one, r#""p"("parent")"#);
        sql.push_str(" CROSS JOIN LATERAL (");
        page::<R>(&mut sql, r#""p"."parent""#, first + 1);
        sql.push_str(r#") AS "c""#);
        sql
    });
    Statement::from_sql_and_values(DbBackend::Postgres, &*sql, ids(parents))
}

/// The first `first` rows of `R` below each of the first `above_first`
/// items of `grand`'s pages of `A` (an order's lines below a customer's
/// orders), the items chosen by their own walk in the same statement.
pub(super) fn first_pages_below<A: ChildList, R: ChildList>(
    grand: &[i64],
    above_first: u64,
    first: u64,
    shape: Shape,
) -> Statement {
    let one = grand.len() == 1;
    let key = (TypeId::of::<(A, R)>(), one, above_first, first, shape);
    let sql = kept(key, || {
        let mut sql = select_list::<R>(shape);
        sql.push_str(" FROM ");
        push_ids(&mut sql, one, r#""g"("grand")"#);
        sql.push_str(" CROSS JOIN LATERAL (SELECT ");
        quoted(&mut sql, A::id_col().as_str());
        sql.push_str(r#" AS "parent" FROM "#);
        rows_of::<A>(&mut sql, r#""g"."grand""#, above_first);
        sql.push_str(r#") AS "p" CROSS JOIN LATERAL ("#);
        page::<R>(&mut sql, r#""p"."parent""#, first + 1);
        sql.push_str(r#") AS "c""#);
        sql
    });
    Statement::from_sql_and_values(DbBackend::Postgres, &*sql, ids(grand))
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

/// The ids bound as `$1` ([`ids`]) as the relation `relation`.
///
/// One id is bound alone. PostgreSQL guesses ten elements in an array it
/// does not see, so a generic plan over an array of one (a profile's
/// lists) would cost ten times the custom plans, and it would go on
/// planning every execution anew.
fn push_ids(sql: &mut String, one: bool, relation: &str) {
    sql.push_str(match one {
        true => "(VALUES ($1::int8)) AS ",
        false => "unnest($1::int8[]) AS ",
    });
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
/// statement reads, `null` for the columns not written.
fn select_list<R: ChildList>(shape: Shape) -> String {
    let mut sql = String::with_capacity(1024);
    sql.push_str("SELECT ");
    let columns = <<R::Entity as EntityTrait>::Column as Iterable>::iter;
    match shape {
        Shape::Combined(written) => {
            let written = with_keys::<R>(written);
            sql.push_str("CAST(json_build_array(");
            for (at, column) in columns().enumerate() {
                if at > 0 {
                    sql.push_str(", ");
                }
                if written.has(at) {
                    sql.push_str(r#""c"."#);
                    quoted(&mut sql, column.as_str());
                } else {
                    sql.push_str("NULL");
                }
            }
            sql.push_str(r#") AS text) AS "j""#);
        }
        Shape::Columns | Shape::Ranked => {
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
/// follows: every column, in the list's order.
fn page<R: ChildList>(sql: &mut String, parent: &str, limit: u64) {
    sql.push_str("SELECT ");
    for (at, column) in <<R::Entity as EntityTrait>::Column as Iterable>::iter().enumerate() {
        if at > 0 {
            sql.push_str(", ");
        }
        quoted(sql, column.as_str());
    }
    sql.push_str(" FROM ");
    rows_of::<R>(sql, parent, limit);
}

/// `FROM`'s table onwards: the first `limit` rows of `R` whose parent is
/// `parent`, in the list's order.
fn rows_of<R: ChildList>(sql: &mut String, parent: &str, limit: u64) {
    quoted(sql, R::Entity::default().table_name());
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
    use crate::read::columns::Columns;
    use crate::read::loaders::{CustomerOrders, OrderLines};

    /// Every number of parents past one shares one text, with the ids in one
    /// array and the page size written; one parent is bound alone.
    #[test]
    fn a_text_serves_any_parents_and_one_parent_is_bound_alone() {
        let shape = Shape::Combined(Columns::ALL);
        let three = first_pages::<CustomerOrders>(&[1, 2, 3], 5, shape);
        let fifty: Vec<i64> = (1..=50).collect();
        let many = first_pages::<CustomerOrders>(&fifty, 5, shape);
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

        let one = first_pages::<CustomerOrders>(&[7], 5, shape);
        assert!(one.sql.contains("(VALUES ($1::int8))"), "{}", one.sql);
        assert_eq!(one.values, Some(Values(vec![Value::BigInt(Some(7))])));
        let other_size = first_pages::<CustomerOrders>(&[7], 10, shape);
        assert!(other_size.sql.contains("LIMIT 11"), "{}", other_size.sql);
    }

    /// A combined page writes the columns asked for and the keys paging
    /// reads, and `NULL` for the rest, each parent's rows in the list's
    /// order and no further than the page and one row.
    #[test]
    fn a_combined_page_writes_only_the_columns_asked_for() {
        let asked = Columns::of::<order::Entity>([order::Column::Total]);
        let stmt = first_pages::<CustomerOrders>(&[1, 2], 5, Shape::Combined(asked));
        assert!(
            stmt.sql.starts_with(
                r#"SELECT CAST(json_build_array("c"."id", "c"."customer_id", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "c"."total", NULL, "c"."placed_at", NULL, NULL) AS text) AS "j" FROM "#
            ),
            "{}",
            stmt.sql
        );
        assert!(
            stmt.sql.ends_with(
                r#" FROM "orders" WHERE "customer_id" = "p"."parent" ORDER BY "placed_at" DESC, "id" DESC LIMIT 6) AS "c""#
            ),
            "{}",
            stmt.sql
        );
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
    }
}
