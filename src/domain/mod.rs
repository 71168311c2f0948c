//! Facts of the business, each defined once: ids, money, tiers and the
//! trailing window, NPS categories, RFM groups, the lifetime-value models
//! and their rules, order statuses that count,
//! referral codes, email addresses, text lengths, CSAT scores, follow-up
//! channels and outcomes, calendar periods in a
//! time zone, and the clock rules read time from.
//!
//! Nothing here touches the store or GraphQL; every layer above may use it.
//! See `docs/ARCHITECTURE.md` for where each kind of rule lives.

pub mod clock;
pub mod clv;
pub mod csat;
pub mod email;
pub mod follow_ups;
pub mod ids;
pub mod interests;
pub mod money;
pub mod nps;
pub mod orders;
pub mod periods;
pub mod referral;
pub mod rfm;
pub mod text;
pub mod tiers;
pub mod year_review;

pub use clock::Clock;
