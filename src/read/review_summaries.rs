//! Product review summaries, the social proof a product page shows: how
//! many published reviews a sku has, their average and distribution, the
//! share from verified purchases, and the latest few with the reviewer's
//! name cut to a first name and an initial.
//!
//! Only PUBLISHED reviews count: a pending or rejected review is nobody's
//! proof. Any number of skus costs one statement for the figures (grouped
//! by sku and rating) and, when the latest reviews are asked for, one more
//! (each sku's newest cut in SQL by `ROW_NUMBER`); both walk
//! `idx_reviews_sku_status_created`.

use std::collections::HashMap;

use c360_entity::enums::ReviewStatus;
use c360_entity::{customer, review};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{
    Alias, Expr, ExprTrait, Func, Order, Query, SelectStatement, WindowStatement,
};
use sea_orm::{ActiveEnum, ConnectionTrait};

use crate::auth::mask_name;
use crate::error::AppResult;

/// Skus one request may summarise.
pub const MAX_SKUS: usize = 100;
/// Latest reviews one summary may carry.
pub const MAX_LATEST: u64 = 10;

/// One sku's published reviews in figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub sku: String,
    /// Published reviews with 1, 2, 3, 4 and 5 stars.
    pub distribution: [i64; 5],
    /// Published reviews from a verified purchase.
    pub verified: i64,
    /// The newest first.
    pub latest: Vec<Published>,
}

impl Summary {
    fn empty(sku: &str) -> Summary {
        Summary {
            sku: sku.to_owned(),
            distribution: [0; 5],
            verified: 0,
            latest: Vec::new(),
        }
    }

    pub fn count(&self) -> i64 {
        self.distribution.iter().sum()
    }

    /// The mean rating; `None` without reviews.
    pub fn average(&self) -> Option<f64> {
        let count = self.count();
        let stars: i64 = (1..=5).zip(self.distribution).map(|(s, n)| s * n).sum();
        (count > 0).then(|| stars as f64 / count as f64)
    }

    /// The share of reviews from verified purchases; `None` without reviews.
    pub fn verified_share(&self) -> Option<f64> {
        let count = self.count();
        (count > 0).then(|| self.verified as f64 / count as f64)
    }
}

/// A published review as a product page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    pub rating: i32,
    pub title: Option<String>,
    pub body: Option<String>,
    pub verified_purchase: bool,
    pub created_at: DateTime<Utc>,
    /// `Jane D.`; `None` when the customer has no first name (or was erased).
    pub reviewer: Option<String>,
}

/// The summaries of `skus`, in their order (a repeated sku once), each with
/// its `latest` newest reviews. An unknown sku has an empty summary.
pub async fn summaries(
    db: &impl ConnectionTrait,
    skus: &[String],
    latest: u64,
) -> AppResult<Vec<Summary>> {
    let mut order: Vec<&str> = Vec::with_capacity(skus.len());
    for sku in skus {
        if !order.contains(&sku.as_str()) {
            order.push(sku);
        }
    }
    let mut by_sku: HashMap<&str, Summary> =
        order.iter().map(|s| (*s, Summary::empty(s))).collect();
    if order.is_empty() {
        return Ok(Vec::new());
    }
    for row in db.query_all(&figures(&order)).await? {
        let sku: String = row.try_get_by_index(0)?;
        let rating: i32 = row.try_get_by_index(1)?;
        let count: i64 = row.try_get_by_index(2)?;
        let verified: i64 = row.try_get_by_index(3)?;
        if let (Some(summary), Ok(i @ 0..=4)) =
            (by_sku.get_mut(sku.as_str()), usize::try_from(rating - 1))
        {
            summary.distribution[i] = count;
            summary.verified += verified;
        }
    }
    if latest > 0 {
        for row in db.query_all(&newest(&order, latest)).await? {
            let sku: String = row.try_get_by_index(0)?;
            let first: Option<String> = row.try_get_by_index(6)?;
            let last: Option<String> = row.try_get_by_index(7)?;
            let review = Published {
                rating: row.try_get_by_index(1)?,
                title: row.try_get_by_index(2)?,
                body: row.try_get_by_index(3)?,
                verified_purchase: row.try_get_by_index(4)?,
                created_at: row.try_get_by_index(5)?,
                reviewer: reviewer(first.as_deref(), last.as_deref()),
            };
            if let Some(summary) = by_sku.get_mut(sku.as_str()) {
                summary.latest.push(review);
            }
        }
    }
    Ok(order.iter().filter_map(|sku| by_sku.remove(sku)).collect())
}

/// `Jane D.`: a first name and the last name's initial, what review sites
/// show; `None` without a first name.
fn reviewer(first: Option<&str>, last: Option<&str>) -> Option<String> {
    let first = first.map(str::trim).filter(|f| !f.is_empty())?;
    match last.map(str::trim).map(mask_name).filter(|l| !l.is_empty()) {
        Some(initial) => Some(format!("{first} {initial}")),
        None => Some(first.to_owned()),
    }
}

fn published(skus: &[&str]) -> Expr {
    Expr::col((review::Entity, review::Column::Status))
        .eq(ReviewStatus::Published.to_value())
        .and(Expr::col((review::Entity, review::Column::ProductSku)).is_in(skus.iter().copied()))
}

/// `SELECT sku, rating, COUNT(*), verified count … GROUP BY sku, rating`.
fn figures(skus: &[&str]) -> SelectStatement {
    use review::Column as R;
    let verified = Expr::case(Expr::col(R::VerifiedPurchase).eq(true), 1i64).finally(0i64);
    Query::select()
        .column(R::ProductSku)
        .column(R::Rating)
        .expr(Func::cast_as(
            Expr::col(R::Id).count(),
            Alias::new("BIGINT"),
        ))
        .expr(Func::cast_as(Func::sum(verified), Alias::new("BIGINT")))
        .from(review::Entity)
        .cond_where(published(skus))
        .group_by_col(R::ProductSku)
        .group_by_col(R::Rating)
        .to_owned()
}

/// Each sku's `latest` newest published reviews with the reviewer's names,
/// newest first.
fn newest(skus: &[&str], latest: u64) -> SelectStatement {
    use review::Column as R;
    let ranked = Query::select()
        .columns([
            R::ProductSku,
            R::Rating,
            R::Title,
            R::Body,
            R::VerifiedPurchase,
            R::CreatedAt,
            R::CustomerId,
            R::Id,
        ])
        .expr_window_as(
            Expr::cust("ROW_NUMBER()"),
            WindowStatement::partition_by(R::ProductSku)
                .order_by(R::CreatedAt, Order::Desc)
                .order_by(R::Id, Order::Desc)
                .to_owned(),
            Alias::new("rn"),
        )
        .from(review::Entity)
        .cond_where(published(skus))
        .to_owned();
    let r = Alias::new("r");
    let col = |c: R| Expr::col((r.clone(), c));
    Query::select()
        .expr(col(R::ProductSku))
        .expr(col(R::Rating))
        .expr(col(R::Title))
        .expr(col(R::Body))
        .expr(col(R::VerifiedPurchase))
        .expr(col(R::CreatedAt))
        .expr(Expr::col((customer::Entity, customer::Column::FirstName)))
        .expr(Expr::col((customer::Entity, customer::Column::LastName)))
        .from_subquery(ranked, r.clone())
        .inner_join(
            customer::Entity,
            Expr::col((customer::Entity, customer::Column::Id)).equals((r.clone(), R::CustomerId)),
        )
        .and_where(Expr::col((r.clone(), Alias::new("rn"))).lte(latest as i64))
        .order_by((r.clone(), R::ProductSku), Order::Asc)
        .order_by((r.clone(), Alias::new("rn")), Order::Asc)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reviewers_show_a_first_name_and_an_initial() {
        assert_eq!(reviewer(Some("Jane"), Some("Doe")), Some("Jane D.".into()));
        assert_eq!(
            reviewer(Some(" Émile "), Some("Zola")),
            Some("Émile Z.".into())
        );
        assert_eq!(reviewer(Some("Jane"), None), Some("Jane".into()));
        assert_eq!(reviewer(Some("Jane"), Some("  ")), Some("Jane".into()));
        assert_eq!(reviewer(None, Some("Doe")), None);
        assert_eq!(reviewer(Some(""), Some("Doe")), None);
    }

    #[test]
    fn figures_come_from_the_distribution() {
        let mut s = Summary::empty("SKU");
        assert_eq!(
            (s.count(), s.average(), s.verified_share()),
            (0, None, None)
        );
        s.distribution = [1, 0, 0, 1, 2];
        s.verified = 3;
        assert_eq!(s.count(), 4);
        assert_eq!(s.average(), Some(3.75));
        assert_eq!(s.verified_share(), Some(0.75));
    }
}
