//! Attribute tests: each attribute of the catalogue as its column (with
//! absent numbers read as zero), or as the subquery or pattern that stands
//! for it (RFM group, lifetime-value figures, top and purchased categories,
//! email domain, NPS category, tags, tier at risk).

use c360_entity::{
    customer, customer_clv, customer_interest, customer_metrics as cm, customer_rfm, customer_tag,
    loyalty_account as la, order, order_line,
};
use sea_orm::ActiveEnum;
use sea_orm::sea_query::{Condition, Expr as Sql, ExprTrait, LikeExpr, Query};

use super::dates::{days_to_dates, instant};
use super::{Env, scalar, zero};
use crate::domain::interests::PURCHASES_EXCLUDE;
use crate::error::AppError;
use crate::segment::ast::{Attr, CmpOp, Test, Value};

pub(super) fn attribute(attr: Attr, test: &Test, env: &Env) -> Result<Sql, AppError> {
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
        Attr::TierReviewAt => instant(l(la::Column::TierReviewAt), true, test, env),
        Attr::SpendToKeepTier => {
            scalar(zero((la::Entity, la::Column::TierSpendToKeep)), false, test)
        }
        Attr::TierAtRisk => tier_at_risk(test, env),
        Attr::RfmGroup => rfm_group(test),
        Attr::PredictedClv => clv(customer_clv::Column::PredictedValue, test),
        Attr::ChurnProbability => clv(customer_clv::Column::ChurnProbability, test),
        Attr::ExpectedOrders90d => clv(customer_clv::Column::ExpectedOrders90d, test),
        Attr::ChurnRisk => clv(customer_clv::Column::ChurnRisk, test),
        Attr::TopCategory => top_category(test),
        Attr::PurchasedCategory => purchased_category(test, env),
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

/// `tier_at_risk`: the account's downgrade notice (a local midnight, kept
/// on the account by the tier review) began today or earlier, so the
/// attribute turns true on the notice's first day without waiting for a
/// review to run; a range on `tier_notice_at`'s index.
fn tier_at_risk(test: &Test, env: &Env) -> Result<Sql, AppError> {
    let notice = Sql::col((la::Entity, la::Column::TierNoticeAt));
    let tomorrow = env
        .today
        .succ_opt()
        .ok_or_else(|| AppError::bad_input("query", "today is outside the supported calendar"))?;
    let at_risk = notice
        .clone()
        .is_not_null()
        .and(notice.lt(env.day_start(tomorrow)?));
    match test {
        Test::Cmp(CmpOp::Eq, Value::Bool(b)) | Test::Cmp(CmpOp::Ne, Value::Bool(b)) => {
            let wanted = matches!(test, Test::Cmp(CmpOp::Eq, _)) == *b;
            Ok(if wanted { at_risk } else { at_risk.not() })
        }
        _ => Err(AppError::bad_input(
            "query",
            "tier_at_risk takes = or != with true or false",
        )),
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

/// A lifetime-value figure: an EXISTS on `customer_clv` (a row per customer
/// with orders at the last refresh, whose figures may each be null), so an
/// absent row and a null figure are both a null attribute. The subquery
/// reads the row by its key, or the planner walks the figure's index.
fn clv(column: customer_clv::Column, test: &Test) -> Result<Sql, AppError> {
    let figure = Sql::col((customer_clv::Entity, column));
    let mut sub = Query::select();
    sub.expr(Sql::val(1)).from(customer_clv::Entity).and_where(
        Sql::col((customer_clv::Entity, customer_clv::Column::CustomerId))
            .equals((customer::Entity, customer::Column::Id)),
    );
    match test {
        Test::IsNull => {
            sub.and_where(figure.is_not_null());
            return Ok(Sql::exists(sub).not());
        }
        other => {
            sub.and_where(scalar(figure, true, other)?);
        }
    }
    Ok(Sql::exists(sub))
}

/// `top_category`: an EXISTS on `customer_interests`, which holds a row
/// only for customers with a categorised purchase at the last refresh, so
/// an absent row is a null category; its index is `(top_category, customer_id)`.
fn top_category(test: &Test) -> Result<Sql, AppError> {
    let mut sub = Query::select();
    sub.expr(Sql::val(1))
        .from(customer_interest::Entity)
        .and_where(
            Sql::col((
                customer_interest::Entity,
                customer_interest::Column::CustomerId,
            ))
            .equals((customer::Entity, customer::Column::Id)),
        );
    match test {
        Test::IsNull => return Ok(Sql::exists(sub).not()),
        Test::IsNotNull => {}
        other => {
            sub.and_where(scalar(
                Sql::col((
                    customer_interest::Entity,
                    customer_interest::Column::TopCategory,
                )),
                false,
                other,
            )?);
        }
    }
    Ok(Sql::exists(sub))
}

/// `purchased_category`: a test of the set of categories the customer
/// bought in, an EXISTS over the lines of their purchases
/// (`domain::interests::PURCHASES_EXCLUDE`), found through the index
/// `(category, customer_id)`; `!=` and `NOT IN` are its negation.
fn purchased_category(test: &Test, env: &Env) -> Result<Sql, AppError> {
    let text = |v: &Value| match v {
        Value::Text(s) => s.clone(),
        _ => String::new(),
    };
    let bought = |categories: Vec<String>| {
        let line = |c: order_line::Column| Sql::col((order_line::Entity, c));
        Sql::exists(
            Query::select()
                .expr(Sql::val(1))
                .from(order_line::Entity)
                .inner_join(
                    order::Entity,
                    Sql::col((order::Entity, order::Column::Id))
                        .equals((order_line::Entity, order_line::Column::OrderId)),
                )
                .and_where(
                    line(order_line::Column::CustomerId)
                        .equals((customer::Entity, customer::Column::Id)),
                )
                .and_where(line(order_line::Column::Category).is_in(categories))
                .and_where(
                    Sql::col((order::Entity, order::Column::Status))
                        .is_not_in(PURCHASES_EXCLUDE.map(|s| s.to_value())),
                )
                .and_where(
                    Sql::col((order::Entity, order::Column::Currency))
                        .eq(env.base_currency.clone()),
                )
                .to_owned(),
        )
    };
    Ok(match test {
        Test::Cmp(CmpOp::Eq, v) => bought(vec![text(v)]),
        Test::Cmp(CmpOp::Ne, v) => bought(vec![text(v)]).not(),
        Test::In(list) => bought(list.iter().map(text).collect()),
        Test::NotIn(list) => bought(list.iter().map(text).collect()).not(),
        _ => {
            return Err(AppError::bad_input(
                "query",
                "purchased_category takes =, !=, IN or NOT IN",
            ));
        }
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
