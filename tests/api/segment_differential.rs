//! Differential test of the segment compiler: random queries (nested AND / OR /
//! NOT over every attribute, operator and function) are rendered to text,
//! parsed back, compiled to SQL and run on the store; the members must equal an
//! independent evaluation of the same AST in Rust over the same rows.

use std::collections::{BTreeMap, BTreeSet};

use c360::segment::ast::{Attr, CmpOp, Day, Expr, Func, Pred, SubAttr, Test, Unit, Value};
use c360::segment::catalogue::{
    CHURN_RISKS, EMAIL_STATES, LOYALTY_TIERS, NPS_CATEGORIES, RFM_GROUPS, attribute,
};
use c360::segment::{Env, compile, customers_joined, parse};
use c360_entity::enums::OrderStatus;
use c360_entity::{
    customer, customer_clv, customer_interest, customer_metrics, customer_rfm, customer_tag,
    loyalty_account, order, order_line,
};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};
use sea_orm::{ActiveEnum, EntityTrait, QueryFilter, QueryOrder};

use crate::both_stores;

/// Random queries checked per store.
const CASES: u32 = 120;

#[derive(Debug, Clone)]
struct OrderRow {
    placed_at: DateTime<Utc>,
    net: i64,
    skus: BTreeSet<String>,
    /// Categories of the order's lines.
    categories: BTreeSet<String>,
    /// REFUNDED: counted, but its lines are not purchases.
    refunded_fully: bool,
}

#[derive(Debug, Clone)]
struct Row {
    id: i64,
    c: customer::Model,
    m: Option<customer_metrics::Model>,
    l: Option<loyalty_account::Model>,
    rfm_group: Option<String>,
    clv: Option<customer_clv::Model>,
    top_category: Option<String>,
    tags: BTreeSet<String>,
    orders: Vec<OrderRow>,
}

struct Data {
    rows: Vec<Row>,
    cities: Vec<String>,
    tags: Vec<String>,
    skus: Vec<String>,
    categories: Vec<String>,
}

async fn load(db: &sea_orm::DatabaseConnection) -> Data {
    let customers = customer::Entity::find().all(db).await.expect("customers");
    let metrics: BTreeMap<i64, customer_metrics::Model> = customer_metrics::Entity::find()
        .all(db)
        .await
        .expect("metrics")
        .into_iter()
        .map(|m| (m.customer_id, m))
        .collect();
    let loyalty: BTreeMap<i64, loyalty_account::Model> = loyalty_account::Entity::find()
        .all(db)
        .await
        .expect("loyalty")
        .into_iter()
        .map(|l| (l.customer_id, l))
        .collect();
    let rfm: BTreeMap<i64, String> = customer_rfm::Entity::find()
        .all(db)
        .await
        .expect("rfm")
        .into_iter()
        .map(|r| (r.customer_id, r.rfm_group))
        .collect();
    let clv: BTreeMap<i64, customer_clv::Model> = customer_clv::Entity::find()
        .all(db)
        .await
        .expect("clv")
        .into_iter()
        .map(|r| (r.customer_id, r))
        .collect();
    let mut tags: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    for t in customer_tag::Entity::find().all(db).await.expect("tags") {
        tags.entry(t.customer_id).or_default().insert(t.tag);
    }
    let top: BTreeMap<i64, String> = customer_interest::Entity::find()
        .all(db)
        .await
        .expect("interests")
        .into_iter()
        .map(|r| (r.customer_id, r.top_category))
        .collect();
    let mut skus: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    let mut categories: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    for l in order_line::Entity::find().all(db).await.expect("lines") {
        skus.entry(l.order_id).or_default().insert(l.sku);
        if let Some(c) = l.category {
            categories.entry(l.order_id).or_default().insert(c);
        }
    }
    let mut orders: BTreeMap<i64, Vec<OrderRow>> = BTreeMap::new();
    // Counted orders, by the documented rule: not cancelled, in the base currency.
    for o in order::Entity::find()
        .filter(sea_orm::ColumnTrait::ne(
            &order::Column::Status,
            OrderStatus::Cancelled,
        ))
        .all(db)
        .await
        .expect("orders")
        .into_iter()
        .filter(|o| o.currency == "USD")
    {
        orders.entry(o.customer_id).or_default().push(OrderRow {
            placed_at: o.placed_at,
            net: o.total - o.refunded,
            skus: skus.get(&o.id).cloned().unwrap_or_default(),
            categories: categories.get(&o.id).cloned().unwrap_or_default(),
            refunded_fully: o.status == OrderStatus::Refunded,
        });
    }
    let cities: BTreeSet<String> = customers.iter().filter_map(|c| c.city.clone()).collect();
    let all_tags: BTreeSet<String> = tags.values().flatten().cloned().collect();
    let all_skus: BTreeSet<String> = skus.values().flatten().cloned().collect();
    let all_categories: BTreeSet<String> = categories.values().flatten().cloned().collect();
    let rows = customers
        .into_iter()
        .map(|c| Row {
            id: c.id,
            m: metrics.get(&c.id).cloned(),
            l: loyalty.get(&c.id).cloned(),
            rfm_group: rfm.get(&c.id).cloned(),
            clv: clv.get(&c.id).cloned(),
            top_category: top.get(&c.id).cloned(),
            tags: tags.get(&c.id).cloned().unwrap_or_default(),
            orders: orders.get(&c.id).cloned().unwrap_or_default(),
            c,
        })
        .collect();
    let pick = |s: BTreeSet<String>, n: usize| s.into_iter().take(n).collect::<Vec<_>>();
    Data {
        rows,
        cities: pick(cities, 6)
            .into_iter()
            .chain(["Nowhere".to_string()])
            .collect(),
        tags: all_tags
            .into_iter()
            .chain(["no-such-tag".to_string()])
            .collect(),
        skus: pick(all_skus, 8)
            .into_iter()
            .chain(["NOPE-000".to_string()])
            .collect(),
        categories: all_categories
            .into_iter()
            .chain(["no-such-category".to_string()])
            .collect(),
    }
}

// ---------- the independent evaluator ----------

struct Oracle<'a> {
    env: &'a Env,
}

impl Oracle<'_> {
    fn day(&self, d: &Day) -> NaiveDate {
        d.resolve(self.env.today).expect("day in range")
    }

    fn local(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.env.tz).date_naive()
    }

    fn eval(&self, e: &Expr, r: &Row) -> bool {
        match e {
            Expr::And(t) => t.iter().all(|x| self.eval(x, r)),
            Expr::Or(t) => t.iter().any(|x| self.eval(x, r)),
            Expr::Not(x) => !self.eval(x, r),
            Expr::Pred(p) => self.pred(p, r),
        }
    }

    /// A test on an optional comparable value: absent fails all but IS NULL.
    fn test<T: PartialOrd + Clone>(
        &self,
        v: Option<T>,
        t: &Test,
        conv: &dyn Fn(&Value) -> T,
    ) -> bool {
        match (t, v) {
            (Test::IsNull, v) => v.is_none(),
            (Test::IsNotNull, v) => v.is_some(),
            (_, None) => false,
            (Test::Cmp(op, x), Some(v)) => op.holds(&v, &conv(x)),
            (Test::Between(a, b), Some(v)) => conv(a) <= v && v <= conv(b),
            (Test::In(l), Some(v)) => l.iter().any(|x| conv(x) == v),
            (Test::NotIn(l), Some(v)) => l.iter().all(|x| conv(x) != v),
            (Test::Contains(_) | Test::NotContains(_), _) => unreachable!("lists only"),
        }
    }

    fn pred(&self, p: &Pred, r: &Row) -> bool {
        let int = |v: &Value| match v {
            Value::Int(i) => *i,
            other => panic!("not an int: {other:?}"),
        };
        let text = |v: &Value| match v {
            Value::Text(s) => s.clone(),
            other => panic!("not text: {other:?}"),
        };
        let number = |v: &Value| match v {
            Value::Number(n) => *n,
            other => panic!("not a number: {other:?}"),
        };
        let date = |v: &Value| match v {
            Value::Day(d) => self.day(d),
            other => panic!("not a day: {other:?}"),
        };
        let m = r.m.as_ref();
        let l = r.l.as_ref();
        match p {
            Pred::Attr { attr, test } => match attr {
                Attr::AmountSpent => self.test(Some(m.map_or(0, |m| m.net_spend)), test, &int),
                Attr::NumberOfOrders => {
                    self.test(Some(m.map_or(0, |m| m.orders_count)), test, &int)
                }
                Attr::OpenTickets => self.test(Some(m.map_or(0, |m| m.open_tickets)), test, &int),
                Attr::NumberOfTickets => {
                    self.test(Some(m.map_or(0, |m| m.tickets_count)), test, &int)
                }
                Attr::PointsBalance => {
                    self.test(Some(l.map_or(0, |l| l.points_available)), test, &int)
                }
                Attr::LifetimePoints => {
                    self.test(Some(l.map_or(0, |l| l.points_lifetime_earned)), test, &int)
                }
                Attr::NpsScore => {
                    self.test(m.and_then(|m| m.last_nps_score).map(i64::from), test, &int)
                }
                Attr::FirstOrderDate => self.test(
                    m.and_then(|m| m.first_order_at).map(|t| self.local(t)),
                    test,
                    &date,
                ),
                Attr::LastOrderDate => self.test(
                    m.and_then(|m| m.last_order_at).map(|t| self.local(t)),
                    test,
                    &date,
                ),
                Attr::CustomerAddedDate => self.test(Some(self.local(r.c.created_at)), test, &date),
                Attr::Birthday => self.test(r.c.birthday, test, &date),
                Attr::LoyaltyTier => self.test(l.map(|l| l.tier.to_value()), test, &text),
                Attr::TierReviewAt => self.test(
                    l.and_then(|l| l.tier_review_at).map(|t| self.local(t)),
                    test,
                    &date,
                ),
                Attr::SpendToKeepTier => {
                    self.test(Some(l.map_or(0, |l| l.tier_spend_to_keep)), test, &int)
                }
                Attr::TierAtRisk => {
                    // The notice began on a day up to today.
                    let at_risk = l
                        .and_then(|l| l.tier_notice_at)
                        .is_some_and(|n| self.local(n) <= self.env.today);
                    match test {
                        Test::Cmp(CmpOp::Eq, Value::Bool(b)) => at_risk == *b,
                        Test::Cmp(CmpOp::Ne, Value::Bool(b)) => at_risk != *b,
                        other => panic!("not a boolean test: {other:?}"),
                    }
                }
                Attr::RfmGroup => self.test(r.rfm_group.clone(), test, &text),
                Attr::PredictedClv => {
                    self.test(r.clv.as_ref().and_then(|c| c.predicted_value), test, &int)
                }
                Attr::ChurnProbability => self.test(
                    r.clv.as_ref().and_then(|c| c.churn_probability),
                    test,
                    &number,
                ),
                Attr::ExpectedOrders90d => self.test(
                    r.clv.as_ref().and_then(|c| c.expected_orders_90d),
                    test,
                    &number,
                ),
                Attr::ChurnRisk => self.test(
                    r.clv.as_ref().and_then(|c| c.churn_risk.clone()),
                    test,
                    &text,
                ),
                Attr::TopCategory => self.test(r.top_category.clone(), test, &text),
                Attr::PurchasedCategory => {
                    // Lines of counted orders not fully refunded.
                    let bought: BTreeSet<String> = r
                        .orders
                        .iter()
                        .filter(|o| !o.refunded_fully)
                        .flat_map(|o| o.categories.iter().cloned())
                        .collect();
                    match test {
                        Test::Cmp(CmpOp::Eq, v) => bought.contains(&text(v)),
                        Test::Cmp(CmpOp::Ne, v) => !bought.contains(&text(v)),
                        Test::In(l) => l.iter().any(|v| bought.contains(&text(v))),
                        Test::NotIn(l) => l.iter().all(|v| !bought.contains(&text(v))),
                        other => panic!("not a category test: {other:?}"),
                    }
                }
                Attr::EmailSubscriptionStatus => {
                    self.test(Some(r.c.email_marketing_state.to_value()), test, &text)
                }
                Attr::NpsCategory => {
                    let cat = m.and_then(|m| m.last_nps_score).map(|s| match s {
                        9.. => "PROMOTER".to_string(),
                        7..=8 => "PASSIVE".to_string(),
                        _ => "DETRACTOR".to_string(),
                    });
                    self.test(cat, test, &text)
                }
                Attr::Country => self.test(r.c.country.clone(), test, &text),
                Attr::City => self.test(r.c.city.clone(), test, &text),
                Attr::Email => self.test(Some(r.c.email.clone()), test, &text),
                Attr::EmailDomain => {
                    let domain = r.c.email.rsplit_once('@').map(|(_, d)| d.to_string());
                    self.test(domain, test, &text)
                }
                Attr::CustomerTags => match test {
                    Test::Contains(v) => r.tags.contains(&text(v)),
                    Test::NotContains(v) => !r.tags.contains(&text(v)),
                    other => panic!("not a list test: {other:?}"),
                },
            },
            Pred::Anniversary { attr, from, to } => {
                let of = match attr {
                    Attr::Birthday => r.c.birthday,
                    _ => Some(self.local(r.c.created_at)),
                };
                let Some(of) = of else { return false };
                let (from, to) = (self.day(from), self.day(to));
                from.iter_days().take_while(|d| *d <= to).any(|d| {
                    (d.month(), d.day()) == (of.month(), of.day())
                        || ((of.month(), of.day()) == (2, 29)
                            && (d.month(), d.day()) == (2, 28)
                            && NaiveDate::from_ymd_opt(d.year(), 2, 29).is_none())
                })
            }
            Pred::Matches {
                func,
                rows,
                aggregates,
            } => {
                let matching: Vec<&OrderRow> = r
                    .orders
                    .iter()
                    .filter(|o| {
                        let dates_ok = rows
                            .iter()
                            .filter(|(s, _)| *s == SubAttr::Date)
                            .all(|(_, t)| self.test(Some(self.local(o.placed_at)), t, &date));
                        let skus: Vec<&Test> = rows
                            .iter()
                            .filter(|(s, _)| *s == SubAttr::Sku)
                            .map(|(_, t)| t)
                            .collect();
                        // One line must pass every sku test (the SQL joins lines).
                        let sku_ok = match func {
                            Func::ProductsPurchased => o.skus.iter().any(|sku| {
                                skus.iter().all(|t| self.test(Some(sku.clone()), t, &text))
                            }),
                            _ => true,
                        };
                        dates_ok && sku_ok
                    })
                    .collect();
                let count = matching.len() as i64;
                let sum: i64 = matching.iter().map(|o| o.net).sum();
                let default = [(SubAttr::Count, Test::Cmp(CmpOp::Ge, Value::Int(1)))];
                let aggs = if aggregates.is_empty() {
                    &default[..]
                } else {
                    aggregates
                };
                aggs.iter().all(|(s, t)| {
                    let v = if *s == SubAttr::SumAmount { sum } else { count };
                    self.test(Some(v), t, &int)
                })
            }
        }
    }
}

// ---------- rendering an AST back to text ----------

fn render(e: &Expr) -> String {
    let join = |t: &[Expr], op: &str| {
        t.iter()
            .map(|x| format!("({})", render(x)))
            .collect::<Vec<_>>()
            .join(&format!(" {op} "))
    };
    match e {
        Expr::And(t) => join(t, "AND"),
        Expr::Or(t) => join(t, "OR"),
        Expr::Not(x) => format!("NOT ({})", render(x)),
        Expr::Pred(p) => render_pred(p),
    }
}

fn render_value(v: &Value, money: bool) -> String {
    match v {
        Value::Int(n) if money => {
            let sign = if *n < 0 { "-" } else { "" };
            format!(
                "{sign}{}.{:02}",
                n.unsigned_abs() / 100,
                n.unsigned_abs() % 100
            )
        }
        Value::Int(n) => n.to_string(),
        Value::Text(s) => format!("'{}'", s.replace('\'', "''")),
        Value::Day(Day::On(d)) => d.format("%Y-%m-%d").to_string(),
        Value::Day(Day::Offset(n, u)) => {
            let unit = match u {
                Unit::Day => 'd',
                Unit::Week => 'w',
                Unit::Month => 'm',
                Unit::Year => 'y',
            };
            format!("{n:+}{unit}")
        }
        Value::Instant(_) => unreachable!("the language has no instants"),
        Value::Bool(b) => b.to_string(),
        // Rust prints the shortest decimal that reads back as the same f64,
        // never in exponent form, so the text parses to the same AST.
        Value::Number(n) => n.to_string(),
    }
}

fn render_test(subject: &str, t: &Test, money: bool) -> String {
    let v = |x: &Value| render_value(x, money);
    let list = |l: &[Value]| l.iter().map(v).collect::<Vec<_>>().join(", ");
    match t {
        Test::Cmp(op, x) => format!("{subject} {} {}", op.symbol(), v(x)),
        Test::Between(a, b) => format!("{subject} BETWEEN {} AND {}", v(a), v(b)),
        Test::In(l) => format!("{subject} IN ({})", list(l)),
        Test::NotIn(l) => format!("{subject} NOT IN ({})", list(l)),
        Test::Contains(x) => format!("{subject} CONTAINS {}", v(x)),
        Test::NotContains(x) => format!("{subject} NOT CONTAINS {}", v(x)),
        Test::IsNull => format!("{subject} IS NULL"),
        Test::IsNotNull => format!("{subject} IS NOT NULL"),
    }
}

fn render_pred(p: &Pred) -> String {
    match p {
        Pred::Attr { attr, test } => {
            let spec = attribute(*attr);
            let money = matches!(
                attr,
                Attr::AmountSpent | Attr::SpendToKeepTier | Attr::PredictedClv
            );
            render_test(spec.name, test, money)
        }
        Pred::Anniversary { attr, from, to } => format!(
            "anniversary({}) BETWEEN {} AND {}",
            attribute(*attr).name,
            render_value(&Value::Day(*from), false),
            render_value(&Value::Day(*to), false)
        ),
        Pred::Matches {
            func,
            rows,
            aggregates,
        } => {
            let name = match func {
                Func::ProductsPurchased => "products_purchased",
                _ => "orders_placed",
            };
            let fields: Vec<String> = rows
                .iter()
                .chain(aggregates.iter())
                .map(|(s, t)| {
                    let (n, money) = match s {
                        SubAttr::Sku => ("sku", false),
                        SubAttr::Date => ("date", false),
                        SubAttr::Count => ("count", false),
                        SubAttr::SumAmount => ("sum_amount", true),
                    };
                    render_test(n, t, money)
                })
                .collect();
            format!("{name} MATCHES ({})", fields.join(", "))
        }
    }
}

// ---------- random queries ----------

fn day() -> BoxedStrategy<Day> {
    prop_oneof![
        (-500i64..30).prop_map(|n| Day::Offset(n, Unit::Day)),
        (-70i64..4).prop_map(|n| Day::Offset(n, Unit::Week)),
        (-18i64..2).prop_map(|n| Day::Offset(n, Unit::Month)),
        (-2i64..1).prop_map(|n| Day::Offset(n, Unit::Year)),
        (0i64..1200).prop_map(|n| Day::On(
            NaiveDate::from_ymd_opt(2023, 6, 1).expect("date") + chrono::Days::new(n as u64)
        )),
    ]
    .boxed()
}

fn birthday() -> BoxedStrategy<Day> {
    prop_oneof![
        (0i64..22_000).prop_map(|n| Day::On(
            NaiveDate::from_ymd_opt(1950, 1, 1).expect("date") + chrono::Days::new(n as u64)
        )),
        (-70i64..-15).prop_map(|n| Day::Offset(n, Unit::Year)),
    ]
    .boxed()
}

/// An ordered test over values from `v`, or a null check when `nullable`.
fn ordered(v: BoxedStrategy<Value>, nullable: bool, with_in: bool) -> BoxedStrategy<Test> {
    let ops = prop_oneof![
        Just(CmpOp::Eq),
        Just(CmpOp::Ne),
        Just(CmpOp::Gt),
        Just(CmpOp::Ge),
        Just(CmpOp::Lt),
        Just(CmpOp::Le)
    ];
    let mut options: Vec<BoxedStrategy<Test>> = vec![
        (ops, v.clone()).prop_map(|(o, x)| Test::Cmp(o, x)).boxed(),
        (v.clone(), v.clone())
            .prop_map(|(a, b)| Test::Between(a, b))
            .boxed(),
    ];
    if with_in {
        options.push(
            prop::collection::vec(v.clone(), 1..4)
                .prop_map(Test::In)
                .boxed(),
        );
        options.push(prop::collection::vec(v, 1..4).prop_map(Test::NotIn).boxed());
    }
    if nullable {
        options.push(Just(Test::IsNull).boxed());
        options.push(Just(Test::IsNotNull).boxed());
    }
    proptest::strategy::Union::new(options).boxed()
}

/// What a nullable number takes: <, <=, >, >=, BETWEEN and the null checks.
fn by_order(v: BoxedStrategy<Value>) -> BoxedStrategy<Test> {
    let ops = prop_oneof![
        Just(CmpOp::Gt),
        Just(CmpOp::Ge),
        Just(CmpOp::Lt),
        Just(CmpOp::Le)
    ];
    prop_oneof![
        (ops, v.clone()).prop_map(|(o, x)| Test::Cmp(o, x)),
        (v.clone(), v).prop_map(|(a, b)| Test::Between(a, b)),
        Just(Test::IsNull),
        Just(Test::IsNotNull),
    ]
    .boxed()
}

fn equality(v: BoxedStrategy<Value>, nullable: bool) -> BoxedStrategy<Test> {
    let mut options: Vec<BoxedStrategy<Test>> = vec![
        v.clone().prop_map(|x| Test::Cmp(CmpOp::Eq, x)).boxed(),
        v.clone().prop_map(|x| Test::Cmp(CmpOp::Ne, x)).boxed(),
        prop::collection::vec(v.clone(), 1..4)
            .prop_map(Test::In)
            .boxed(),
        prop::collection::vec(v, 1..4).prop_map(Test::NotIn).boxed(),
    ];
    if nullable {
        options.push(Just(Test::IsNull).boxed());
        options.push(Just(Test::IsNotNull).boxed());
    }
    proptest::strategy::Union::new(options).boxed()
}

fn pick(values: Vec<String>) -> BoxedStrategy<Value> {
    proptest::sample::select(values)
        .prop_map(Value::Text)
        .boxed()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn predicate(data: &Data) -> BoxedStrategy<Pred> {
    let ints = |lo: i64, hi: i64| (lo..hi).prop_map(Value::Int).boxed();
    let money = prop_oneof![
        (0i64..3_000).prop_map(|n| Value::Int(n * 100)),
        (0i64..300_000).prop_map(Value::Int)
    ]
    .boxed();
    let days = day().prop_map(Value::Day).boxed();
    // Tier reviews fall up to two years ahead.
    let review_days = prop_oneof![
        days.clone(),
        (0i64..800).prop_map(|n| Value::Day(Day::Offset(n, Unit::Day))),
    ]
    .boxed();
    let attr = |a: Attr, t: BoxedStrategy<Test>| {
        t.prop_map(move |test| Pred::Attr { attr: a, test }).boxed()
    };
    let tags = pick(data.tags.clone());
    let skus = pick(data.skus.clone());
    let anniversary = (
        prop_oneof![Just(Attr::Birthday), Just(Attr::CustomerAddedDate)],
        -20i64..20,
        -3i64..60,
    )
        .prop_map(|(a, from, len)| Pred::Anniversary {
            attr: a,
            from: Day::Offset(from, Unit::Day),
            to: Day::Offset(from + len, Unit::Day),
        })
        .boxed();
    let count = ordered(ints(0, 5), false, true);
    let purchased = (
        prop::collection::vec(equality(skus, false).prop_map(|t| (SubAttr::Sku, t)), 0..2),
        prop::collection::vec(
            ordered(days.clone(), false, false).prop_map(|t| (SubAttr::Date, t)),
            0..2,
        ),
        prop::collection::vec(count.clone().prop_map(|t| (SubAttr::Count, t)), 0..2),
    )
        .prop_map(|(s, d, c)| Pred::Matches {
            func: Func::ProductsPurchased,
            rows: s.into_iter().chain(d).collect(),
            aggregates: c,
        })
        .prop_filter("MATCHES needs a field", |p| match p {
            Pred::Matches {
                rows, aggregates, ..
            } => !rows.is_empty() || !aggregates.is_empty(),
            _ => true,
        })
        .boxed();
    let placed = (
        prop::collection::vec(
            ordered(days.clone(), false, false).prop_map(|t| (SubAttr::Date, t)),
            0..2,
        ),
        prop::collection::vec(count.prop_map(|t| (SubAttr::Count, t)), 0..2),
        prop::collection::vec(
            ordered(money.clone(), false, true).prop_map(|t| (SubAttr::SumAmount, t)),
            0..2,
        ),
    )
        .prop_map(|(d, c, s)| Pred::Matches {
            func: Func::OrdersPlaced,
            rows: d,
            aggregates: c.into_iter().chain(s).collect(),
        })
        .prop_filter("MATCHES needs a field", |p| match p {
            Pred::Matches {
                rows, aggregates, ..
            } => !rows.is_empty() || !aggregates.is_empty(),
            _ => true,
        })
        .boxed();
    prop_oneof![
        attr(Attr::AmountSpent, ordered(money.clone(), false, true)),
        attr(Attr::NumberOfOrders, ordered(ints(0, 12), false, true)),
        attr(Attr::PointsBalance, ordered(ints(0, 4000), false, true)),
        attr(Attr::LifetimePoints, ordered(ints(0, 8000), false, true)),
        attr(Attr::NpsScore, ordered(ints(0, 11), true, true)),
        attr(Attr::OpenTickets, ordered(ints(0, 3), false, true)),
        attr(Attr::NumberOfTickets, ordered(ints(0, 6), false, true)),
        attr(Attr::FirstOrderDate, ordered(days.clone(), true, false)),
        attr(Attr::LastOrderDate, ordered(days.clone(), true, false)),
        attr(Attr::CustomerAddedDate, ordered(days.clone(), false, false)),
        attr(
            Attr::Birthday,
            ordered(birthday().prop_map(Value::Day).boxed(), true, false)
        ),
        attr(
            Attr::LoyaltyTier,
            equality(pick(strings(LOYALTY_TIERS)), true)
        ),
        attr(Attr::TierReviewAt, ordered(review_days, true, false)),
        attr(Attr::SpendToKeepTier, ordered(money.clone(), false, true)),
        attr(
            Attr::TierAtRisk,
            (any::<bool>(), prop_oneof![Just(CmpOp::Eq), Just(CmpOp::Ne)])
                .prop_map(|(b, op)| Test::Cmp(op, Value::Bool(b)))
                .boxed()
        ),
        attr(Attr::RfmGroup, equality(pick(strings(RFM_GROUPS)), true)),
        attr(Attr::PredictedClv, ordered(money.clone(), true, true)),
        attr(
            Attr::ChurnProbability,
            by_order(
                (0i64..=100)
                    .prop_map(|n| Value::Number(n as f64 / 100.0))
                    .boxed()
            )
        ),
        attr(
            Attr::ExpectedOrders90d,
            by_order(
                (0i64..60)
                    .prop_map(|n| Value::Number(n as f64 / 10.0))
                    .boxed()
            )
        ),
        attr(Attr::ChurnRisk, equality(pick(strings(CHURN_RISKS)), true)),
        attr(
            Attr::TopCategory,
            equality(pick(data.categories.clone()), true)
        ),
        attr(
            Attr::PurchasedCategory,
            equality(pick(data.categories.clone()), false)
        ),
        attr(
            Attr::EmailSubscriptionStatus,
            equality(pick(strings(EMAIL_STATES)), false)
        ),
        attr(
            Attr::NpsCategory,
            equality(pick(strings(NPS_CATEGORIES)), true)
        ),
        attr(
            Attr::Country,
            equality(pick(strings(&["US", "GB", "CA", "DE", "FR", "ZZ"])), true)
        ),
        attr(Attr::City, equality(pick(data.cities.clone()), true)),
        attr(
            Attr::EmailDomain,
            equality(
                pick(strings(&[
                    "example.com",
                    "example.net",
                    "mail.example",
                    "x_y.test"
                ])),
                false
            )
        ),
        attr(
            Attr::CustomerTags,
            prop_oneof![
                tags.clone().prop_map(Test::Contains),
                tags.prop_map(Test::NotContains)
            ]
            .boxed()
        ),
        anniversary,
        purchased,
        placed,
    ]
    .boxed()
}

fn query(data: &Data) -> BoxedStrategy<Expr> {
    predicate(data)
        .prop_map(Expr::Pred)
        .prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::And),
                prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::Or),
                inner.prop_map(|e| Expr::Not(Box::new(e))),
            ]
        })
        .boxed()
}

/// Eighty customers are too few for the lifetime-value models, so the
/// refresh leaves every figure null; the compiler is tested on figures
/// spread over their ranges instead, every fifth customer's left null.
async fn vary_clv(db: &sea_orm::DatabaseConnection) {
    use sea_orm::{ActiveModelTrait, IntoActiveModel, Set};
    for row in customer_clv::Entity::find()
        .all(db)
        .await
        .expect("clv rows")
    {
        let id = row.customer_id;
        if id % 5 == 0 {
            continue;
        }
        let churn = ((id * 37) % 101) as f64 / 100.0;
        let mut row = row.into_active_model();
        row.churn_probability = Set(Some(churn));
        row.churn_risk = Set(Some(
            c360::domain::clv::ChurnRisk::of(churn).as_str().to_owned(),
        ));
        row.expected_orders_90d = Set(Some(((id * 13) % 60) as f64 / 10.0));
        row.predicted_value = Set((id % 4 != 0).then_some((id * 7_919) % 300_000));
        row.update(db).await.expect("clv row");
    }
}

async fn sql_members(db: &sea_orm::DatabaseConnection, text: &str, env: &Env) -> Vec<i64> {
    let expr = parse(text, 2).unwrap_or_else(|e| panic!("`{text}` does not parse: {e}"));
    let cond = compile(&expr, env).expect("compiles");
    customers_joined()
        .filter(cond)
        .order_by_asc(customer::Column::Id)
        .all(db)
        .await
        .unwrap_or_else(|e| panic!("`{text}` fails in SQL: {e}"))
        .into_iter()
        .map(|c| c.id)
        .collect()
}

fn parts(e: &Expr, out: &mut Vec<Expr>) {
    out.push(e.clone());
    match e {
        Expr::And(t) | Expr::Or(t) => t.iter().for_each(|x| parts(x, out)),
        Expr::Not(x) => parts(x, out),
        Expr::Pred(_) => {}
    }
}

/// The shortest sub-query whose members differ, with both member lists.
async fn smallest_mismatch(
    db: &sea_orm::DatabaseConnection,
    data: &Data,
    oracle: &Oracle<'_>,
    env: &Env,
    expr: &Expr,
) -> String {
    let mut all = Vec::new();
    parts(expr, &mut all);
    let mut found = Vec::new();
    for part in all {
        let text = render(&part);
        let expected: Vec<i64> = data
            .rows
            .iter()
            .filter(|r| oracle.eval(&part, r))
            .map(|r| r.id)
            .collect();
        let actual = sql_members(db, &text, env).await;
        if actual != expected {
            found.push(format!("`{text}`: SQL {actual:?}, Rust {expected:?}"));
        }
    }
    found.sort_by_key(String::len);
    found.into_iter().next().unwrap_or_default()
}

both_stores! {
    async fn random_segments_select_what_the_ast_means(app: TestApp) {
        // Fresh random data each run; the seed is in every failure message.
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_nanos() as u64;
        app.seed_with(80, seed).await;
        vary_clv(&app.db).await;
        let data = load(&app.db).await;
        let tz: Tz = "America/New_York".parse().expect("zone");
        let env = Env::at(app.clock.now(), tz, "USD");
        let oracle = Oracle { env: &env };
        let strategy = query(&data);
        let mut runner = TestRunner::new(RunnerConfig {
            cases: CASES,
            ..RunnerConfig::default()
        });
        let (mut nonempty, mut partial) = (0, 0);
        for _ in 0..CASES {
            let expr = strategy
                .new_tree(&mut runner)
                .expect("a query")
                .current();
            let text = render(&expr);
            assert_eq!(
                parse(&text, 2).unwrap_or_else(|e| panic!("`{text}` does not parse: {e}")),
                expr,
                "`{text}` parses to another AST"
            );
            let expected: Vec<i64> = data
                .rows
                .iter()
                .filter(|r| oracle.eval(&expr, r))
                .map(|r| r.id)
                .collect();
            let actual = sql_members(&app.db, &text, &env).await;
            if actual != expected {
                let culprit = smallest_mismatch(&app.db, &data, &oracle, &env, &expr).await;
                panic!("data seed {seed}: members of `{text}` differ: SQL {actual:?}, Rust {expected:?}; smallest differing part: {culprit}");
            }
            nonempty += usize::from(!expected.is_empty());
            partial += usize::from(!expected.is_empty() && expected.len() < data.rows.len());
        }
        // The generator must produce queries that actually split the base.
        assert!(partial as u32 >= CASES / 4, "only {partial} of {CASES} queries split the base ({nonempty} non-empty)");
    }
}
