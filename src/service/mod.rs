//! Business rules per domain, independent of GraphQL: functions taking `&impl ConnectionTrait`.

pub mod audit;
pub mod clv;
pub mod cohorts;
pub mod customers;
pub mod follow_ups;
pub mod insights;
pub mod loyalty;
pub mod metrics;
pub mod nps;
pub mod orders;
pub mod owner;
pub mod privacy;
pub mod recommendations;
pub mod referrals;
pub mod reviews;
pub mod rfm;
pub mod rules;
pub mod segments;
pub mod store_credit;
pub mod tickets;
mod write;

pub use rules::Rules;
pub use write::Write;

/// What writing an imported record did; a re-run of the same file is all
/// `Unchanged`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
}
