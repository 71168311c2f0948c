//! Tier reviews as time passes: accounts whose `tier_due_at` has come are
//! reviewed under the tier policy (`service::loyalty::review_due`, which
//! owns the rule, the writes and the events): a tier whose retention ended
//! (or, rolling, whose spend left the window) is lowered and told
//! `loyalty.tier_changed` (DOWN, `REVIEW` or `SPEND_WINDOW`), and an account
//! entering the downgrade notice is told `loyalty.tier_at_risk` once per
//! review. Finding them is a range on the `tier_due_at` index, so a pass
//! with nothing due is one statement.

use sea_orm::DatabaseConnection;

use crate::error::AppResult;
use crate::events::scheduler::Pass;
use crate::service::loyalty::{Reviewed, review_due};

pub(crate) async fn run(db: &DatabaseConnection, pass: &Pass<'_>) -> AppResult<Reviewed> {
    review_due(db, pass.rules, pass.now).await
}
