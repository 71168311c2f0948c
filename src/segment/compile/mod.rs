//! From a checked [`Expr`] to one parameterised sea-query condition over
//! `customers` LEFT JOIN `customer_metrics` LEFT JOIN `loyalty_accounts`
//! ([`customers_joined`]), with EXISTS subqueries for tags and order history.
//! Every value is a bound parameter; the same condition runs on SQLite and
//! PostgreSQL, so no row is ever filtered in Rust.
//!
//! Two-valued logic: a test of an absent value is false (SQL would say
//! unknown), so `NOT nps_score >= 9` includes customers who never answered.
//! Days are calendar days in the configured time zone: a timestamp
//! attribute is compared with the UTC instants at which those days begin.
//!
//! Here: the [`Env`] a query runs in, the joins, the logic and plain
//! column tests; [`attributes`] maps each attribute to its column or
//! subquery, [`dates`] handles relative days and anniversaries, and
//! [`functions`] compiles `products_purchased` / `orders_placed`.

mod attributes;
mod dates;
mod functions;

use c360_entity::{customer, customer_metrics as cm, loyalty_account as la};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use sea_orm::sea_query::{Condition, Expr as Sql, ExprTrait, Func, IntoColumnRef, SelectStatement};
use sea_orm::{EntityTrait, QueryTrait, Select};

use super::ast::{CmpOp, Day, Expr, Pred, Test, Value};
use crate::error::AppError;

pub use attributes::nps_range;
pub use dates::anniversary_days;
pub use functions::holds_int;

/// What a query is evaluated against: the day it is today and where.
#[derive(Debug, Clone)]
pub struct Env {
    pub today: NaiveDate,
    pub tz: Tz,
    /// Orders in other currencies are not counted (as in `customer_metrics`).
    pub base_currency: String,
}

impl Env {
    /// The day `now` falls on in `tz` (pass the app clock's time).
    pub fn at(now: DateTime<Utc>, tz: Tz, base_currency: &str) -> Env {
        Env {
            today: now.with_timezone(&tz).date_naive(),
            tz,
            base_currency: base_currency.to_owned(),
        }
    }

    /// The UTC instant at which local day `day` begins (the first existing
    /// local hour when a clock change skips midnight).
    pub fn day_start(&self, day: NaiveDate) -> Result<DateTime<Utc>, AppError> {
        crate::domain::periods::day_start(self.tz, day).ok_or_else(|| out_of_range(day))
    }

    fn resolve(&self, day: Day) -> Result<NaiveDate, AppError> {
        day.resolve(self.today).ok_or_else(|| {
            AppError::bad_input("query", "a relative date falls outside the calendar")
        })
    }
}

fn out_of_range(day: NaiveDate) -> AppError {
    AppError::bad_input("query", format!("{day} is outside the supported calendar"))
}

/// `customers` with the joins every compiled condition may refer to.
pub fn customers_joined() -> Select<customer::Entity> {
    let mut select = customer::Entity::find();
    join_metrics(QueryTrait::query(&mut select));
    join_loyalty(QueryTrait::query(&mut select));
    select
}

pub fn join_metrics(q: &mut SelectStatement) {
    q.left_join(
        cm::Entity,
        Sql::col((cm::Entity, cm::Column::CustomerId))
            .equals((customer::Entity, customer::Column::Id)),
    );
}

pub fn join_loyalty(q: &mut SelectStatement) {
    q.left_join(
        la::Entity,
        Sql::col((la::Entity, la::Column::CustomerId))
            .equals((customer::Entity, customer::Column::Id)),
    );
}

pub fn compile(expr: &Expr, env: &Env) -> Result<Condition, AppError> {
    Ok(match expr {
        Expr::And(terms) => terms.iter().try_fold(Condition::all(), |c, t| {
            Ok::<_, AppError>(c.add(compile(t, env)?))
        })?,
        Expr::Or(terms) => terms.iter().try_fold(Condition::any(), |c, t| {
            Ok::<_, AppError>(c.add(compile(t, env)?))
        })?,
        Expr::Not(inner) => compile(inner, env)?.not(),
        Expr::Pred(pred) => Condition::all().add(predicate(pred, env)?),
    })
}

fn zero(col: impl IntoColumnRef) -> Sql {
    Func::coalesce([Sql::col(col), Sql::val(0i64)]).into()
}

fn predicate(pred: &Pred, env: &Env) -> Result<Sql, AppError> {
    match pred {
        Pred::Attr { attr, test } => attributes::attribute(*attr, test, env),
        Pred::Anniversary { attr, from, to } => dates::anniversary(*attr, *from, *to, env),
        Pred::Matches {
            func,
            rows,
            aggregates,
        } => functions::matches(*func, rows, aggregates, env),
    }
}

fn value(v: &Value) -> Sql {
    match v {
        Value::Int(n) => Sql::val(*n),
        Value::Number(n) => Sql::val(*n),
        Value::Text(s) => Sql::val(s.clone()),
        Value::Instant(t) => Sql::val(*t),
        Value::Bool(b) => Sql::val(*b),
        // Days reach SQL only as dates of a DATE column (see `days_to_dates`)
        // or as instants (see `instant`).
        Value::Day(Day::On(d)) => Sql::val(*d),
        Value::Day(Day::Offset(..)) => Sql::val(Option::<i64>::None),
    }
}

/// A test of a plain column; an absent value fails every test but IS NULL.
fn scalar(e: Sql, nullable: bool, test: &Test) -> Result<Sql, AppError> {
    let body = match test {
        Test::IsNull => return Ok(e.is_null()),
        Test::IsNotNull => return Ok(e.is_not_null()),
        Test::Cmp(op, v) => cmp(e.clone(), *op, value(v)),
        Test::Between(a, b) => e.clone().between(value(a), value(b)),
        Test::In(list) => e.clone().is_in(list.iter().map(value)),
        Test::NotIn(list) => e.clone().is_not_in(list.iter().map(value)),
        Test::Contains(_) | Test::NotContains(_) => {
            return Err(AppError::bad_input(
                "query",
                "CONTAINS applies to lists only",
            ));
        }
    };
    Ok(if nullable {
        e.is_not_null().and(body)
    } else {
        body
    })
}

fn cmp(e: Sql, op: CmpOp, v: Sql) -> Sql {
    match op {
        CmpOp::Eq => e.eq(v),
        CmpOp::Ne => e.ne(v),
        CmpOp::Gt => e.gt(v),
        CmpOp::Ge => e.gte(v),
        CmpOp::Lt => e.lt(v),
        CmpOp::Le => e.lte(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::sea_query::{PostgresQueryBuilder, Query, SqliteQueryBuilder};

    #[test]
    fn every_literal_is_a_bound_parameter() {
        // A fixed day: around 28 February of a common year the range below
        // also takes in 29 February.
        let day = DateTime::parse_from_rfc3339("2026-06-15T12:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .expect("a valid instant");
        let env = Env::at(day, chrono_tz::UTC, "USD");
        let text = "anniversary(birthday) BETWEEN today AND +3d AND country IN ('FR', 'DE') \
                    AND customer_tags CONTAINS 'vip' AND amount_spent >= 500";
        let cond =
            compile(&crate::segment::parse(text, 2).expect("parses"), &env).expect("compiles");
        let q = Query::select()
            .expr(Sql::val(1))
            .from(customer::Entity)
            .cond_where(cond)
            .to_owned();
        for (sql, values) in [q.build(SqliteQueryBuilder), q.build(PostgresQueryBuilder)] {
            for literal in ["'FR'", "'vip'", "50000", "-"] {
                assert!(!sql.contains(literal), "{literal} inlined in {sql}");
            }
            // 4 month-days, 2 countries, 1 tag, 1 amount, and the constants
            // 1 (select), 6 and 5 (SUBSTR), 1 (EXISTS) and 0 (COALESCE).
            assert_eq!(values.0.len(), 13, "{sql}");
        }
    }
}
