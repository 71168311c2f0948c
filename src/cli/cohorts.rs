//! `c360 insights cohorts`: the cohort retention matrix of the whole base
//! (`service::cohorts`), as markdown tables or JSON, in `--timezone`.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use clap::{Args, ValueEnum};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::domain::money::format_minor;
use crate::domain::periods::{Granularity, day_start};
use crate::error::{AppError, AppResult};
use crate::service::cohorts::{self, CohortMatrix, CohortPeriod, Request};

#[derive(Debug, Clone, Args)]
pub struct CohortsArgs {
    /// The length of a cohort's period and of each offset.
    #[arg(long, value_enum, default_value_t = Period::Month)]
    pub granularity: Period,
    /// First orders from this day (its local midnight in --timezone) or
    /// RFC 3339 instant; default `--periods` periods before `--to`.
    #[arg(long, value_parser = parse_bound)]
    pub from: Option<Bound>,
    /// First orders before this day or instant; default the end of the
    /// current period, so the current period is the last cohort.
    #[arg(long, value_parser = parse_bound)]
    pub to: Option<Bound>,
    /// Offsets per cohort (1-60); offset 0 is the cohort's own period.
    #[arg(long, default_value_t = 12)]
    pub periods: i64,
    #[arg(long, value_enum, default_value_t = Format::Markdown)]
    pub format: Format,
    /// Read the matrix as of this RFC 3339 instant instead of the system
    /// clock: periods that start after it are left empty.
    #[arg(long)]
    pub now: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Period {
    Week,
    Month,
    Quarter,
}

impl From<Period> for Granularity {
    fn from(p: Period) -> Granularity {
        match p {
            Period::Week => Granularity::Week,
            Period::Month => Granularity::Month,
            Period::Quarter => Granularity::Quarter,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// A retention table and a cumulative revenue per customer table.
    Markdown,
    /// Every figure of every cohort and offset.
    Json,
}

/// A local day or an instant.
#[derive(Debug, Clone, Copy)]
pub enum Bound {
    Day(NaiveDate),
    At(DateTime<Utc>),
}

fn parse_bound(text: &str) -> Result<Bound, String> {
    if let Ok(day) = text.parse::<NaiveDate>() {
        return Ok(Bound::Day(day));
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| Bound::At(t.with_timezone(&Utc)))
        .map_err(|_| format!("`{text}` is neither a day (2026-01-31) nor an RFC 3339 instant"))
}

fn instant(bound: Bound, tz: Tz, name: &str) -> AppResult<DateTime<Utc>> {
    match bound {
        Bound::At(t) => Ok(t),
        Bound::Day(day) => day_start(tz, day)
            .ok_or_else(|| AppError::bad_input(name, format!("{day} is outside the calendar"))),
    }
}

/// Computes the matrix as `app`'s clock shows the time and prints it.
pub async fn run(app: &AppState, args: &CohortsArgs) -> AppResult<()> {
    // Before the default range, which counts back `periods` periods.
    cohorts::check_periods(args.periods)?;
    let g = Granularity::from(args.granularity);
    let tz = app.config.timezone;
    let now = app.clock.now();
    let outside = |name: &str| AppError::bad_input(name, "outside the supported calendar");
    let to = match args.to {
        Some(b) => instant(b, tz, "--to")?,
        None => {
            let current = g.start_of(now.with_timezone(&tz).date_naive());
            let next = g.next(current).ok_or_else(|| outside("--to"))?;
            day_start(tz, next).ok_or_else(|| outside("--to"))?
        }
    };
    let from = match args.from {
        Some(b) => instant(b, tz, "--from")?,
        None => {
            let last = g.start_of(to.with_timezone(&tz).date_naive());
            let back = i32::try_from(args.periods).map_err(|_| outside("--periods"))?;
            let first = g.shift(last, -back).ok_or_else(|| outside("--from"))?;
            // `to` at a period start: `periods` whole periods before it.
            let first = if day_start(tz, last) == Some(to) {
                first
            } else {
                g.next(first).ok_or_else(|| outside("--from"))?
            };
            day_start(tz, first).ok_or_else(|| outside("--from"))?
        }
    };
    let request = Request {
        from,
        to,
        granularity: g,
        tz,
        periods: args.periods,
    };
    let matrix = cohorts::cohorts(
        &app.store.conn,
        &app.config.base_currency,
        &request,
        None,
        now,
    )
    .await?;
    let currency = &app.config.base_currency;
    match args.format {
        Format::Markdown => print!("{}", markdown(&matrix, args.periods, currency)),
        Format::Json => println!("{:#}", json(&matrix, &request, now, tz, currency)),
    }
    Ok(())
}

/// Two tables, one row per cohort and one column per offset: the share of
/// the cohort that ordered, then the cumulative net revenue per customer.
/// Offsets still in the future are empty cells; the period in progress is
/// starred.
pub fn markdown(matrix: &CohortMatrix, periods: i64, currency: &str) -> String {
    let letter = matrix.granularity.letter();
    let noun = matrix.granularity.noun();
    let offsets: Vec<String> = (0..periods).map(|k| format!("{letter}{k}")).collect();
    let table = |figure: &dyn Fn(&CohortPeriod) -> Option<String>| {
        let mut out = format!("| cohort | customers | {} |\n", offsets.join(" | "));
        out.push_str(&format!(
            "| --- | ---: |{}\n",
            " ---: |".repeat(offsets.len())
        ));
        for cohort in &matrix.cohorts {
            let cells: Vec<String> = cohort
                .periods
                .iter()
                .map(|p| match p {
                    None => String::new(),
                    Some(p) => {
                        let star = if p.complete { "" } else { "*" };
                        format!("{}{star}", figure(p).unwrap_or_else(|| "–".to_owned()))
                    }
                })
                .collect();
            out.push_str(&format!(
                "| {} | {} | {} |\n",
                cohort.label,
                cohort.customers,
                cells.join(" | ")
            ));
        }
        out
    };
    let retention = table(&|p| p.retention_rate.map(|r| format!("{:.1}%", r * 100.0)));
    let revenue = table(&|p| {
        p.cumulative_revenue_per_customer
            .map(|v| format_minor(v, currency))
    });
    let in_progress = matrix
        .cohorts
        .iter()
        .flat_map(|c| c.periods.iter().flatten())
        .any(|p| !p.complete);
    let star = if in_progress {
        format!(
            " \\* marks the {noun} in progress (figures so far); empty cells are {noun}s to come."
        )
    } else {
        format!(" Empty cells are {noun}s to come.")
    };
    format!(
        "Retention: the share of each cohort's customers who ordered in {letter}0 (the {noun} of their first order), {letter}1 (the {noun} after), and so on.{star}\n\n{retention}\nCumulative net revenue per customer, {currency}:\n\n{revenue}"
    )
}

/// Every figure, shaped as the `cohorts` query answers (times in RFC 3339,
/// money as `{ amount, currencyCode }`).
fn json(
    matrix: &CohortMatrix,
    request: &Request,
    now: DateTime<Utc>,
    tz: Tz,
    currency: &str,
) -> Value {
    let money = |v: i64| json!({ "amount": format_minor(v, currency), "currencyCode": currency });
    let cohorts: Vec<Value> = matrix
        .cohorts
        .iter()
        .map(|c| {
            let periods: Vec<Value> = c
                .periods
                .iter()
                .map(|p| match p {
                    None => Value::Null,
                    Some(p) => json!({
                        "offset": p.offset,
                        "start": p.start.to_rfc3339(),
                        "end": p.end.to_rfc3339(),
                        "complete": p.complete,
                        "activeCustomers": p.active_customers,
                        "orders": p.orders,
                        "revenue": money(p.revenue),
                        "retentionRate": p.retention_rate,
                        "cumulativeRevenue": money(p.cumulative_revenue),
                        "cumulativeRevenuePerCustomer": p.cumulative_revenue_per_customer.map(money),
                    }),
                })
                .collect();
            json!({
                "label": c.label,
                "start": c.start.to_rfc3339(),
                "end": c.end.to_rfc3339(),
                "customers": c.customers,
                "periods": periods,
            })
        })
        .collect();
    json!({
        "granularity": format!("{:?}", matrix.granularity).to_uppercase(),
        "timezone": tz.name(),
        "from": request.from.to_rfc3339(),
        "to": request.to.to_rfc3339(),
        "now": now.to_rfc3339(),
        "cohorts": cohorts,
    })
}
