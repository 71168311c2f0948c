//! Loyalty rules: balances derived from the ledger, and tiers from spend
//! under the tier policy.
//!
//! The ledger (`loyalty_transactions`) is the truth; the balances on
//! `loyalty_accounts` are a cache of it, recomputed by [`refresh_balances`]
//! in the same transaction as every ledger write.
//!
//! Time moves balances too: PENDING points become AVAILABLE when their
//! return window ends, and AVAILABLE credits expire when their period ends
//! (when expiry is configured). [`settle`] does both for accounts whose
//! `settle_due_at` has passed; reads of an account call it first, `c360
//! loyalty settle` and a background sweep in `serve` call it for every due
//! account.
//!
//! Expiry rule: spending takes the points that expire first. Every debit
//! (redemption, clawback from the AVAILABLE balance, negative adjustment,
//! earlier expiry) consumes, among the credits available when it happened,
//! those expiring soonest (never-expiring credits last); what is left of a
//! credit when its period ends expires. The ledger is replayed to apply the
//! rule, so enabling expiry on a store with history is exact as well.
//!
//! One file per concern:
//! - `balances`: the cached balances and the ledger sums behind them;
//! - `tiers`: trailing spend and the tier a write leads to;
//! - `review`: the tier policy applied as time passes: reviews of due
//!   accounts (reads, the scheduler, `c360 loyalty settle`), their events;
//! - `earning`: points earned on orders and taken back on refunds;
//! - `settlement`: pending points becoming available, and expiry;
//! - `redemption`: redemptions and staff adjustments, idempotent per key.

mod balances;
mod earning;
mod redemption;
mod review;
mod settlement;
mod tiers;

pub use balances::refresh_balances;
pub use earning::{
    ClawBackPlan, Earned, claw_back, clawback_row, earn_for_order, earn_row, earned,
    from_available, plan_claw_back, points_for,
};
pub use redemption::{
    adjust, adjust_points, find_by_key, redeem, redeem_points, replay, validate_adjustment,
    validate_redemption,
};
pub use review::{
    Reviewed, TierReview, histories, mark_due_on_new_rules, review_due, review_due_of,
    review_history, review_one, spend_of, write_standings,
};
pub use settlement::{Settled, due_accounts, settle, settle_due, settle_history, unspent_expiring};
pub use tiers::{TierReason, refresh_tier, trailing_spend};
