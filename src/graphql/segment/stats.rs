//! `Segment.statistics`: figures over a segment's members, in the base
//! currency (read by `read::segments::figures`).

use async_graphql::SimpleObject;

use crate::graphql::money::Money;
use crate::read::segments::SegmentFigures;

/// Figures over a segment's members. Money is in the base currency.
#[derive(SimpleObject, Debug)]
pub struct SegmentStatistics {
    /// Members.
    pub customers: i64,
    /// Sum of lifetime values (net spend: orders not cancelled, less refunds).
    pub total_lifetime_value: Money,
    /// `totalLifetimeValue ÷ customers`, rounded half away from zero to the minor unit; zero without members.
    pub average_lifetime_value: Money,
    /// Orders not cancelled, summed over members.
    pub orders: i64,
    /// Available loyalty points, summed over members.
    pub points: i64,
    /// Members whose latest NPS answer is 9-10 / 0-6, and members who ever answered.
    pub promoters: i64,
    pub detractors: i64,
    pub nps_respondents: i64,
    /// `% promoters − % detractors` over respondents' latest answers, -100 to 100; null without respondents.
    pub nps: Option<f64>,
}

impl SegmentStatistics {
    pub fn new(figures: SegmentFigures, currency: &str) -> SegmentStatistics {
        SegmentStatistics {
            customers: figures.customers,
            total_lifetime_value: Money::from_minor(figures.lifetime_value, currency),
            average_lifetime_value: Money::from_minor(figures.average_lifetime_value(), currency),
            orders: figures.orders,
            points: figures.points,
            promoters: figures.promoters,
            detractors: figures.detractors,
            nps_respondents: figures.respondents,
            nps: figures.nps(),
        }
    }
}
