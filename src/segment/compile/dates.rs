//! Dates: relative days (`-7d`, `today`) resolved in the configured time
//! zone, timestamps tested by local calendar day, and anniversaries of
//! birthdays and sign-up dates.

use std::collections::BTreeSet;

use c360_entity::customer;
use chrono::{Datelike, NaiveDate};
use sea_orm::sea_query::{Condition, Expr as Sql, ExprTrait, Func};

use super::{Env, cmp, out_of_range};
use crate::error::AppError;
use crate::segment::ast::{Attr, CmpOp, Day, Test, Value};

/// Relative days resolved to dates, for a DATE column.
pub(super) fn days_to_dates(test: &Test, env: &Env) -> Result<Test, AppError> {
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
pub(super) fn instant(e: Sql, nullable: bool, test: &Test, env: &Env) -> Result<Sql, AppError> {
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

pub(super) fn anniversary(attr: Attr, from: Day, to: Day, env: &Env) -> Result<Sql, AppError> {
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
