//! Cohort retention: customers grouped by the period of their first counted
//! order, and for each period after it how many of them ordered, their
//! orders and their revenue. One aggregate statement, whatever the size of
//! the base.
//!
//! Definitions (money in minor units of the base currency; *counted orders*
//! are not CANCELLED and in the base currency, as in `customer_metrics`):
//! - a customer's *cohort* is the period, in the requested time zone, of
//!   their first counted order (`customer_metrics.first_order_at`). Only
//!   customers whose first counted order is in `[from, to)` belong to a
//!   cohort, so when `from` or `to` is not the start of a period the first
//!   or last cohort holds only that part of its period;
//! - *offset* k of a cohort is the k-th period after the cohort's own, for k
//!   in `0..periods`. Offset 0 is the cohort's own period and counts the
//!   first order: every member is active at offset 0 (retention 1), and its
//!   orders and revenue include the first order and any other in that period;
//! - at each offset, *active customers* are the members with a counted order
//!   placed in that period; *orders* are those orders and *revenue* is
//!   `SUM(total - refunded)` over them;
//! - *retention rate* = active customers ÷ cohort size; *cumulative revenue
//!   per customer* = revenue of offsets 0 to k ÷ cohort size, rounded half
//!   away from zero to the minor unit; both none for an empty cohort;
//! - an offset whose period starts after the clock's `now` has no figures
//!   (`None`), not zeros; the period in progress has the figures so far and
//!   is not `complete`.
//!
//! Periods are cut here, in Rust: each starts at a local midnight in the
//! time zone (`domain::periods`), turned into a UTC instant and bound as a
//! parameter, so SQLite and PostgreSQL bucket an order the same way in any
//! time zone without time-zone support in the store. An order's period is a
//! CASE over those instants nested as a binary search, so each order costs
//! a handful of comparisons however many periods there are.

use c360_entity::{customer_metrics as cm, order};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use sea_orm::sea_query::{
    Alias, Expr, ExprTrait, Func, FunctionCall, JoinType, Query, SelectStatement,
};
use sea_orm::{ActiveEnum, ConnectionTrait};

use super::insights::div_round;
use crate::domain::orders::NOT_COUNTED;
use crate::domain::periods::{Granularity, day_start};
use crate::error::{AppError, AppResult};

/// Offsets per cohort, at most: five years of months.
pub const MAX_PERIODS: i64 = 60;

/// Cohorts per request, at most: five years of weeks. With [`MAX_PERIODS`]
/// it bounds the matrix, the statement's parameters and the answer.
pub const MAX_COHORTS: usize = 260;

/// What to compute.
#[derive(Debug, Clone)]
pub struct Request {
    /// First orders at or after this instant...
    pub from: DateTime<Utc>,
    /// ...and before this one.
    pub to: DateTime<Utc>,
    pub granularity: Granularity,
    /// The time zone periods are calendar periods in.
    pub tz: Tz,
    /// Offsets per cohort, `0..periods`; 1 to [`MAX_PERIODS`].
    pub periods: i64,
}

/// Refuses a number of offsets out of 1 to [`MAX_PERIODS`], naming `periods`.
pub fn check_periods(periods: i64) -> AppResult<()> {
    if (1..=MAX_PERIODS).contains(&periods) {
        return Ok(());
    }
    Err(AppError::bad_input(
        "periods",
        format!("`periods` must be between 1 and {MAX_PERIODS}, not {periods}"),
    ))
}

/// The periods a request covers: the cohorts' own, then as many more as
/// the last cohort's offsets reach.
#[derive(Debug, Clone)]
struct Calendar {
    granularity: Granularity,
    /// The first local day of each period, and of the one after the last.
    days: Vec<NaiveDate>,
    /// The UTC instant each of `days` begins.
    starts: Vec<DateTime<Utc>>,
    cohorts: usize,
}

impl Calendar {
    /// Refuses a reversed period (`to`), a number of offsets out of bounds
    /// (`periods`), more than [`MAX_COHORTS`] cohorts (`to`) and a range
    /// past the end of the calendar (`to`).
    fn new(req: &Request) -> AppResult<Calendar> {
        if req.from >= req.to {
            return Err(AppError::bad_input(
                "to",
                format!("`to` ({}) must be after `from` ({})", req.to, req.from),
            ));
        }
        check_periods(req.periods)?;
        let g = req.granularity;
        let beyond = || AppError::bad_input("to", "the periods reach past the supported calendar");
        let first = g.start_of(req.from.with_timezone(&req.tz).date_naive());
        let mut days = vec![first];
        let mut starts = vec![day_start(req.tz, first).ok_or_else(beyond)?];
        let mut cohorts = None;
        let offsets = req.periods as usize;
        let wanted = |cohorts: usize| cohorts + offsets;
        while cohorts.is_none_or(|c| days.len() < wanted(c)) {
            let last = *days.last().ok_or_else(beyond)?;
            let day = g.next(last).ok_or_else(beyond)?;
            let start = day_start(req.tz, day).ok_or_else(beyond)?;
            if cohorts.is_none() && start >= req.to {
                cohorts = Some(days.len());
            }
            if cohorts.is_none() && days.len() == MAX_COHORTS {
                return Err(AppError::bad_input(
                    "to",
                    format!(
                        "[from, to) spans more than {MAX_COHORTS} {}s; ask for at most {MAX_COHORTS} cohorts",
                        g.noun()
                    ),
                ));
            }
            days.push(day);
            starts.push(start);
        }
        Ok(Calendar {
            granularity: g,
            days,
            starts,
            cohorts: cohorts.unwrap_or_default(),
        })
    }

    /// Periods, cohorts' and offsets' together (the last boundary excluded).
    fn len(&self) -> usize {
        self.starts.len() - 1
    }
}

/// Every cohort of a request, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct CohortMatrix {
    pub granularity: Granularity,
    pub cohorts: Vec<Cohort>,
}

/// Customers whose first counted order falls in one period.
#[derive(Debug, Clone, PartialEq)]
pub struct Cohort {
    /// `2026-W10`, `2026-03` or `2026-Q1` (`Granularity::label`).
    pub label: String,
    /// The period's start and end (exclusive), as UTC instants.
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Members: customers whose first counted order is in this period and in `[from, to)`.
    pub customers: i64,
    /// Offsets `0..periods`; None for those whose period starts after `now`.
    pub periods: Vec<Option<CohortPeriod>>,
}

/// One cohort's figures in one period.
#[derive(Debug, Clone, PartialEq)]
pub struct CohortPeriod {
    pub offset: u32,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The period ended at or before `now`.
    pub complete: bool,
    pub active_customers: i64,
    pub orders: i64,
    /// Net revenue, minor units.
    pub revenue: i64,
    /// Net revenue of offsets 0 to this one, minor units.
    pub cumulative_revenue: i64,
    /// Active customers ÷ cohort size; None for an empty cohort.
    pub retention_rate: Option<f64>,
    /// Cumulative revenue ÷ cohort size, minor units; None for an empty cohort.
    pub cumulative_revenue_per_customer: Option<i64>,
}

/// The cohorts of `req` as the clock shows `now`. `population`, when given,
/// selects the ids of the customers to count (a compiled segment).
pub async fn cohorts(
    db: &impl ConnectionTrait,
    base_currency: &str,
    req: &Request,
    population: Option<SelectStatement>,
    now: DateTime<Utc>,
) -> AppResult<CohortMatrix> {
    let cal = Calendar::new(req)?;
    let rows = db
        .query_all(&statement(&cal, req, base_currency, population))
        .await?;
    // cells[cohort][period]: active customers, orders, revenue.
    let mut cells = vec![vec![[0i64; 3]; cal.len()]; cal.cohorts];
    for row in rows {
        let at = |i| row.try_get_by_index::<i64>(i).map_err(AppError::from);
        let (cohort, period) = (index(at(0)?)?, index(at(1)?)?);
        let cell = cells
            .get_mut(cohort)
            .and_then(|c| c.get_mut(period))
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("cohort cell out of range")))?;
        *cell = [at(2)?, at(3)?, at(4)?];
    }
    let g = cal.granularity;
    let cohorts = cells
        .iter()
        .enumerate()
        .map(|(c, row)| {
            // Every member's first order is in the cohort's own period.
            let size = row[c][0];
            let mut cumulative = 0;
            let periods = (0..req.periods as usize)
                .map(|k| {
                    let p = c + k;
                    if cal.starts[p] > now {
                        return None;
                    }
                    let [active, orders, revenue] = row[p];
                    cumulative += revenue;
                    Some(CohortPeriod {
                        offset: k as u32,
                        start: cal.starts[p],
                        end: cal.starts[p + 1],
                        complete: cal.starts[p + 1] <= now,
                        active_customers: active,
                        orders,
                        revenue,
                        cumulative_revenue: cumulative,
                        retention_rate: (size > 0).then(|| active as f64 / size as f64),
                        cumulative_revenue_per_customer: (size > 0)
                            .then(|| div_round(cumulative, size)),
                    })
                })
                .collect();
            Cohort {
                label: g.label(cal.days[c]),
                start: cal.starts[c],
                end: cal.starts[c + 1],
                customers: size,
                periods,
            }
        })
        .collect();
    Ok(CohortMatrix {
        granularity: g,
        cohorts,
    })
}

fn index(v: i64) -> AppResult<usize> {
    usize::try_from(v).map_err(|_| AppError::Internal(anyhow::anyhow!("negative period {v}")))
}

const MEMBERS: &str = "members";
const ROWS: &str = "cohort_orders";

fn col(table: &'static str, column: &'static str) -> Expr {
    Expr::col((Alias::new(table), Alias::new(column)))
}

/// The index `i` in `lo..hi` of the period `t` falls in, given that
/// `starts[lo] <= t < starts[hi]`: a CASE halving the range at each level.
fn period_of(t: &Expr, starts: &[DateTime<Utc>], lo: usize, hi: usize) -> Expr {
    if hi - lo <= 1 {
        return Expr::val(lo as i64);
    }
    let mid = lo + (hi - lo) / 2;
    Expr::case(t.clone().lt(starts[mid]), period_of(t, starts, lo, mid))
        .finally(period_of(t, starts, mid, hi))
        .into()
}

/// One row per (cohort, period) with counted orders: active customers,
/// orders, net revenue.
///
/// ```sql
/// SELECT cohort, period, COUNT(DISTINCT customer_id), COUNT(customer_id), SUM(net)
/// FROM (SELECT m.customer_id, m.cohort, <period of placed_at> AS period, total - refunded AS net
///       FROM orders JOIN (SELECT customer_id, <period of first_order_at> AS cohort
///                         FROM customer_metrics WHERE first_order_at in [from, to)
///                         [AND customer_id IN (population)]) AS members
///       ON members.customer_id = orders.customer_id
///       WHERE counted AND placed_at in [from, end of the last period))
/// GROUP BY cohort, period
/// ```
fn statement(
    cal: &Calendar,
    req: &Request,
    base_currency: &str,
    population: Option<SelectStatement>,
) -> SelectStatement {
    let first = Expr::col((cm::Entity, cm::Column::FirstOrderAt));
    let mut members = Query::select();
    members
        .expr_as(
            Expr::col((cm::Entity, cm::Column::CustomerId)),
            Alias::new("customer_id"),
        )
        .expr_as(
            period_of(&first, &cal.starts, 0, cal.cohorts),
            Alias::new("cohort"),
        )
        .from(cm::Entity)
        .and_where(first.clone().gte(req.from))
        .and_where(first.lt(req.to));
    if let Some(population) = population {
        members.and_where(Expr::col((cm::Entity, cm::Column::CustomerId)).in_subquery(population));
    }

    use order::Column as O;
    let placed = Expr::col((order::Entity, O::PlacedAt));
    let mut rows = Query::select();
    rows.expr_as(col(MEMBERS, "customer_id"), Alias::new("customer_id"))
        .expr_as(col(MEMBERS, "cohort"), Alias::new("cohort"))
        .expr_as(
            period_of(&placed, &cal.starts, 0, cal.len()),
            Alias::new("period"),
        )
        .expr_as(
            Expr::col((order::Entity, O::Total)).sub(Expr::col((order::Entity, O::Refunded))),
            Alias::new("net"),
        )
        .from(order::Entity)
        .join_subquery(
            JoinType::InnerJoin,
            members,
            Alias::new(MEMBERS),
            col(MEMBERS, "customer_id").equals((order::Entity, O::CustomerId)),
        )
        .and_where(Expr::col((order::Entity, O::Status)).ne(NOT_COUNTED.to_value()))
        .and_where(Expr::col((order::Entity, O::Currency)).eq(base_currency))
        .and_where(placed.clone().gte(req.from))
        .and_where(placed.lt(cal.starts[cal.len()]));

    let big = |f: FunctionCall| Expr::from(f).cast_as("BIGINT");
    let mut q = Query::select();
    q.expr(col(ROWS, "cohort"))
        .expr(col(ROWS, "period"))
        .expr(big(Func::count_distinct(col(ROWS, "customer_id"))))
        .expr(big(Func::count(col(ROWS, "customer_id"))))
        .expr(big(Func::sum(col(ROWS, "net"))))
        .from_subquery(rows, Alias::new(ROWS))
        .add_group_by([col(ROWS, "cohort"), col(ROWS, "period")]);
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .expect("instant")
    }

    fn request(from: &str, to: &str, g: Granularity, tz: &str, periods: i64) -> Request {
        Request {
            from: at(from),
            to: at(to),
            granularity: g,
            tz: tz.parse().expect("zone"),
            periods,
        }
    }

    #[test]
    fn the_calendar_holds_the_cohorts_and_the_last_ones_offsets() {
        // In Paris, 2026-01-01T00:00Z is in January; 2026-03-31T22:30Z is
        // already April: January to April are cohorts, then two more months.
        let cal = Calendar::new(&request(
            "2026-01-01T00:00:00Z",
            "2026-03-31T22:30:00Z",
            Granularity::Month,
            "Europe/Paris",
            3,
        ))
        .expect("calendar");
        assert_eq!(cal.cohorts, 4);
        assert_eq!(cal.len(), 6);
        assert_eq!(cal.starts[0], at("2025-12-31T23:00:00Z"));
        // Summer time from 29 March: April starts at 22:00 UTC.
        assert_eq!(cal.starts[3], at("2026-03-31T22:00:00Z"));
        assert_eq!(cal.starts[6], at("2026-06-30T22:00:00Z"));
    }

    #[test]
    fn a_period_is_found_by_halving() {
        let starts: Vec<DateTime<Utc>> = (0..8)
            .map(|d| at("2026-01-01T00:00:00Z") + chrono::TimeDelta::days(d))
            .collect();
        // Seven periods: six comparisons, each boundary once.
        let sql = Query::select()
            .expr(period_of(&Expr::col(Alias::new("t")), &starts, 0, 7))
            .to_string(sea_orm::sea_query::SqliteQueryBuilder);
        assert_eq!(sql.matches("WHEN").count(), 6, "{sql}");
    }

    #[test]
    fn bad_requests_name_their_argument() {
        let field = |r: Request| match Calendar::new(&r) {
            Err(AppError::BadUserInput { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let from = "2026-01-01T00:00:00Z";
        assert_eq!(
            field(request(from, from, Granularity::Month, "UTC", 3)).as_deref(),
            Some("to")
        );
        assert_eq!(
            field(request(
                from,
                "2026-02-01T00:00:00Z",
                Granularity::Month,
                "UTC",
                0
            ))
            .as_deref(),
            Some("periods")
        );
        assert_eq!(
            field(request(
                from,
                "2026-02-01T00:00:00Z",
                Granularity::Month,
                "UTC",
                61
            ))
            .as_deref(),
            Some("periods")
        );
        // 261 weeks.
        assert_eq!(
            field(request(
                from,
                "2031-01-01T00:00:00Z",
                Granularity::Week,
                "UTC",
                1
            ))
            .as_deref(),
            Some("to")
        );
        // 260 months is the most.
        assert!(
            Calendar::new(&request(
                from,
                "2047-09-01T00:00:00Z",
                Granularity::Month,
                "UTC",
                60
            ))
            .is_ok()
        );
        assert_eq!(
            field(request(
                from,
                "2047-09-01T00:00:01Z",
                Granularity::Month,
                "UTC",
                60
            ))
            .as_deref(),
            Some("to")
        );
    }
}
