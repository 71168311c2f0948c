//! Functions over order history, `products_purchased` and `orders_placed`:
//! an EXISTS over the customer's counted orders, row tests in WHERE and
//! aggregate tests in HAVING.

use c360_entity::{customer, order, order_line};
use sea_orm::ActiveEnum;
use sea_orm::sea_query::{Condition, Expr as Sql, ExprTrait, Func, Query, SelectStatement};

use super::dates::instant;
use super::{Env, scalar};
use crate::domain::orders::NOT_COUNTED;
use crate::error::AppError;
use crate::segment::ast::{CmpOp, Func as Fn_, SubAttr, Test, Value};

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
pub(super) fn matches(
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
