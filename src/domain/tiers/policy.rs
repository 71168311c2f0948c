//! How a tier follows spend over time: the tier policy, and where an
//! account stands under it at an instant.
//!
//! Spend raises a tier at once: the order that takes trailing spend
//! (`super::WINDOW`) to a threshold reaches that tier. What happens when
//! spend falls again is the policy's:
//! - [`Keep::Rolling`]: the tier follows trailing spend at once, down as
//!   well as up; it is lost the second the last order holding it up leaves
//!   the window.
//! - [`Keep::NextYear`] and [`Keep::Days`]: a tier reached is kept until
//!   its review, at the end of its retention period (through 31 December
//!   of the calendar year after the one it was reached in, or a number of
//!   days after the day it was reached). At the review the tier becomes
//!   the one trailing spend at that instant reaches, and that tier (the
//!   same one when spend still qualifies) is kept one more period.
//!
//! The policy is a function of the order history as it stands: refunded
//! and cancelled spend never counted, so a tier reached only by an order
//! that was later returned was never reached. [`standing`] replays the
//! history to find the tier the policy allows now, then applies the one
//! rule that needs the stored tier: a review never raises a tier (a policy
//! or history change keeps no one above what they held; only spend raises).
//!
//! Reviews and the downgrade notice fall on local midnights of the store's
//! time zone; a rolling tier is lost at the exact second spend leaves the
//! window.

use c360_entity::enums::LoyaltyTier;
use chrono::{DateTime, Datelike, Months, NaiveDate, SubsecRound, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

use super::{ORDER, TierThresholds, WINDOW, tier_for_spend};

/// How long a tier is kept once spend has reached it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Not at all: the tier follows trailing spend, down as well as up.
    Rolling,
    /// Through the end of the calendar year after the one it was reached
    /// in; reviewed on 1 January, then yearly.
    NextYear,
    /// For this many whole days after the day it was reached; reviewed at
    /// the start of the day after, then every as many days.
    Days(u32),
}

/// The tier policy: how long a tier is kept and how long before its review
/// an account that would lose it is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierPolicy {
    pub keep: Keep,
    /// Whole days before a review that an account whose spend would not
    /// keep its tier is at risk (and told so); 0: never told.
    pub notice_days: u32,
    /// The time zone whose midnights and calendar years reviews fall on.
    pub tz: Tz,
}

impl Default for TierPolicy {
    /// Kept through the next calendar year, 30 days' notice, in UTC.
    fn default() -> Self {
        TierPolicy {
            keep: Keep::NextYear,
            notice_days: 30,
            tz: Tz::UTC,
        }
    }
}

/// An order's part in trailing spend: when it was placed and what it counts
/// (`total - refunded`, minor units of the base currency).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spend {
    pub placed_at: DateTime<Utc>,
    pub net: i64,
}

/// Where an account stands under the policy at an instant, and what comes
/// next if nothing more is spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// The tier the account holds.
    pub tier: LoyaltyTier,
    /// When the tier is next checked against trailing spend: the end of its
    /// retention period, or (rolling) the second spend falls below it.
    /// `None` at BRONZE, which has nothing to lose.
    pub review_at: Option<DateTime<Utc>>,
    /// When the tier ends if nothing more is spent: the first review whose
    /// trailing spend would not keep it.
    pub expires_at: Option<DateTime<Utc>>,
    /// The tier the account holds after the next review, on the spend
    /// recorded so far.
    pub tier_after_review: LoyaltyTier,
    /// The start of the downgrade notice: the local midnight `notice_days`
    /// before a review the account would lose its tier at; `None` when the
    /// review keeps it or no notice is configured.
    pub notice_at: Option<DateTime<Utc>>,
    /// Spend (minor units) still needed in the window the review counts
    /// (the 365 days before it) for the review to keep the tier; 0 when
    /// the review keeps it already, and at BRONZE.
    pub spend_to_keep: i64,
    /// The next instant the standing changes without a write: the notice
    /// starting, or the review.
    pub due_at: Option<DateTime<Utc>>,
}

impl Standing {
    /// Whether the account is inside the notice before a review it would
    /// lose its tier at.
    pub fn at_risk(&self, now: DateTime<Utc>) -> bool {
        self.notice_at.is_some_and(|at| at <= now)
    }

    fn bronze() -> Standing {
        Standing {
            tier: LoyaltyTier::Bronze,
            review_at: None,
            expires_at: None,
            tier_after_review: LoyaltyTier::Bronze,
            notice_at: None,
            spend_to_keep: 0,
            due_at: None,
        }
    }
}

fn rank(tier: LoyaltyTier) -> usize {
    ORDER.iter().position(|t| *t == tier).unwrap_or(0)
}

fn higher(a: LoyaltyTier, b: LoyaltyTier) -> LoyaltyTier {
    if rank(a) >= rank(b) { a } else { b }
}

fn lower(a: LoyaltyTier, b: LoyaltyTier) -> LoyaltyTier {
    if rank(a) <= rank(b) { a } else { b }
}

/// The spend a tier starts at; 0 for BRONZE.
pub fn threshold(tier: LoyaltyTier, thresholds: &TierThresholds) -> i64 {
    match tier {
        LoyaltyTier::Bronze => 0,
        LoyaltyTier::Silver => thresholds.silver,
        LoyaltyTier::Gold => thresholds.gold,
        LoyaltyTier::Platinum => thresholds.platinum,
    }
}

/// The first whole second at which an order placed at `placed_at` no
/// longer counts: the window ending at `t` holds orders placed at or after
/// `t - WINDOW`.
pub fn leaves_window(placed_at: DateTime<Utc>) -> DateTime<Utc> {
    (placed_at + WINDOW).trunc_subsecs(0) + TimeDelta::seconds(1)
}

/// The UTC instant local day `day` starts at in `tz` (the first existing
/// local hour when a clock change skips midnight); the day itself, as UTC,
/// past the calendar's range.
pub fn day_start(tz: Tz, day: NaiveDate) -> DateTime<Utc> {
    (0..24)
        .find_map(|h| {
            tz.from_local_datetime(&day.and_hms_opt(h, 0, 0)?)
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| day.and_time(chrono::NaiveTime::MIN).and_utc())
}

/// A spend history sorted by placement, with running sums.
struct History {
    at: Vec<DateTime<Utc>>,
    net: Vec<i64>,
    /// `sum[i]` is the net of the first `i` orders.
    sum: Vec<i64>,
}

impl History {
    fn new(spend: &[Spend]) -> History {
        let mut sorted = spend.to_vec();
        sorted.sort_by_key(|s| s.placed_at);
        let mut sum = Vec::with_capacity(sorted.len() + 1);
        sum.push(0i64);
        for s in &sorted {
            sum.push(sum[sum.len() - 1].saturating_add(s.net));
        }
        History {
            at: sorted.iter().map(|s| s.placed_at).collect(),
            net: sorted.iter().map(|s| s.net).collect(),
            sum,
        }
    }

    /// Trailing spend at `t`: orders placed in `[t - WINDOW, t]`.
    fn spend_at(&self, t: DateTime<Utc>) -> i64 {
        let to = self.at.partition_point(|p| *p <= t);
        let from = self.at.partition_point(|p| *p < t - WINDOW);
        if to > from {
            self.sum[to] - self.sum[from]
        } else {
            0
        }
    }

    /// The first second after `now` at which trailing spend falls below
    /// `floor` with no more orders; `None` when it never does.
    fn falls_below(&self, now: DateTime<Utc>, floor: i64) -> Option<DateTime<Utc>> {
        let from = self.at.partition_point(|p| *p < now - WINDOW);
        let to = self.at.partition_point(|p| *p <= now);
        let mut left = self.spend_at(now);
        let mut i = from;
        while i < to {
            let leaves = leaves_window(self.at[i]);
            // Orders leaving in the same second leave together.
            while i < to && leaves_window(self.at[i]) == leaves {
                left -= self.net[i];
                i += 1;
            }
            if left < floor {
                return Some(leaves);
            }
        }
        None
    }
}

/// The tier the policy gives over a history, and when it is next reviewed.
#[derive(Debug, Clone, Copy)]
struct Held {
    tier: LoyaltyTier,
    review: Option<DateTime<Utc>>,
}

impl TierPolicy {
    fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.tz).date_naive()
    }

    /// The review of a tier reached at `at` (retaining policies only).
    fn first_review(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let day = self.local_date(at);
        let next = match self.keep {
            Keep::Rolling => return None,
            Keep::NextYear => NaiveDate::from_ymd_opt(day.year().checked_add(2)?, 1, 1)?,
            Keep::Days(n) => day.checked_add_days(chrono::Days::new(u64::from(n)))?,
        };
        Some(day_start(self.tz, next))
    }

    /// The review after one held at `at`: one period on.
    fn next_review(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let day = self.local_date(at);
        let next = match self.keep {
            Keep::Rolling => return None,
            Keep::NextYear => day.checked_add_months(Months::new(12))?,
            Keep::Days(n) => day.checked_add_days(chrono::Days::new(u64::from(n)))?,
        };
        // A review always moves forward, even across a clock change.
        Some(day_start(self.tz, next).max(at + TimeDelta::seconds(1)))
    }

    /// The review at `at`: the tier trailing spend reaches then, if lower,
    /// kept one more period (nothing to review at BRONZE).
    fn review(&self, held: &mut Held, at: DateTime<Utc>, history: &History, t: &TierThresholds) {
        held.tier = lower(held.tier, tier_for_spend(history.spend_at(at), t));
        held.review = if held.tier == LoyaltyTier::Bronze {
            None
        } else {
            self.next_review(at)
        };
    }

    /// Reviews due up to and including `until`.
    fn reviews_until(
        &self,
        held: &mut Held,
        until: DateTime<Utc>,
        history: &History,
        t: &TierThresholds,
    ) {
        while let Some(at) = held.review.filter(|r| *r <= until) {
            self.review(held, at, history, t);
        }
    }

    /// Replays a retaining policy over the history up to `until`: each
    /// placement that takes trailing spend above the tier held reaches the
    /// higher tier, each review in between applies.
    fn replay(&self, history: &History, until: DateTime<Utc>, t: &TierThresholds) -> Held {
        let mut held = Held {
            tier: LoyaltyTier::Bronze,
            review: None,
        };
        let mut i = 0;
        while i < history.at.len() && history.at[i] <= until {
            let placed = history.at[i];
            // A review at the very second of an order comes first.
            self.reviews_until(&mut held, placed, history, t);
            while i < history.at.len() && history.at[i] == placed {
                i += 1;
            }
            let reached = tier_for_spend(history.spend_at(placed), t);
            if rank(reached) > rank(held.tier) {
                held.tier = reached;
                held.review = self.first_review(placed);
            }
        }
        self.reviews_until(&mut held, until, history, t);
        held
    }
}

/// Where an account holding `stored` stands at `now` under `policy`, given
/// the history of orders that count towards its tier.
///
/// The tier is the policy's over the history, never above `stored` unless
/// trailing spend itself reaches higher: a review keeps or lowers, spend
/// raises.
pub fn standing(
    policy: &TierPolicy,
    thresholds: &TierThresholds,
    stored: LoyaltyTier,
    spend: &[Spend],
    now: DateTime<Utc>,
) -> Standing {
    let history = History::new(spend);
    let reached_now = tier_for_spend(history.spend_at(now), thresholds);
    let (allowed, mut held) = match policy.keep {
        Keep::Rolling => (
            reached_now,
            Held {
                tier: reached_now,
                review: None,
            },
        ),
        _ => {
            let held = policy.replay(&history, now, thresholds);
            (held.tier, held)
        }
    };
    let tier = higher(reached_now, lower(stored, allowed));
    if tier == LoyaltyTier::Bronze {
        return Standing::bronze();
    }
    let floor = threshold(tier, thresholds);
    // The reviews ahead, with no more orders: the first one the tier does
    // not survive is when it expires.
    let (review_at, expires_at, after) = match (policy.keep, held.review) {
        (Keep::Rolling, _) | (_, None) => {
            // Retaining policies always hold a review above BRONZE; the
            // rolling rule is the safe answer if a calendar edge drops it.
            let lost = history.falls_below(now, floor);
            let after = lost.map_or(tier, |at| tier_for_spend(history.spend_at(at), thresholds));
            (lost, lost, after)
        }
        (_, Some(first)) => {
            let mut kept = tier;
            let mut after = None;
            let mut expires = None;
            while let Some(at) = held.review {
                policy.review(&mut held, at, &history, thresholds);
                let next = higher(
                    tier_for_spend(history.spend_at(at), thresholds),
                    lower(kept, held.tier),
                );
                after.get_or_insert(next);
                if rank(next) < rank(tier) {
                    expires = Some(at);
                    break;
                }
                kept = next;
            }
            (Some(first), expires, after.unwrap_or(LoyaltyTier::Bronze))
        }
    };
    let losing = rank(after) < rank(tier);
    let notice_at = match review_at {
        Some(review) if losing && policy.notice_days > 0 => policy
            .local_date(review)
            .checked_sub_days(chrono::Days::new(u64::from(policy.notice_days)))
            .map(|day| day_start(policy.tz, day).min(review)),
        _ => None,
    };
    let spend_to_keep = match review_at {
        Some(review) if losing => (floor - history.spend_at(review)).max(0),
        _ => 0,
    };
    let due_at = match notice_at {
        Some(notice) if now < notice => Some(notice),
        _ => review_at,
    };
    Standing {
        tier,
        review_at,
        expires_at,
        tier_after_review: after,
        notice_at,
        spend_to_keep,
        due_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use LoyaltyTier::{Bronze, Gold, Platinum, Silver};

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339)
            .map(|t| t.to_utc())
            .unwrap_or_default()
    }

    fn order(placed: &str, major: i64) -> Spend {
        Spend {
            placed_at: at(placed),
            net: major * 100,
        }
    }

    fn policy(keep: Keep) -> TierPolicy {
        TierPolicy {
            keep,
            ..TierPolicy::default()
        }
    }

    fn of(keep: Keep, stored: LoyaltyTier, spend: &[Spend], now: &str) -> Standing {
        standing(
            &policy(keep),
            &TierThresholds::default(),
            stored,
            spend,
            at(now),
        )
    }

    #[test]
    fn rolling_follows_spend_down_the_second_it_leaves_the_window() {
        // 600 on 10 Jan 2026 reaches SILVER (500).
        let spend = [order("2026-01-10T09:00:00Z", 600)];
        let s = of(Keep::Rolling, Silver, &spend, "2026-06-01T00:00:00Z");
        assert_eq!(s.tier, Silver);
        let lost = at("2027-01-10T09:00:01Z");
        assert_eq!((s.review_at, s.expires_at), (Some(lost), Some(lost)));
        assert_eq!(s.tier_after_review, Bronze);
        assert_eq!(s.spend_to_keep, 50_000);
        // Notice: 30 days before the day of the review, at midnight.
        assert_eq!(s.notice_at, Some(at("2026-12-11T00:00:00Z")));
        assert_eq!(s.due_at, s.notice_at);
        assert!(!s.at_risk(at("2026-12-10T23:59:59Z")));
        assert!(s.at_risk(at("2026-12-11T00:00:00Z")));
        let inside = of(Keep::Rolling, Silver, &spend, "2026-12-20T00:00:00Z");
        assert_eq!(inside.due_at, Some(lost));
        // The last second the order counts, and the first it does not.
        assert_eq!(
            of(Keep::Rolling, Silver, &spend, "2027-01-10T09:00:00Z").tier,
            Silver
        );
        assert_eq!(
            of(Keep::Rolling, Silver, &spend, "2027-01-10T09:00:01Z"),
            Standing::bronze()
        );
    }

    #[test]
    fn rolling_is_lost_when_the_spend_left_no_longer_reaches_it() {
        // GOLD on 1,600; the first 300 leaving keeps 1,300: SILVER.
        let spend = [
            order("2026-01-10T09:00:00Z", 300),
            order("2026-03-01T09:00:00Z", 1_300),
        ];
        let s = of(Keep::Rolling, Gold, &spend, "2026-06-01T00:00:00Z");
        assert_eq!(s.tier, Gold);
        assert_eq!(s.review_at, Some(at("2027-01-10T09:00:01Z")));
        assert_eq!(s.tier_after_review, Silver);
        assert_eq!(s.spend_to_keep, 150_000 - 130_000);
    }

    #[test]
    fn a_retained_tier_is_kept_through_the_next_calendar_year() {
        // SILVER reached in March 2026: kept through 2027, reviewed on
        // 1 January 2028 against 2027's spend.
        let spend = [order("2026-03-10T14:00:00Z", 600)];
        let review = at("2028-01-01T00:00:00Z");
        for now in ["2026-06-01T00:00:00Z", "2027-06-01T00:00:00Z"] {
            let s = of(Keep::NextYear, Silver, &spend, now);
            assert_eq!(s.tier, Silver, "{now}");
            assert_eq!(s.review_at, Some(review), "{now}");
            assert_eq!(s.expires_at, Some(review), "{now}");
            assert_eq!(s.tier_after_review, Bronze);
            assert_eq!(s.spend_to_keep, 50_000);
            assert_eq!(s.notice_at, Some(at("2027-12-02T00:00:00Z")));
        }
        assert_eq!(
            of(Keep::NextYear, Silver, &spend, "2027-12-31T23:59:59Z").tier,
            Silver
        );
        assert_eq!(
            of(Keep::NextYear, Silver, &spend, "2028-01-01T00:00:00Z"),
            Standing::bronze()
        );
    }

    #[test]
    fn spend_that_still_qualifies_at_the_review_keeps_the_tier_a_year_more() {
        let spend = [
            order("2026-03-10T14:00:00Z", 600),
            order("2027-05-01T10:00:00Z", 550),
        ];
        let s = of(Keep::NextYear, Silver, &spend, "2027-12-15T00:00:00Z");
        assert_eq!(s.review_at, Some(at("2028-01-01T00:00:00Z")));
        assert_eq!(s.tier_after_review, Silver);
        assert_eq!((s.notice_at, s.spend_to_keep), (None, 0));
        assert!(!s.at_risk(at("2027-12-15T00:00:00Z")));
        // Not at risk, the review itself is due: it moves the review on.
        assert_eq!(s.due_at, s.review_at);
        assert_eq!(s.expires_at, Some(at("2029-01-01T00:00:00Z")));
        let later = of(Keep::NextYear, Silver, &spend, "2028-01-01T00:00:00Z");
        assert_eq!(later.tier, Silver);
        assert_eq!(later.review_at, Some(at("2029-01-01T00:00:00Z")));
        assert_eq!(later.spend_to_keep, 50_000);
    }

    #[test]
    fn a_review_lowers_to_what_spend_then_reaches_and_keeps_that_a_period() {
        // PLATINUM in 2026; only 700 in the year before the 2028 review.
        let spend = [
            order("2026-02-01T10:00:00Z", 5_200),
            order("2027-08-01T10:00:00Z", 700),
        ];
        let s = of(Keep::NextYear, Platinum, &spend, "2027-12-20T00:00:00Z");
        assert_eq!(s.tier_after_review, Silver);
        assert_eq!(s.spend_to_keep, 500_000 - 70_000);
        let after = of(Keep::NextYear, Platinum, &spend, "2028-01-02T00:00:00Z");
        assert_eq!(after.tier, Silver);
        assert_eq!(after.review_at, Some(at("2029-01-01T00:00:00Z")));
    }

    #[test]
    fn a_review_never_raises_the_stored_tier() {
        // The policy would keep GOLD, but the account holds SILVER.
        let spend = [
            order("2026-02-01T10:00:00Z", 1_600),
            order("2026-12-01T10:00:00Z", 100),
        ];
        let s = of(Keep::NextYear, Silver, &spend, "2027-06-01T00:00:00Z");
        assert_eq!(s.tier, Silver);
        assert_eq!(s.review_at, Some(at("2028-01-01T00:00:00Z")));
        // Spend above the stored tier raises it.
        assert_eq!(
            of(Keep::NextYear, Bronze, &spend, "2026-12-01T10:00:00Z").tier,
            Gold
        );
    }

    #[test]
    fn a_refunded_order_never_reached_its_tier() {
        // 1,600 placed in 2026, all but 200 refunded: no GOLD was reached.
        let spend = [order("2026-02-01T10:00:00Z", 200)];
        assert_eq!(
            of(Keep::NextYear, Gold, &spend, "2026-06-01T00:00:00Z"),
            Standing::bronze()
        );
    }

    #[test]
    fn days_retention_counts_from_the_day_reached_in_the_store_zone() {
        let policy = TierPolicy {
            keep: Keep::Days(90),
            notice_days: 7,
            tz: chrono_tz::Europe::Paris,
        };
        // 23:30 UTC on 31 March is 1 April in Paris.
        let spend = [order("2026-03-31T23:30:00Z", 600)];
        let s = standing(
            &policy,
            &TierThresholds::default(),
            Silver,
            &spend,
            at("2026-05-01T00:00:00Z"),
        );
        // 1 April + 90 days = 30 June, at Paris midnight (UTC+2).
        assert_eq!(s.review_at, Some(at("2026-06-29T22:00:00Z")));
        // The order still counts on 30 June, 28 September, 27 December and
        // 27 March; by 25 June 2027 it has left the window.
        assert_eq!(s.tier_after_review, Silver);
        assert_eq!((s.notice_at, s.spend_to_keep), (None, 0));
        assert_eq!(s.expires_at, Some(at("2027-06-24T22:00:00Z")));
        let last = standing(
            &policy,
            &TierThresholds::default(),
            Silver,
            &spend,
            at("2027-06-01T00:00:00Z"),
        );
        assert_eq!(last.review_at, s.expires_at);
        assert_eq!(last.notice_at, Some(at("2027-06-17T22:00:00Z")));
        assert!(last.at_risk(at("2027-06-18T00:00:00Z")));
    }

    #[test]
    fn without_notice_nobody_is_told() {
        let spend = [order("2026-01-10T09:00:00Z", 600)];
        let s = standing(
            &TierPolicy {
                keep: Keep::Rolling,
                notice_days: 0,
                tz: Tz::UTC,
            },
            &TierThresholds::default(),
            Silver,
            &spend,
            at("2027-01-09T00:00:00Z"),
        );
        assert_eq!(s.notice_at, None);
        assert_eq!(s.due_at, s.review_at);
    }
}
