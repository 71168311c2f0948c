//! Per-customer figures from `customer_metrics`, kept in step with every write.

use async_graphql::{ComplexObject, Context, Enum, ErrorExtensions, SimpleObject};
use c360_entity::{customer_metrics, customer_rfm};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;

use super::context::loaders;
use super::money::Money;
use super::nps::NpsCategory;

/// A customer's figures. Money is in the store's base currency; orders are
/// counted unless cancelled.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct CustomerStats {
    /// Orders not cancelled.
    pub orders_count: i64,
    /// Net spend: order totals minus refunds (the lifetime value).
    pub lifetime_value: Money,
    /// Order totals before refunds.
    pub gross_spend: Money,
    pub refunded: Money,
    pub first_order_at: Option<DateTime<Utc>>,
    pub last_order_at: Option<DateTime<Utc>>,
    /// Tickets not yet solved or closed.
    pub open_tickets: i64,
    pub tickets_count: i64,
    pub reviews_count: i64,
    /// The most recent NPS answer, 0-10.
    pub last_nps_score: Option<i32>,
    #[graphql(skip)]
    pub model: customer_metrics::Model,
    #[graphql(skip)]
    pub currency: String,
    #[graphql(skip)]
    pub profile: Option<Profile>,
}

/// RFM scores of a customer who has ordered: each is the customer's quintile,
/// 1-5 (5 best), among all customers with at least one order not cancelled
/// (in the base currency), computed with NTILE(5) with ties split by customer
/// id (lower id, lower score). Recomputed on a schedule, not on every write.
#[derive(SimpleObject)]
pub struct Rfm {
    /// 5 for the fifth whose latest order is most recent (fewest days since the last order).
    pub recency: i32,
    /// 5 for the fifth with the most orders.
    pub frequency: i32,
    /// 5 for the fifth with the highest net spend (order totals less refunds).
    pub monetary: i32,
    pub group: RfmGroup,
    /// When the scores were computed.
    pub refreshed_at: DateTime<Utc>,
}

/// A customer's RFM group: the first rule that holds, with R, F, M the scores.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "crate::domain::rfm::Group")]
pub enum RfmGroup {
    /// R ≥ 4, F ≥ 4 and M ≥ 4.
    Champions,
    /// R ≥ 3 and F ≥ 4 (and not a champion).
    Loyal,
    /// R ≥ 4 and F = 1.
    New,
    /// R ≥ 4 and F 2-3.
    Promising,
    /// R = 3 and F ≤ 3.
    NeedsAttention,
    /// R ≤ 2 and F ≥ 3.
    AtRisk,
    /// R = 2 and F ≤ 2.
    AlmostLost,
    /// R = 1 and F ≤ 2.
    Dormant,
}

impl Rfm {
    fn of(model: customer_rfm::Model) -> Result<Rfm, crate::error::AppError> {
        let group = crate::domain::rfm::Group::parse(&model.rfm_group).ok_or_else(|| {
            crate::error::AppError::Internal(anyhow::anyhow!(
                "customer_rfm holds an unknown group {:?}",
                model.rfm_group
            ))
        })?;
        Ok(Rfm {
            recency: model.recency_score.into(),
            frequency: model.frequency_score.into(),
            monetary: model.monetary_score.into(),
            group: group.into(),
            refreshed_at: model.refreshed_at,
        })
    }
}

/// What the calendar figures need besides the metrics: the customer's dates
/// and today, in the store's time zone.
#[derive(Debug, Clone, Copy)]
pub struct Profile {
    pub added_at: DateTime<Utc>,
    pub birthday: Option<NaiveDate>,
    pub today: NaiveDate,
    pub tz: Tz,
}

/// Years a customer is expected to keep buying, for the predicted lifetime value.
pub const EXPECTED_LIFESPAN_YEARS: i64 = 3;

/// Predicted lifetime value in minor units: average order value × purchase
/// frequency × expected lifespan, where frequency is orders per year since the
/// first order (observed over at least a year, so a new customer's single
/// order is not extrapolated from a few days). That is
/// `net_spend × lifespan × 365 ÷ max(days since first order, 365)`, rounded down.
pub fn predicted_lifetime_value(net_spend: i64, days_since_first_order: i64) -> i64 {
    let observed = i128::from(days_since_first_order.max(365));
    let value = i128::from(net_spend) * i128::from(EXPECTED_LIFESPAN_YEARS) * 365 / observed;
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The first day on or after `today`, and after `of` itself, on which the
/// yearly return of `of` falls; 29 February falls on the 28th in other years.
pub fn next_anniversary(of: NaiveDate, today: NaiveDate) -> Option<NaiveDate> {
    let from = today.max(of.succ_opt()?);
    (from.year()..=from.year() + 1).find_map(|year| {
        let day = NaiveDate::from_ymd_opt(year, of.month(), of.day())
            .or_else(|| NaiveDate::from_ymd_opt(year, 2, 28))?;
        (day >= from).then_some(day)
    })
}

impl CustomerStats {
    pub fn new(model: customer_metrics::Model, currency: &str) -> Self {
        CustomerStats {
            orders_count: model.orders_count,
            lifetime_value: Money::from_minor(model.net_spend, currency),
            gross_spend: Money::from_minor(model.gross_spend, currency),
            refunded: Money::from_minor(model.refunded_total, currency),
            first_order_at: model.first_order_at,
            last_order_at: model.last_order_at,
            open_tickets: model.open_tickets,
            tickets_count: model.tickets_count,
            reviews_count: model.reviews_count,
            last_nps_score: model.last_nps_score,
            currency: currency.to_owned(),
            model,
            profile: None,
        }
    }

    /// Adds the customer's dates, for the calendar figures.
    pub fn with_profile(mut self, profile: Profile) -> Self {
        self.profile = Some(profile);
        self
    }

    fn days_since(&self, at: DateTime<Utc>) -> Option<i64> {
        let p = self.profile?;
        Some((p.today - at.with_timezone(&p.tz).date_naive()).num_days())
    }
}

#[ComplexObject]
impl CustomerStats {
    /// Lifetime value ÷ orders count, rounded down to the minor unit; null without orders.
    async fn average_order_value(&self) -> Option<Money> {
        (self.model.orders_count > 0).then(|| {
            Money::from_minor(
                self.model.net_spend / self.model.orders_count,
                &self.currency,
            )
        })
    }
    /// Category of the most recent NPS answer.
    async fn last_nps_category(&self) -> Option<NpsCategory> {
        self.model
            .last_nps_score
            .map(|s| crate::domain::nps::Category::of(s).into())
    }
    /// Mean CSAT rating (1-5) over rated tickets.
    async fn csat_average(&self) -> Option<f64> {
        (self.model.csat_count > 0)
            .then(|| self.model.csat_sum as f64 / self.model.csat_count as f64)
    }
    /// Calendar days (store time zone) from the latest order to today; null without orders.
    async fn days_since_last_order(&self) -> Option<i64> {
        self.days_since(self.model.last_order_at?)
    }
    /// Calendar days (store time zone) since the customer was added.
    async fn tenure_days(&self) -> Option<i64> {
        self.days_since(self.profile?.added_at)
    }
    /// Predicted lifetime value: average order value × purchase frequency (orders
    /// per year since the first order, observed over at least 365 days) × an
    /// expected lifespan of 3 years; equivalently lifetime value × 3 × 365 ÷
    /// max(days since first order, 365), rounded down to the minor unit. Null without orders.
    async fn predicted_lifetime_value(&self) -> Option<Money> {
        let days = self.days_since(self.model.first_order_at?)?;
        Some(Money::from_minor(
            predicted_lifetime_value(self.model.net_spend, days),
            &self.currency,
        ))
    }
    /// Next birthday on or after today (store time zone), ISO 8601; 29 February
    /// falls on the 28th in other years. Null without a birthday.
    async fn next_birthday(&self) -> Option<NaiveDate> {
        let p = self.profile?;
        next_anniversary(p.birthday?, p.today)
    }
    /// Next yearly return of the day the customer was added, on or after today.
    async fn next_signup_anniversary(&self) -> Option<NaiveDate> {
        let p = self.profile?;
        next_anniversary(p.added_at.with_timezone(&p.tz).date_naive(), p.today)
    }
    /// RFM scores and group as of the last refresh; null for a customer
    /// without orders, or one whose first order came after it.
    async fn rfm(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Rfm>> {
        let row = loaders(ctx)?
            .rfm
            .load_one(self.model.customer_id)
            .await
            .map_err(|e| e.extend())?;
        Ok(row.map(Rfm::of).transpose()?)
    }
    /// Mean minutes to the first agent reply, over replied tickets.
    async fn average_first_reply_minutes(&self) -> Option<f64> {
        (self.model.first_reply_count > 0).then(|| {
            self.model.first_reply_minutes_sum as f64 / self.model.first_reply_count as f64
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("date")
    }

    #[test]
    fn anniversaries_roll_to_the_next_year_and_keep_leap_days() {
        assert_eq!(
            next_anniversary(d(1990, 4, 21), d(2026, 4, 21)),
            Some(d(2026, 4, 21))
        );
        assert_eq!(
            next_anniversary(d(1990, 4, 21), d(2026, 4, 22)),
            Some(d(2027, 4, 21))
        );
        assert_eq!(
            next_anniversary(d(1992, 2, 29), d(2026, 1, 10)),
            Some(d(2026, 2, 28))
        );
        assert_eq!(
            next_anniversary(d(1992, 2, 29), d(2027, 3, 1)),
            Some(d(2028, 2, 29))
        );
        // Added today: the first anniversary is a year away.
        assert_eq!(
            next_anniversary(d(2026, 5, 1), d(2026, 5, 1)),
            Some(d(2027, 5, 1))
        );
    }

    #[test]
    fn predicted_value_extrapolates_over_at_least_a_year() {
        assert_eq!(predicted_lifetime_value(14_000, 500), 30_660);
        assert_eq!(predicted_lifetime_value(10_000, 10), 30_000);
        assert_eq!(predicted_lifetime_value(0, 900), 0);
    }
}
