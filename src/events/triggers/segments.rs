//! `segment.entered` / `segment.exited`: every tracked segment's kept
//! membership brought in line with its query at the pass's time, each
//! change told once (`service::segments::tracking`, which owns the
//! membership, its evaluation and the natural keys
//! `segment_entered:<segment>:<customer>:<version>`).
//!
//! One statement lists the tracked segments; each is then evaluated in a
//! transaction of its own (a fixed number of set-based statements, plus one
//! insert per thousand events), so one segment's evaluation never holds
//! another's. A segment whose evaluation fails (say its query names a day
//! outside the calendar) is logged and left for the next pass; the others
//! are evaluated all the same.

use c360_entity::segment;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::error::AppResult;
use crate::events::scheduler::Pass;
use crate::segment::Env;
use crate::service::segments::tracking;

/// Customers told they entered, and told they left, a tracked segment.
pub(crate) async fn run(db: &DatabaseConnection, pass: &Pass<'_>) -> AppResult<(u64, u64)> {
    let tracked: Vec<i64> = segment::Entity::find()
        .select_only()
        .column(segment::Column::Id)
        .filter(segment::Column::Tracked.eq(true))
        .order_by_asc(segment::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    let env = Env {
        today: pass.today,
        tz: pass.tz,
        base_currency: pass.rules.base_currency.clone(),
    };
    let (mut entered, mut exited) = (0, 0);
    for id in tracked {
        match tracking::evaluate(db, id, &env, pass.now).await {
            Ok(Some(done)) if done.told => {
                entered += done.entered;
                exited += done.exited;
            }
            Ok(_) => {}
            Err(e) => tracing::error!(segment = id, error = %e, "tracked segment not evaluated"),
        }
    }
    Ok((entered, exited))
}
