//! Calendar periods in a time zone: ISO weeks (from Monday), months, and
//! quarters (from January, April, July and October), each starting at the
//! local midnight of its first day.

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

/// The length of a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Week,
    Month,
    Quarter,
}

impl Granularity {
    /// The first day of the period `day` falls in.
    pub fn start_of(self, day: NaiveDate) -> NaiveDate {
        match self {
            Granularity::Week => day - Days::new(u64::from(day.weekday().num_days_from_monday())),
            Granularity::Month => day.with_day(1).unwrap_or(day),
            Granularity::Quarter => {
                let month = (day.month0() / 3) * 3 + 1;
                NaiveDate::from_ymd_opt(day.year(), month, 1).unwrap_or(day)
            }
        }
    }

    /// The first day of the period after the one starting on `start`; None
    /// past the end of the calendar.
    pub fn next(self, start: NaiveDate) -> Option<NaiveDate> {
        self.shift(start, 1)
    }

    /// The first day of the period `n` periods after (before, when negative)
    /// the one starting on `start`; None outside the calendar.
    pub fn shift(self, start: NaiveDate, n: i32) -> Option<NaiveDate> {
        let (months, weeks) = match self {
            Granularity::Week => (0, n),
            Granularity::Month => (n, 0),
            Granularity::Quarter => (n.checked_mul(3)?, 0),
        };
        let days = Days::new(7 * u64::from(weeks.unsigned_abs()));
        let by = Months::new(months.unsigned_abs());
        match (weeks < 0, months < 0) {
            (false, false) => start.checked_add_days(days)?.checked_add_months(by),
            _ => start.checked_sub_days(days)?.checked_sub_months(by),
        }
    }

    /// How the period starting on `start` is named: `2026-W10` (the ISO
    /// week-numbering year and week), `2026-03`, `2026-Q1`.
    pub fn label(self, start: NaiveDate) -> String {
        match self {
            Granularity::Week => {
                let week = start.iso_week();
                format!("{}-W{:02}", week.year(), week.week())
            }
            Granularity::Month => format!("{}-{:02}", start.year(), start.month()),
            Granularity::Quarter => format!("{}-Q{}", start.year(), start.month0() / 3 + 1),
        }
    }

    /// `week`, `month` or `quarter`.
    pub fn noun(self) -> &'static str {
        match self {
            Granularity::Week => "week",
            Granularity::Month => "month",
            Granularity::Quarter => "quarter",
        }
    }

    /// The one-letter prefix of a period offset in tables: W, M or Q.
    pub fn letter(self) -> char {
        match self {
            Granularity::Week => 'W',
            Granularity::Month => 'M',
            Granularity::Quarter => 'Q',
        }
    }
}

/// The UTC instant at which local day `day` begins in `tz`: its midnight,
/// or the first existing local hour when a clock change skips midnight.
/// None outside the supported calendar.
pub fn day_start(tz: Tz, day: NaiveDate) -> Option<DateTime<Utc>> {
    (0..24).find_map(|h| {
        let local = day.and_hms_opt(h, 0, 0)?;
        tz.from_local_datetime(&local)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("date")
    }

    #[test]
    fn periods_start_on_mondays_first_days_and_quarter_months() {
        // 2026-03-15 is a Sunday: its ISO week began on Monday the 9th.
        assert_eq!(Granularity::Week.start_of(d(2026, 3, 15)), d(2026, 3, 9));
        assert_eq!(Granularity::Week.start_of(d(2026, 3, 9)), d(2026, 3, 9));
        assert_eq!(Granularity::Month.start_of(d(2026, 3, 15)), d(2026, 3, 1));
        assert_eq!(Granularity::Quarter.start_of(d(2026, 3, 31)), d(2026, 1, 1));
        assert_eq!(
            Granularity::Quarter.start_of(d(2026, 12, 1)),
            d(2026, 10, 1)
        );
        assert_eq!(Granularity::Week.next(d(2026, 12, 28)), Some(d(2027, 1, 4)));
        assert_eq!(Granularity::Month.next(d(2026, 12, 1)), Some(d(2027, 1, 1)));
        assert_eq!(
            Granularity::Quarter.next(d(2026, 10, 1)),
            Some(d(2027, 1, 1))
        );
        assert_eq!(
            Granularity::Month.shift(d(2026, 1, 1), -12),
            Some(d(2025, 1, 1))
        );
        assert_eq!(
            Granularity::Quarter.shift(d(2026, 1, 1), -2),
            Some(d(2025, 7, 1))
        );
        assert_eq!(
            Granularity::Week.shift(d(2026, 3, 9), -2),
            Some(d(2026, 2, 23))
        );
        // 2024-12-30 is in ISO week 1 of 2025.
        assert_eq!(Granularity::Week.label(d(2024, 12, 30)), "2025-W01");
        assert_eq!(Granularity::Month.label(d(2026, 3, 1)), "2026-03");
        assert_eq!(Granularity::Quarter.label(d(2026, 7, 1)), "2026-Q3");
    }

    #[test]
    fn a_day_starts_at_local_midnight_or_the_first_hour_after_a_skipped_one() {
        let paris: Tz = "Europe/Paris".parse().expect("zone");
        assert_eq!(
            day_start(paris, d(2026, 3, 1)).map(|t| t.to_rfc3339()),
            Some("2026-02-28T23:00:00+00:00".into())
        );
        // Santiago moved its clocks from 00:00 to 01:00 on 2022-09-11.
        let santiago: Tz = "America/Santiago".parse().expect("zone");
        assert_eq!(
            day_start(santiago, d(2022, 9, 11)).map(|t| t.to_rfc3339()),
            Some("2022-09-11T04:00:00+00:00".into())
        );
    }
}
