//! A customer's year in review: which calendar year may be asked for, the
//! instants it runs between, how many products and categories it names,
//! where a customer's spend stands among the year's buyers, and the tier
//! the year reached.
//!
//! A year is the calendar year in the store time zone: from the local
//! midnight of 1 January to that of the next (`periods::day_start`), bound
//! as UTC instants so SQLite and PostgreSQL cut it alike.

use c360_entity::enums::LoyaltyTier;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;

use super::periods::day_start;
use super::tiers::ORDER;
use crate::error::{AppError, AppResult};

/// The first year that may be asked for: no store holds activity before it.
pub const FIRST_YEAR: i32 = 1970;

/// Products a review names, by spend.
pub const TOP_PRODUCTS: i64 = 5;

/// Categories a review names, by spend.
pub const TOP_CATEGORIES: i64 = 3;

/// One calendar year in the store time zone, as UTC instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct YearWindow {
    pub year: i32,
    /// Local midnight of 1 January.
    pub start: DateTime<Utc>,
    /// Local midnight of the next 1 January (excluded).
    pub end: DateTime<Utc>,
}

impl YearWindow {
    /// The year `year` in `tz`, asked at `now`: BAD_USER_INPUT on `year`
    /// before [`FIRST_YEAR`] or after the year `now` falls in (in `tz`). The
    /// year in progress is allowed; [`YearWindow::complete`] says it is not over.
    pub fn new(tz: Tz, year: i32, now: DateTime<Utc>) -> AppResult<YearWindow> {
        let current = now.with_timezone(&tz).year();
        if year < FIRST_YEAR || year > current {
            return Err(AppError::bad_input(
                "year",
                format!(
                    "`year` must be between {FIRST_YEAR} and {current} (the current year in {tz}), not {year}"
                ),
            ));
        }
        let start_of = |y: i32| NaiveDate::from_ymd_opt(y, 1, 1).and_then(|d| day_start(tz, d));
        match (start_of(year), start_of(year + 1)) {
            (Some(start), Some(end)) => Ok(YearWindow { year, start, end }),
            _ => Err(AppError::bad_input(
                "year",
                format!("`year` {year} is outside the supported calendar"),
            )),
        }
    }

    /// Whether the year is over at `now`.
    pub fn complete(&self, now: DateTime<Utc>) -> bool {
        now >= self.end
    }
}

/// Where one buyer's net spend of a year stands among every buyer's of that
/// year (customers with at least one counted order placed in it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// Buyers whose net spend of the year is lower than or equal to this
    /// one's, this one included.
    pub at_or_below: i64,
    /// Every buyer of the year.
    pub buyers: i64,
}

/// The bands a standing is named by, from the narrowest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Band {
    Top1,
    Top5,
    Top10,
    Top25,
}

impl Band {
    pub const ALL: [Band; 4] = [Band::Top1, Band::Top5, Band::Top10, Band::Top25];

    /// The band's width in percent of the buyers.
    pub const fn percent(self) -> i64 {
        match self {
            Band::Top1 => 1,
            Band::Top5 => 5,
            Band::Top10 => 10,
            Band::Top25 => 25,
        }
    }

    /// `top 1%`, `top 5%`, ...
    pub fn label(self) -> String {
        format!("top {}%", self.percent())
    }
}

impl Standing {
    /// The spend percentile: the share (0 to 1) of the year's buyers whose
    /// net spend is lower than or equal to this buyer's. The biggest
    /// spender's is 1; tied buyers share one.
    pub fn percentile(&self) -> f64 {
        if self.buyers <= 0 {
            return 0.0;
        }
        self.at_or_below as f64 / self.buyers as f64
    }

    /// The narrowest band `top X%` whose buyers this one is among: its
    /// percentile is at least `1 − X/100`, compared in integers
    /// (`100 × at_or_below ≥ (100 − X) × buyers`) so no rounding decides.
    /// None below the top 25 %.
    pub fn band(&self) -> Option<Band> {
        Band::ALL
            .into_iter()
            .find(|b| 100 * self.at_or_below >= (100 - b.percent()) * self.buyers)
    }
}

/// A recorded change of tier: when, and the tier it left and reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierChange {
    pub at: DateTime<Utc>,
    pub from: LoyaltyTier,
    pub to: LoyaltyTier,
}

/// The tier a year reached: the highest tier held at any instant of
/// `[start, end)`, from the account's recorded changes (`changes`, oldest
/// first) and the tier it holds now (`current`).
///
/// The tier held at an instant is the one the last change before it
/// reached; before the first change, the one that change left; with no
/// change recorded, the current one (it has not changed since it was
/// written).
pub fn tier_reached(
    changes: &[TierChange],
    current: LoyaltyTier,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> LoyaltyTier {
    let at_start = match changes.iter().rev().find(|c| c.at <= start) {
        Some(last) => last.to,
        None => changes.first().map_or(current, |first| first.from),
    };
    changes
        .iter()
        .filter(|c| c.at > start && c.at < end)
        .map(|c| c.to)
        .fold(at_start, highest)
}

fn highest(a: LoyaltyTier, b: LoyaltyTier) -> LoyaltyTier {
    let rank = |t: LoyaltyTier| ORDER.iter().position(|o| *o == t).unwrap_or(0);
    if rank(b) > rank(a) { b } else { a }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .expect("instant")
    }

    #[test]
    fn a_year_runs_between_local_midnights_and_only_past_or_current_years_are_asked() {
        let paris: Tz = "Europe/Paris".parse().expect("zone");
        let now = utc("2026-05-20T12:00:00Z");
        let y = YearWindow::new(paris, 2025, now).expect("2025");
        assert_eq!(y.start, utc("2024-12-31T23:00:00Z"));
        assert_eq!(y.end, utc("2025-12-31T23:00:00Z"));
        assert!(y.complete(now));
        assert!(
            !YearWindow::new(paris, 2026, now)
                .expect("2026")
                .complete(now)
        );
        // 2026-12-31T23:30Z is already 2027 in Paris.
        assert!(YearWindow::new(paris, 2027, utc("2026-12-31T23:30:00Z")).is_ok());
        for bad in [2027, 1969, i32::MIN, i32::MAX] {
            assert!(YearWindow::new(paris, bad, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn bands_are_the_narrowest_top_share_the_percentile_reaches() {
        let s = |at_or_below, buyers| Standing {
            at_or_below,
            buyers,
        };
        assert_eq!(s(100, 100).band(), Some(Band::Top1));
        assert_eq!(s(99, 100).band(), Some(Band::Top1));
        assert_eq!(s(98, 100).band(), Some(Band::Top5));
        assert_eq!(s(90, 100).band(), Some(Band::Top10));
        assert_eq!(s(75, 100).band(), Some(Band::Top25));
        assert_eq!(s(74, 100).band(), None);
        assert_eq!(s(3, 4).band(), Some(Band::Top25));
        assert_eq!(s(3, 4).percentile(), 0.75);
        assert_eq!(Band::Top5.label(), "top 5%");
    }

    #[test]
    fn the_tier_reached_is_the_highest_held_within_the_year() {
        use LoyaltyTier::*;
        let (start, end) = (utc("2025-01-01T00:00:00Z"), utc("2026-01-01T00:00:00Z"));
        let change = |at: &str, from, to| TierChange {
            at: utc(at),
            from,
            to,
        };
        assert_eq!(tier_reached(&[], Silver, start, end), Silver);
        let up_then_down = [
            change("2024-06-01T00:00:00Z", Bronze, Silver),
            change("2025-03-01T00:00:00Z", Silver, Gold),
            change("2025-09-01T00:00:00Z", Gold, Bronze),
        ];
        assert_eq!(tier_reached(&up_then_down, Bronze, start, end), Gold);
        let later = [change("2026-02-01T00:00:00Z", Silver, Platinum)];
        assert_eq!(tier_reached(&later, Platinum, start, end), Silver);
        let dropped = [change("2024-12-31T00:00:00Z", Gold, Bronze)];
        assert_eq!(tier_reached(&dropped, Bronze, start, end), Bronze);
    }
}
