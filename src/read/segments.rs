//! Segment reads: the members of a segment paged by ascending id, the
//! figures over them in one aggregate statement, and saved segments.
//!
//! A segment's members are either those its query selects now
//! ([`Matching`]) or, for a tracked segment, the kept membership as of its
//! last evaluation (`segment_members`, see `service::segments::tracking`):
//! the `kept_*` reads start from that table's primary key
//! `(segment_id, customer_id)`, so a page costs its own size and a count
//! reads the index alone.

use c360_entity::{
    customer, customer_metrics as cm, loyalty_account as la, segment, segment_member as sm,
};
use sea_orm::sea_query::{Expr as Sql, ExprTrait, Func, FunctionCall};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Select,
};

use super::customer_filter::Matching;
use super::customers::CustomerRow;
use super::joined::{self, Joins};
use super::pagination::{ById, KeysetPage};
use crate::domain::nps::{DETRACTOR_MAX, PROMOTER_MIN};
use crate::error::{AppError, AppResult};
use crate::segment::customers_joined;

/// The order of a page by id, over its statement's output.
const BY_ID: &str = r#""id" ASC"#;

/// One page of the customers `matching` selects, by ascending id, with the
/// to-one rows `joins` asks for (one statement).
pub async fn members(
    db: &impl ConnectionTrait,
    matching: &Matching,
    page: &ById,
    joins: Joins,
) -> AppResult<KeysetPage<CustomerRow>> {
    let mut query = customers_joined().filter(matching.condition());
    if let Some(c) = &page.after {
        query = query.filter(customer::Column::Id.gt(c.id));
    }
    let query = query.order_by_asc(customer::Column::Id);
    let rows = joined::fetch(db, query, joins, BY_ID, page.size + 1).await?;
    Ok(page.cut(rows, |(c, _)| c.id))
}

/// `customers` (with the joins of `customers_joined`) inner-joined with the
/// kept members of tracked segment `segment_id`.
fn kept_joined(segment_id: i64) -> Select<customer::Entity> {
    let mut select = customers_joined();
    QueryTrait::query(&mut select).inner_join(
        sm::Entity,
        Sql::col((sm::Entity, sm::Column::CustomerId))
            .equals((customer::Entity, customer::Column::Id)),
    );
    select.filter(Sql::col((sm::Entity, sm::Column::SegmentId)).eq(segment_id))
}

/// One page of the kept members of tracked segment `segment_id`, by
/// ascending id, with the to-one rows `joins` asks for (one statement that
/// walks the membership's primary key from the cursor on).
pub async fn kept_members(
    db: &impl ConnectionTrait,
    segment_id: i64,
    page: &ById,
    joins: Joins,
) -> AppResult<KeysetPage<CustomerRow>> {
    let query = kept_after(segment_id, page.after.as_ref().map(|c| c.id));
    let rows = joined::fetch(db, query, joins, BY_ID, page.size + 1).await?;
    Ok(page.cut(rows, |(c, _)| c.id))
}

/// The kept members of tracked segment `segment_id` after customer `after`,
/// by ascending id: the membership's primary key walked from the cursor
/// on. Add a limit.
pub fn kept_after(segment_id: i64, after: Option<i64>) -> Select<customer::Entity> {
    let member = || Sql::col((sm::Entity, sm::Column::CustomerId));
    let mut query = kept_joined(segment_id);
    if let Some(after) = after {
        query = query.filter(member().gt(after));
    }
    query.order_by_asc(member())
}

/// The number of kept members of tracked segment `segment_id` (the
/// membership's index alone).
pub async fn kept_count(db: &impl ConnectionTrait, segment_id: i64) -> AppResult<i64> {
    let n = sm::Entity::find()
        .filter(sm::Column::SegmentId.eq(segment_id))
        .count(db)
        .await?;
    Ok(n as i64)
}

/// Figures over a segment's members; money in minor units of the base
/// currency (`customer_metrics` counts no other).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentFigures {
    /// Members.
    pub customers: i64,
    /// Sum of net spend.
    pub lifetime_value: i64,
    /// Orders not cancelled.
    pub orders: i64,
    /// Available loyalty points.
    pub points: i64,
    /// Members whose latest NPS answer is a promoter's / a detractor's.
    pub promoters: i64,
    pub detractors: i64,
    /// Members who ever answered.
    pub respondents: i64,
}

impl SegmentFigures {
    /// `lifetime_value ÷ customers`, rounded half away from zero; 0 without members.
    pub fn average_lifetime_value(&self) -> i64 {
        div_round(self.lifetime_value, self.customers)
    }

    /// `% promoters − % detractors` over respondents, -100 to 100; `None`
    /// without respondents.
    pub fn nps(&self) -> Option<f64> {
        (self.respondents > 0)
            .then(|| (self.promoters - self.detractors) as f64 * 100.0 / self.respondents as f64)
    }
}

#[derive(Debug, FromQueryResult)]
struct FiguresRow {
    customers: i64,
    ltv: Option<i64>,
    orders: Option<i64>,
    points: Option<i64>,
    promoters: Option<i64>,
    detractors: Option<i64>,
    respondents: Option<i64>,
}

/// The figures over the customers `matching` selects, in one statement.
pub async fn figures(db: &impl ConnectionTrait, matching: &Matching) -> AppResult<SegmentFigures> {
    figures_over(db, customers_joined().filter(matching.condition())).await
}

/// The figures over the kept members of tracked segment `segment_id`, in
/// one statement.
pub async fn kept_figures(db: &impl ConnectionTrait, segment_id: i64) -> AppResult<SegmentFigures> {
    figures_over(db, kept_joined(segment_id)).await
}

/// The figures over the customers `members` (a select over
/// `customers_joined`) reads.
async fn figures_over(
    db: &impl ConnectionTrait,
    members: Select<customer::Entity>,
) -> AppResult<SegmentFigures> {
    let score = || Sql::col((cm::Entity, cm::Column::LastNpsScore));
    let count_when = |e: Sql| Func::sum(Sql::case(e, 1i64).finally(0i64));
    let sum = |c: Sql| Func::sum(Func::coalesce([c, Sql::val(0i64)]));
    // SUM over an empty set is NULL, and PostgreSQL widens SUM(bigint) to
    // numeric: casting back to BIGINT keeps one row type on both stores.
    let big = |f: FunctionCall| Sql::from(f).cast_as("BIGINT");
    let row = members
        .select_only()
        .expr_as(
            Sql::col((customer::Entity, customer::Column::Id)).count(),
            "customers",
        )
        .expr_as(
            big(sum(Sql::col((cm::Entity, cm::Column::NetSpend)))),
            "ltv",
        )
        .expr_as(
            big(sum(Sql::col((cm::Entity, cm::Column::OrdersCount)))),
            "orders",
        )
        .expr_as(
            big(sum(Sql::col((la::Entity, la::Column::PointsAvailable)))),
            "points",
        )
        .expr_as(big(count_when(score().gte(PROMOTER_MIN))), "promoters")
        .expr_as(big(count_when(score().lte(DETRACTOR_MAX))), "detractors")
        .expr_as(big(count_when(score().is_not_null())), "respondents")
        .into_model::<FiguresRow>()
        .one(db)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("aggregate returned no row")))?;
    Ok(SegmentFigures {
        customers: row.customers,
        lifetime_value: row.ltv.unwrap_or(0),
        orders: row.orders.unwrap_or(0),
        points: row.points.unwrap_or(0),
        promoters: row.promoters.unwrap_or(0),
        detractors: row.detractors.unwrap_or(0),
        respondents: row.respondents.unwrap_or(0),
    })
}

/// `a ÷ b` rounded half away from zero; 0 when `b` is 0.
fn div_round(a: i64, b: i64) -> i64 {
    if b == 0 {
        return 0;
    }
    let (q, r) = (a / b, a % b);
    if 2 * r.abs() >= b.abs() {
        q + a.signum() * b.signum()
    } else {
        q
    }
}

/// One page of saved segments, by ascending id.
pub async fn saved(
    db: &impl ConnectionTrait,
    page: &ById,
) -> AppResult<KeysetPage<segment::Model>> {
    let mut query = segment::Entity::find();
    if let Some(c) = &page.after {
        query = query.filter(segment::Column::Id.gt(c.id));
    }
    let rows = query
        .order_by_asc(segment::Column::Id)
        .limit(page.size + 1)
        .all(db)
        .await?;
    Ok(page.cut(rows, |s| s.id))
}

/// A saved segment by id.
pub async fn saved_by_id(db: &impl ConnectionTrait, id: i64) -> AppResult<Option<segment::Model>> {
    Ok(segment::Entity::find_by_id(id).one(db).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_round_half_away_from_zero() {
        assert_eq!(div_round(5, 2), 3);
        assert_eq!(div_round(-5, 2), -3);
        assert_eq!(div_round(4, 3), 1);
        assert_eq!(div_round(7, 0), 0);
    }
}
