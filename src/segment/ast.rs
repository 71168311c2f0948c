//! The checked form of a segment: what the text language and the typed
//! `filter` input both become, and what the compiler turns into SQL.

use chrono::{DateTime, Months, NaiveDate, Utc};

pub use super::catalogue::{Attr, Func, SubAttr};
pub use super::lexer::{CmpOp, Unit};

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Pred(Pred),
}

impl Expr {
    /// Whether any predicate tests `attr` (e.g. `email`, which needs `pii:read`).
    pub fn mentions(&self, attr: Attr) -> bool {
        match self {
            Expr::And(terms) | Expr::Or(terms) => terms.iter().any(|t| t.mentions(attr)),
            Expr::Not(inner) => inner.mentions(attr),
            Expr::Pred(Pred::Attr { attr: a, .. } | Pred::Anniversary { attr: a, .. }) => {
                *a == attr
            }
            Expr::Pred(Pred::Matches { .. }) => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Pred {
    /// A test on one attribute.
    Attr { attr: Attr, test: Test },
    /// The yearly return of a date attribute falls within `[from, to]`.
    Anniversary { attr: Attr, from: Day, to: Day },
    /// Orders (with their lines for `products_purchased`) matching every row
    /// test, whose aggregates pass every aggregate test.
    Matches {
        func: Func,
        rows: Vec<(SubAttr, Test)>,
        aggregates: Vec<(SubAttr, Test)>,
    },
}

/// A test of a value. Against an absent (null) value every test but IS NULL is false.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    Cmp(CmpOp, Value),
    /// Both ends included.
    Between(Value, Value),
    In(Vec<Value>),
    NotIn(Vec<Value>),
    Contains(Value),
    NotContains(Value),
    IsNull,
    IsNotNull,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Integers, and money in minor units of the base currency.
    Int(i64),
    /// A number with decimals (finite).
    Number(f64),
    /// Text already normalised for its attribute (upper-cased country, lower-cased tag).
    Text(String),
    /// A calendar day in the store's (or the request's) time zone.
    Day(Day),
    /// An exact instant; only the typed `filter` input produces it.
    Instant(DateTime<Utc>),
    Bool(bool),
}

/// A calendar day, absolute or relative to today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Day {
    On(NaiveDate),
    /// `today` is `Offset(0, Day)`, `yesterday` `Offset(-1, Day)`.
    Offset(i64, Unit),
}

impl Day {
    /// The day this denotes when today is `today`; `None` past the calendar's range.
    pub fn resolve(self, today: NaiveDate) -> Option<NaiveDate> {
        match self {
            Day::On(d) => Some(d),
            Day::Offset(n, unit) => {
                let days = |n: i64| today.checked_add_signed(chrono::TimeDelta::try_days(n)?);
                let months = |m: i64| {
                    let m = u32::try_from(m.unsigned_abs()).ok()?;
                    if n >= 0 {
                        today.checked_add_months(Months::new(m))
                    } else {
                        today.checked_sub_months(Months::new(m))
                    }
                };
                match unit {
                    Unit::Day => days(n),
                    Unit::Week => days(n.checked_mul(7)?),
                    Unit::Month => months(n),
                    Unit::Year => months(n.checked_mul(12)?),
                }
            }
        }
    }
}
