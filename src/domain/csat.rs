//! Satisfaction scores (CSAT), as ticket ratings and follow-up calls give
//! them: 1 (very unsatisfied) to 5 (very satisfied), and a score of 4 or 5
//! counts as satisfied.

/// The lowest score that counts as satisfied.
pub const SATISFIED_MIN: i32 = 4;

/// The scores a customer can give.
pub const SCORES: std::ops::RangeInclusive<i32> = 1..=5;
