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

use std::collections::BTreeSet;

use c360_entity::{
    customer, customer_metrics as cm, customer_rfm, customer_tag, loyalty_account as la, order,
    order_line,
};
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use sea_orm::sea_query::{
    Condition, Expr as Sql, ExprTrait, Func, IntoColumnRef, LikeExpr, Query, SelectStatement,
};
use sea_orm::{ActiveEnum, EntityTrait, QueryTrait, Select};

use super::ast::{Attr, CmpOp, Day, Expr, Func as Fn_, Pred, SubAttr, Test, Value};
use crate::domain::orders::NOT_COUNTED;
use crate::error::AppError;

/// What a query is evaluated against: the day it is today and where.
#[derive(Debug, Clone)]
pub struct Env {
    pub today: NaiveDate,
    pub tz: Tz,
    /// Orders in other currencies are not counted (as in `customer_metrics`).
    pub base_currency: String,
}

impl Env {
    /// Today in `tz`.
    pub fn now(tz: Tz, base_currency: &str) -> Env {
        Env {
            today: Utc::now().with_timezone(&tz).date_naive(),
            tz,
            base_currency: base_currency.to_owned(),
        }
    }

    /// The UTC instant at which local day `day` begins (the first existing
    /// local hour when a clock change skips midnight).
    pub fn day_start(&self, day: NaiveDate) -> Result<DateTime<Utc>, AppError> {
        (0..24)
            .find_map(|h| {
                let local = day.and_hms_opt(h, 0, 0)?;
                self.tz.from_local_datetime(&local).earliest()
            })
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| out_of_range(day))
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
        Pred::Attr { attr, test } => attribute(*attr, test, env),
        Pred::Anniversary { attr, from, to } => anniversary(*attr, *from, *to, env),
        Pred::Matches {
            func,
            rows,
            aggregates,
        } => matches(*func, rows, aggregates, env),
    }
}

fn attribute(attr: Attr, test: &Test, env: &Env) -> Result<Sql, AppError> {
    let c = |col: customer::Column| Sql::col((customer::Entity, col));
    let m = |col: cm::Column| Sql::col((cm::Entity, col));
    let l = |col: la::Column| Sql::col((la::Entity, col));
    match attr {
        Attr::AmountSpent => scalar(zero((cm::Entity, cm::Column::NetSpend)), false, test),
        Attr::NumberOfOrders => scalar(zero((cm::Entity, cm::Column::OrdersCount)), false, test),
        Attr::OpenTickets => scalar(zero((cm::Entity, cm::Column::OpenTickets)), false, test),
        Attr::NumberOfTickets => scalar(zero((cm::Entity, cm::Column::TicketsCount)), false, test),
        Attr::PointsBalance => scalar(zero((la::Entity, la::Column::PointsAvailable)), false, test),
        Attr::LifetimePoints => scalar(
            zero((la::Entity, la::Column::PointsLifetimeEarned)),
            false,
            test,
        ),
        Attr::NpsScore => scalar(m(cm::Column::LastNpsScore), true, test),
        Attr::FirstOrderDate => instant(m(cm::Column::FirstOrderAt), true, test, env),
        Attr::LastOrderDate => instant(m(cm::Column::LastOrderAt), true, test, env),
        Attr::CustomerAddedDate => instant(c(customer::Column::CreatedAt), false, test, env),
        Attr::Birthday => {
            let test = days_to_dates(test, env)?;
            scalar(c(customer::Column::Birthday), true, &test)
        }
        Attr::LoyaltyTier => scalar(l(la::Column::Tier), true, test),
        Attr::RfmGroup => rfm_group(test),
        Attr::EmailSubscriptionStatus => {
            scalar(c(customer::Column::EmailMarketingState), false, test)
        }
        Attr::Country => scalar(c(customer::Column::Country), true, test),
        Attr::City => scalar(c(customer::Column::City), true, test),
        Attr::Email => scalar(c(customer::Column::Email), false, test),
        Attr::EmailDomain => email_domain(test),
        Attr::NpsCategory => nps_category(test),
        Attr::CustomerTags => tags(test),
    }
}

/// `rfm_group`: an EXISTS on `customer_rfm`, which holds a row only for
/// customers who have ordered, so an absent row is a null group.
fn rfm_group(test: &Test) -> Result<Sql, AppError> {
    let mut sub = Query::select();
    sub.expr(Sql::val(1)).from(customer_rfm::Entity).and_where(
        Sql::col((customer_rfm::Entity, customer_rfm::Column::CustomerId))
            .equals((customer::Entity, customer::Column::Id)),
    );
    match test {
        Test::IsNull => return Ok(Sql::exists(sub).not()),
        Test::IsNotNull => {}
        other => {
            sub.and_where(scalar(
                Sql::col((customer_rfm::Entity, customer_rfm::Column::RfmGroup)),
                false,
                other,
            )?);
        }
    }
    Ok(Sql::exists(sub))
}

fn value(v: &Value) -> Sql {
    match v {
        Value::Int(n) => Sql::val(*n),
        Value::Text(s) => Sql::val(s.clone()),
        Value::Instant(t) => Sql::val(*t),
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

/// Relative days resolved to dates, for a DATE column.
fn days_to_dates(test: &Test, env: &Env) -> Result<Test, AppError> {
    let d = |v: &Value| -> Result<Value, AppError> {
        Ok(match v {
            Value::Day(day) => Value::Day(Day::On(env.resolve(*day)?)),
            other => other.clone(),
        })
    };
    Ok(match test {
        Test::Cmp(op, v) => Test::Cmp(*op, d(v)?),
        Test::Between(a, b) => Test::Between(d(a)?, d(b)?),
        Test::In(l) => Test::In(l.iter().map(d).collect::<Result<_, _>>()?),
        Test::NotIn(l) => Test::NotIn(l.iter().map(d).collect::<Result<_, _>>()?),
        other => other.clone(),
    })
}

/// A timestamp tested by local calendar day: `= D` is `[start(D), start(D+1))`.
fn instant(e: Sql, nullable: bool, test: &Test, env: &Env) -> Result<Sql, AppError> {
    let start = |v: &Value, next: bool| -> Result<Sql, AppError> {
        match v {
            Value::Instant(t) => Ok(Sql::val(*t)),
            Value::Day(day) => {
                let mut d = env.resolve(*day)?;
                if next {
                    d = d.succ_opt().ok_or_else(|| out_of_range(d))?;
                }
                Ok(Sql::val(env.day_start(d)?))
            }
            _ => Err(AppError::bad_input(
                "query",
                "a date attribute takes a date",
            )),
        }
    };
    // An exact instant (typed filter) is compared as it is.
    let exact = |v: &Value| matches!(v, Value::Instant(_));
    let body = match test {
        Test::IsNull => return Ok(e.is_null()),
        Test::IsNotNull => return Ok(e.is_not_null()),
        Test::Cmp(op, v) if exact(v) => cmp(e.clone(), *op, start(v, false)?),
        Test::Cmp(CmpOp::Eq, v) => e
            .clone()
            .gte(start(v, false)?)
            .and(e.clone().lt(start(v, true)?)),
        Test::Cmp(CmpOp::Ne, v) => e
            .clone()
            .lt(start(v, false)?)
            .or(e.clone().gte(start(v, true)?)),
        Test::Cmp(CmpOp::Gt, v) => e.clone().gte(start(v, true)?),
        Test::Cmp(CmpOp::Ge, v) => e.clone().gte(start(v, false)?),
        Test::Cmp(CmpOp::Lt, v) => e.clone().lt(start(v, false)?),
        Test::Cmp(CmpOp::Le, v) => e.clone().lt(start(v, true)?),
        Test::Between(a, b) => e
            .clone()
            .gte(start(a, false)?)
            .and(e.clone().lt(start(b, true)?)),
        Test::In(_) | Test::NotIn(_) | Test::Contains(_) | Test::NotContains(_) => {
            return Err(AppError::bad_input(
                "query",
                "dates take =, !=, <, <=, >, >= or BETWEEN",
            ));
        }
    };
    Ok(if nullable {
        e.is_not_null().and(body)
    } else {
        body
    })
}

fn like_domain(domain: &str) -> Sql {
    let escaped = domain
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    Sql::col((customer::Entity, customer::Column::Email))
        .like(LikeExpr::new(format!("%@{escaped}")).escape('\\'))
}

fn email_domain(test: &Test) -> Result<Sql, AppError> {
    let text = |v: &Value| match v {
        Value::Text(s) => s.clone(),
        _ => String::new(),
    };
    let any = |list: &[Value]| {
        list.iter()
            .fold(Condition::any(), |c, v| c.add(like_domain(&text(v))))
    };
    Ok(match test {
        Test::Cmp(CmpOp::Eq, v) => like_domain(&text(v)),
        Test::Cmp(CmpOp::Ne, v) => like_domain(&text(v)).not(),
        Test::In(list) => any(list).into(),
        Test::NotIn(list) => any(list).not().into(),
        _ => {
            return Err(AppError::bad_input(
                "query",
                "email_domain takes =, !=, IN or NOT IN",
            ));
        }
    })
}

/// The score range of an NPS category (a name the parser has checked).
pub fn nps_range(category: &str) -> (i64, i64) {
    let category = crate::domain::nps::Category::parse(category)
        .unwrap_or(crate::domain::nps::Category::Detractor);
    let (lo, hi) = category.range();
    (lo.into(), hi.into())
}

fn nps_category(test: &Test) -> Result<Sql, AppError> {
    let score = Sql::col((cm::Entity, cm::Column::LastNpsScore));
    let one = |v: &Value| {
        let (lo, hi) = nps_range(match v {
            Value::Text(s) => s,
            _ => "",
        });
        score.clone().between(lo, hi)
    };
    let any = |list: &[Value]| list.iter().fold(Condition::any(), |c, v| c.add(one(v)));
    let known = score.clone().is_not_null();
    Ok(match test {
        Test::IsNull => score.is_null(),
        Test::IsNotNull => known,
        Test::Cmp(CmpOp::Eq, v) => known.and(one(v)),
        Test::Cmp(CmpOp::Ne, v) => known.and(one(v).not()),
        Test::In(list) => known.and(Sql::from(any(list))),
        Test::NotIn(list) => known.and(Sql::from(any(list).not())),
        _ => {
            return Err(AppError::bad_input(
                "query",
                "nps_category takes =, !=, IN or NOT IN",
            ));
        }
    })
}

fn tags(test: &Test) -> Result<Sql, AppError> {
    let has = |v: &Value| {
        let tag = match v {
            Value::Text(s) => s.clone(),
            _ => String::new(),
        };
        Sql::exists(
            Query::select()
                .expr(Sql::val(1))
                .from(customer_tag::Entity)
                .and_where(
                    Sql::col((customer_tag::Entity, customer_tag::Column::CustomerId))
                        .equals((customer::Entity, customer::Column::Id)),
                )
                .and_where(Sql::col((customer_tag::Entity, customer_tag::Column::Tag)).eq(tag))
                .to_owned(),
        )
    };
    Ok(match test {
        Test::Contains(v) => has(v),
        Test::NotContains(v) => has(v).not(),
        _ => {
            return Err(AppError::bad_input(
                "query",
                "customer_tags takes CONTAINS or NOT CONTAINS",
            ));
        }
    })
}

/// The month-days whose anniversary falls within `[from, to]`; `None` when
/// the range is a year or longer (every day matches).
pub fn anniversary_days(from: NaiveDate, to: NaiveDate) -> Option<BTreeSet<(u32, u32)>> {
    if (to - from).num_days() >= 365 {
        return None;
    }
    let mut days = BTreeSet::new();
    let mut d = from;
    while d <= to {
        days.insert((d.month(), d.day()));
        // 29 February is celebrated on the 28th in other years.
        if d.month() == 2 && d.day() == 28 && NaiveDate::from_ymd_opt(d.year(), 2, 29).is_none() {
            days.insert((2, 29));
        }
        match d.succ_opt() {
            Some(next) => d = next,
            None => break,
        }
    }
    Some(days)
}

/// Years searched for signup anniversaries: customers are added by this system, not before 1970.
const FIRST_SIGNUP_YEAR: i32 = 1970;

fn anniversary(attr: Attr, from: Day, to: Day, env: &Env) -> Result<Sql, AppError> {
    let (from, to) = (env.resolve(from)?, env.resolve(to)?);
    if from > to {
        return Ok(Sql::val(1).eq(0));
    }
    let days = anniversary_days(from, to);
    match attr {
        Attr::Birthday => {
            let col = Sql::col((customer::Entity, customer::Column::Birthday));
            Ok(match days {
                None => col.is_not_null(),
                // Without the null check SUBSTR(NULL) IN (...) is unknown, and NOT would keep it unknown.
                Some(days) => col.clone().is_not_null().and(
                    Sql::from(Func::cust("SUBSTR").arg(col.cast_as("TEXT")).arg(6).arg(5))
                        .is_in(days.iter().map(|(m, d)| format!("{m:02}-{d:02}"))),
                ),
            })
        }
        _ => {
            let col = Sql::col((customer::Entity, customer::Column::CreatedAt));
            let Some(days) = days else {
                return Ok(Sql::val(1).eq(1));
            };
            // Each year's matching local days, merged into runs, as instant ranges.
            let mut any = Condition::any();
            for year in FIRST_SIGNUP_YEAR..=env.today.year() {
                let mut run: Option<(NaiveDate, NaiveDate)> = None;
                let flush = |run: Option<(NaiveDate, NaiveDate)>,
                             any: &mut Condition|
                 -> Result<(), AppError> {
                    if let Some((a, b)) = run {
                        let end = b.succ_opt().ok_or_else(|| out_of_range(b))?;
                        *any = std::mem::replace(any, Condition::any()).add(
                            col.clone()
                                .gte(env.day_start(a)?)
                                .and(col.clone().lt(env.day_start(end)?)),
                        );
                    }
                    Ok(())
                };
                for (m, d) in &days {
                    let Some(date) = NaiveDate::from_ymd_opt(year, *m, *d) else {
                        continue;
                    };
                    run = match run {
                        Some((a, b)) if b.succ_opt() == Some(date) => Some((a, date)),
                        other => {
                            flush(other, &mut any)?;
                            Some((date, date))
                        }
                    };
                }
                flush(run, &mut any)?;
            }
            Ok(any.into())
        }
    }
}

/// Counted orders (not cancelled, in the base currency) of the outer customer.
fn order_rows(func: Fn_, env: &Env) -> SelectStatement {
    let mut q = Query::select();
    q.expr(Sql::val(1)).from(order::Entity);
    if func == Fn_::ProductsPurchased {
        q.inner_join(
            order_line::Entity,
            Sql::col((order_line::Entity, order_line::Column::OrderId))
                .equals((order::Entity, order::Column::Id)),
        );
    }
    q.and_where(
        Sql::col((order::Entity, order::Column::CustomerId))
            .equals((customer::Entity, customer::Column::Id)),
    )
    .and_where(Sql::col((order::Entity, order::Column::Status)).ne(NOT_COUNTED.to_value()))
    .and_where(Sql::col((order::Entity, order::Column::Currency)).eq(env.base_currency.clone()));
    q.group_by_col((order::Entity, order::Column::CustomerId));
    q
}

/// Whether an aggregate test holds for `n` (used for the empty group: 0 orders, 0 spent).
pub fn holds_int(test: &Test, n: i64) -> bool {
    let int = |v: &Value| match v {
        Value::Int(i) => *i,
        _ => i64::MIN,
    };
    match test {
        Test::Cmp(op, v) => op.holds(&n, &int(v)),
        Test::Between(a, b) => int(a) <= n && n <= int(b),
        Test::In(l) => l.iter().any(|v| int(v) == n),
        Test::NotIn(l) => l.iter().all(|v| int(v) != n),
        _ => false,
    }
}

/// EXISTS over the customer's matching orders, grouped, with the aggregate
/// tests in HAVING. When zero orders pass every aggregate test, a customer
/// matches unless some group fails them: NOT EXISTS (... HAVING NOT tests).
fn matches(
    func: Fn_,
    rows: &[(SubAttr, Test)],
    aggregates: &[(SubAttr, Test)],
    env: &Env,
) -> Result<Sql, AppError> {
    let mut q = order_rows(func, env);
    for (sub, test) in rows {
        let cond = match sub {
            SubAttr::Sku => scalar(
                Sql::col((order_line::Entity, order_line::Column::Sku)),
                false,
                test,
            )?,
            _ => instant(
                Sql::col((order::Entity, order::Column::PlacedAt)),
                false,
                test,
                env,
            )?,
        };
        q.and_where(cond);
    }
    let default = [(SubAttr::Count, Test::Cmp(CmpOp::Ge, Value::Int(1)))];
    let aggregates = if aggregates.is_empty() {
        &default[..]
    } else {
        aggregates
    };
    let mut having = Condition::all();
    for (sub, test) in aggregates {
        let agg: Sql = match sub {
            SubAttr::SumAmount => Func::coalesce([
                Func::sum(
                    Sql::col((order::Entity, order::Column::Total))
                        .sub(Sql::col((order::Entity, order::Column::Refunded))),
                )
                .into(),
                Sql::val(0i64),
            ])
            .into(),
            _ => Func::count_distinct(Sql::col((order::Entity, order::Column::Id))).into(),
        };
        having = having.add(scalar(agg, false, test)?);
    }
    let zero_ok = aggregates.iter().all(|(_, t)| holds_int(t, 0));
    Ok(if zero_ok {
        q.cond_having(having.not());
        Sql::exists(q).not()
    } else {
        q.cond_having(having);
        Sql::exists(q)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::sea_query::{PostgresQueryBuilder, SqliteQueryBuilder};

    #[test]
    fn every_literal_is_a_bound_parameter() {
        let env = Env::now(chrono_tz::UTC, "USD");
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
