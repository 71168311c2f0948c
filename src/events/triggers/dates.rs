//! Yearly dates: `customer.birthday_upcoming` (key
//! `birthday_upcoming:<customer>:<year>`) and `customer.signup_anniversary`
//! (key `signup_anniversary:<customer>:<year>`, `years` since sign-up in
//! its data), each for the occurrence falling between today and today plus
//! its notice, in the store's time zone; `<year>` is the occurrence's year,
//! so a notice that crosses New Year keys the coming year.
//!
//! 29 February is celebrated on 28 February in other years, for birthdays
//! and sign-up days alike (`segment::compile::anniversary_days`, which the
//! candidates' month-days come from, applies the same rule). Erased
//! customers are not told about.
//!
//! Candidates, per batch of customers: birthdays by their month and day
//! (the expression index of migration `m20261130_000007`); sign-up days by
//! the ranges of `created_at` each past year's matching days cover (the
//! segment compiler's `anniversary(customer_added_date)`, on the
//! `customers(created_at, id)` index). Then the keys already told, and the
//! insert.

use c360_entity::customer;
use c360_migration::m20261130_000007_birthday_month_day_index::{
    POSTGRES_MONTH_DAY, SQLITE_MONTH_DAY,
};
use chrono::{Datelike, NaiveDate, TimeDelta};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Select,
};

use crate::error::{AppError, AppResult};
use crate::events::payload;
use crate::events::scheduler::{BATCH, Pass, emit_new, local_day};
use crate::segment::ast::{Attr, Day, Pred};
use crate::segment::compile::anniversary_days;
use crate::segment::{Env, Expr as Segment, compile};

/// The day a date's anniversary falls on in `year`: the same month and
/// day, or 28 February for 29 February outside leap years.
pub(crate) fn celebrated_on(of: NaiveDate, year: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, of.month(), of.day())
        .or_else(|| NaiveDate::from_ymd_opt(year, 2, 28))
}

/// The anniversary of `of` within `[from, to]` (less than a year long),
/// after `of` itself.
pub(crate) fn occurrence(of: NaiveDate, from: NaiveDate, to: NaiveDate) -> Option<NaiveDate> {
    (from.year()..=to.year())
        .filter_map(|year| celebrated_on(of, year))
        .find(|day| *day > of && (from..=to).contains(day))
}

/// Today and the last day of a notice of `days`.
fn window(pass: &Pass<'_>, days: i64) -> AppResult<(NaiveDate, NaiveDate)> {
    let to = pass
        .today
        .checked_add_signed(TimeDelta::days(days))
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("notice past the calendar")))?;
    Ok((pass.today, to))
}

/// Customers not erased matching `select`, in batches after `after`.
async fn batch(
    db: &DatabaseConnection,
    select: Select<customer::Entity>,
    after: i64,
) -> AppResult<Vec<(i64, Option<NaiveDate>, chrono::DateTime<chrono::Utc>)>> {
    Ok(select
        .select_only()
        .columns([
            customer::Column::Id,
            customer::Column::Birthday,
            customer::Column::CreatedAt,
        ])
        .filter(customer::Column::ErasedAt.is_null())
        .filter(customer::Column::Id.gt(after))
        .order_by_asc(customer::Column::Id)
        .limit(BATCH as u64)
        .into_tuple()
        .all(db)
        .await?)
}

pub(crate) async fn birthdays(db: &DatabaseConnection, pass: &Pass<'_>) -> AppResult<u64> {
    let (from, to) = window(pass, pass.notices.birthday)?;
    // Notices are shorter than a year, so the days are a proper subset.
    let month_days = anniversary_days(from, to).unwrap_or_default();
    let month_day = match db.get_database_backend() {
        DbBackend::Postgres => Expr::cust(POSTGRES_MONTH_DAY).is_in(
            month_days
                .iter()
                .map(|&(m, d)| i64::from(m * 100 + d))
                .collect::<Vec<_>>(),
        ),
        _ => Expr::cust(SQLITE_MONTH_DAY).is_in(
            month_days
                .iter()
                .map(|(m, d)| format!("{m:02}-{d:02}"))
                .collect::<Vec<_>>(),
        ),
    };
    let select = customer::Entity::find()
        .filter(customer::Column::Birthday.is_not_null())
        .filter(month_day);
    let mut emitted = 0;
    let mut after = 0i64;
    loop {
        let rows = batch(db, select.clone(), after).await?;
        let Some(&(last, _, _)) = rows.last() else {
            break;
        };
        let full = rows.len() == BATCH;
        let events = rows
            .into_iter()
            .filter_map(|(id, birthday, _)| {
                let on = occurrence(birthday?, from, to)?;
                let key = format!("birthday_upcoming:{id}:{}", on.year());
                Some((payload::birthday_upcoming(id, on), key))
            })
            .collect();
        emitted += emit_new(db, pass.now, events).await?;
        if !full {
            break;
        }
        after = last;
    }
    Ok(emitted)
}

pub(crate) async fn signup_anniversaries(
    db: &DatabaseConnection,
    pass: &Pass<'_>,
) -> AppResult<u64> {
    let (from, to) = window(pass, pass.notices.signup_anniversary)?;
    let env = Env {
        today: pass.today,
        tz: pass.tz,
        base_currency: pass.rules.base_currency.clone(),
    };
    let anniversary = Segment::Pred(Pred::Anniversary {
        attr: Attr::CustomerAddedDate,
        from: Day::On(from),
        to: Day::On(to),
    });
    let select = customer::Entity::find().filter(compile(&anniversary, &env)?);
    let mut emitted = 0;
    let mut after = 0i64;
    loop {
        let rows = batch(db, select.clone(), after).await?;
        let Some(&(last, _, _)) = rows.last() else {
            break;
        };
        let full = rows.len() == BATCH;
        let events = rows
            .into_iter()
            .filter_map(|(id, _, created_at)| {
                let signed_up = local_day(created_at, pass.tz);
                let on = occurrence(signed_up, from, to)?;
                let years = on.year() - signed_up.year();
                let key = format!("signup_anniversary:{id}:{}", on.year());
                Some((payload::signup_anniversary(id, on, years), key))
            })
            .collect();
        emitted += emit_new(db, pass.now, events).await?;
        if !full {
            break;
        }
        after = last;
    }
    Ok(emitted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    #[test]
    fn leap_day_birthdays_fall_on_the_28th_in_other_years() {
        let leap = day("2000-02-29");
        assert_eq!(celebrated_on(leap, 2027), Some(day("2027-02-28")));
        assert_eq!(celebrated_on(leap, 2028), Some(day("2028-02-29")));
        assert_eq!(
            occurrence(leap, day("2027-02-21"), day("2027-02-28")),
            Some(day("2027-02-28"))
        );
        assert_eq!(occurrence(leap, day("2028-02-21"), day("2028-02-28")), None);
    }

    #[test]
    fn a_window_across_new_year_finds_next_years_day_and_never_day_zero() {
        let of = day("1990-01-02");
        assert_eq!(
            occurrence(of, day("2026-12-28"), day("2027-01-04")),
            Some(day("2027-01-02"))
        );
        // Signed up today: the first anniversary is a year away.
        let today = day("2026-12-01");
        assert_eq!(occurrence(today, today, day("2026-12-08")), None);
    }
}
