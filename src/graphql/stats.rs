//! Per-customer figures from `customer_metrics`, kept in step with every write.

use async_graphql::{ComplexObject, Context, Enum, ErrorExtensions, SimpleObject};
use c360_entity::{customer_clv, customer_metrics, customer_rfm};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;

use super::context::loaders;
use super::money::Money;
use super::nps::NpsCategory;
use crate::read::columns::Columns;

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
    /// The customer's lifetime-value row, loaded once for all its fields.
    #[graphql(skip)]
    pub clv: tokio::sync::OnceCell<Option<customer_clv::Model>>,
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

impl Profile {
    /// Calendar days (store time zone) from `at` to today.
    pub fn days_since(&self, at: DateTime<Utc>) -> i64 {
        (self.today - at.with_timezone(&self.tz).date_naive()).num_days()
    }
    pub fn next_birthday(&self) -> Option<NaiveDate> {
        next_anniversary(self.birthday?, self.today)
    }
    pub fn next_signup_anniversary(&self) -> Option<NaiveDate> {
        next_anniversary(
            self.added_at.with_timezone(&self.tz).date_naive(),
            self.today,
        )
    }
}

/// Lifetime value ÷ orders count in minor units, rounded down; none without orders.
pub fn average_order_minor(m: &customer_metrics::Model) -> Option<i64> {
    (m.orders_count > 0).then(|| m.net_spend / m.orders_count)
}

/// The columns of `customer_metrics` the `CustomerStats` field `name`
/// reads, with the customer's id (`read::joined`); `None` for a field not
/// listed here, which reads every column. The lifetime-value figures and
/// RFM read rows of their own by customer; the calendar figures read the
/// customer's dates.
pub fn metrics_columns(name: &str) -> Option<Columns> {
    use customer_metrics::Column as C;
    let read: &[C] = match name {
        "ordersCount" | "clvStatus" => &[C::OrdersCount],
        "lifetimeValue" => &[C::NetSpend],
        "averageOrderValue" => &[C::NetSpend, C::OrdersCount],
        "grossSpend" => &[C::GrossSpend],
        "refunded" => &[C::RefundedTotal],
        "firstOrderAt" => &[C::FirstOrderAt],
        "lastOrderAt" | "daysSinceLastOrder" => &[C::LastOrderAt],
        "openTickets" => &[C::OpenTickets],
        "ticketsCount" => &[C::TicketsCount],
        "reviewsCount" => &[C::ReviewsCount],
        "lastNpsScore" | "lastNpsCategory" => &[C::LastNpsScore],
        "csatAverage" => &[C::CsatSum, C::CsatCount],
        "averageFirstReplyMinutes" => &[C::FirstReplyMinutesSum, C::FirstReplyCount],
        "tenureDays"
        | "nextBirthday"
        | "nextSignupAnniversary"
        | "predictedLifetimeValue"
        | "clvRefreshedAt"
        | "probabilityActive"
        | "churnRisk"
        | "expectedOrders90d"
        | "expectedOrders365d"
        | "expectedOrderValue"
        | "expectedNextOrderDate"
        | "rfm" => &[],
        _ => return None,
    };
    Some(Columns::of::<customer_metrics::Entity>(
        std::iter::once(C::CustomerId).chain(read.iter().copied()),
    ))
}

/// Mean CSAT rating over rated tickets.
pub fn csat_average(m: &customer_metrics::Model) -> Option<f64> {
    (m.csat_count > 0).then(|| m.csat_sum as f64 / m.csat_count as f64)
}

/// Mean minutes to the first agent reply, over replied tickets.
pub fn average_first_reply_minutes(m: &customer_metrics::Model) -> Option<f64> {
    (m.first_reply_count > 0).then(|| m.first_reply_minutes_sum as f64 / m.first_reply_count as f64)
}

/// Why a customer's lifetime-value figures are what they are; each says
/// which figures are null.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "crate::domain::clv::Status", name = "ClvStatus")]
pub enum ClvStatus {
    /// Every figure predicted.
    Predicted,
    /// No repeat order yet: activity, expected orders and the next order are
    /// predicted; the spend per order and the predicted value are null (the
    /// spend model needs a repeat order of the customer's own).
    NoRepeatOrder,
    /// The spend model could not be fitted (fewer than 50 customers with a
    /// repeat order, no convergence, or an infinite mean spend): activity
    /// and orders are predicted, the spend per order and value are null.
    SpendModelUnavailable,
    /// Fewer than 100 customers with a counted order at the last refresh:
    /// too few to fit, so every figure is null.
    BaseTooSmall,
    /// The purchase model's fit did not converge at the last refresh: every
    /// figure is null.
    NotConverged,
    /// No counted order, so not in the models' base: every figure is null.
    NoOrders,
    /// The first counted order came after the last refresh (or none has
    /// run): every figure is null until the next.
    NotRefreshed,
}

/// A band of the churn probability (1 − `probabilityActive`).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "crate::domain::clv::ChurnRisk")]
pub enum ChurnRisk {
    /// Churn probability below 0.25.
    Low,
    /// 0.25 to below 0.5.
    Medium,
    /// 0.5 to below 0.75.
    High,
    /// 0.75 or more.
    VeryHigh,
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
            clv: tokio::sync::OnceCell::new(),
        }
    }

    /// Adds the customer's dates, for the calendar figures.
    pub fn with_profile(mut self, profile: Profile) -> Self {
        self.profile = Some(profile);
        self
    }

    fn days_since(&self, at: DateTime<Utc>) -> Option<i64> {
        Some(self.profile?.days_since(at))
    }

    /// The customer's lifetime-value row as of the last refresh, if any.
    async fn clv_row(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<&customer_clv::Model>> {
        let row = self
            .clv
            .get_or_try_init(|| async {
                loaders(ctx)?
                    .clv
                    .load_one(self.model.customer_id)
                    .await
                    .map_err(|e| e.extend())
            })
            .await?;
        Ok(row.as_ref())
    }

    /// One figure of the row, null without it.
    async fn clv_figure<T>(
        &self,
        ctx: &Context<'_>,
        figure: impl FnOnce(&customer_clv::Model) -> Option<T>,
    ) -> async_graphql::Result<Option<T>> {
        Ok(self.clv_row(ctx).await?.and_then(figure))
    }
}

#[ComplexObject]
impl CustomerStats {
    /// Lifetime value ÷ orders count, rounded down to the minor unit; null without orders.
    async fn average_order_value(&self) -> Option<Money> {
        average_order_minor(&self.model).map(|minor| Money::from_minor(minor, &self.currency))
    }
    /// Category of the most recent NPS answer.
    async fn last_nps_category(&self) -> Option<NpsCategory> {
        self.model
            .last_nps_score
            .map(|s| crate::domain::nps::Category::of(s).into())
    }
    /// Mean CSAT rating (1-5) over rated tickets.
    async fn csat_average(&self) -> Option<f64> {
        csat_average(&self.model)
    }
    /// Calendar days (store time zone) from the latest order to today; null without orders.
    async fn days_since_last_order(&self) -> Option<i64> {
        self.days_since(self.model.last_order_at?)
    }
    /// Calendar days (store time zone) since the customer was added.
    async fn tenure_days(&self) -> Option<i64> {
        self.days_since(self.profile?.added_at)
    }
    /// Predicted customer lifetime value: the net spend expected over the
    /// next 365 days (as Klaviyo's "predicted CLV"), from the BG/NBD model of
    /// orders and dropout and the Gamma-Gamma model of spend per order, fitted
    /// over every customer: `expectedOrders365d × expectedOrderValue × (1 −
    /// the base's refunded share of spend)`, not discounted, rounded to the
    /// minor unit. As of the last refresh (`clvRefreshedAt`); null as
    /// `clvStatus` explains (no repeat order, too small a base, ...).
    async fn predicted_lifetime_value(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<Money>> {
        let currency = &self.currency;
        self.clv_figure(ctx, |r| {
            r.predicted_value.map(|v| Money::from_minor(v, currency))
        })
        .await
    }
    /// Why the lifetime-value figures below are what they are, and which are null.
    async fn clv_status(&self, ctx: &Context<'_>) -> async_graphql::Result<ClvStatus> {
        let status = match self.clv_row(ctx).await? {
            Some(row) => crate::domain::clv::Status::parse(&row.status).ok_or_else(|| {
                crate::error::AppError::Internal(anyhow::anyhow!(
                    "customer_clv holds an unknown status {:?}",
                    row.status
                ))
            })?,
            None => crate::service::clv::status_without_row(self.model.orders_count),
        };
        Ok(status.into())
    }
    /// When the lifetime-value figures were computed (the last refresh that
    /// included the customer).
    async fn clv_refreshed_at(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<DateTime<Utc>>> {
        self.clv_figure(ctx, |r| Some(r.refreshed_at)).await
    }
    /// Probability (0-1) that the customer is still an active buyer, by the
    /// BG/NBD model: 1 until a repeat order (the model lets customers stop
    /// only after one), then falling the longer the customer has not
    /// ordered, given how often they did.
    async fn probability_active(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<f64>> {
        self.clv_figure(ctx, |r| r.churn_probability.map(|c| 1.0 - c))
            .await
    }
    /// The band of the churn probability, 1 − `probabilityActive`: LOW below
    /// 0.25, MEDIUM below 0.5, HIGH below 0.75, VERY_HIGH from 0.75.
    async fn churn_risk(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<ChurnRisk>> {
        self.clv_figure(ctx, |r| {
            r.churn_risk
                .as_deref()
                .and_then(crate::domain::clv::ChurnRisk::parse)
                .map(ChurnRisk::from)
        })
        .await
    }
    /// Orders (not cancelled) expected in the next 90 days, weighted by the
    /// probability that the customer is still active.
    #[graphql(name = "expectedOrders90d")]
    async fn expected_orders_90d(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<f64>> {
        self.clv_figure(ctx, |r| r.expected_orders_90d).await
    }
    /// Orders expected in the next 365 days; at least `expectedOrders90d`.
    #[graphql(name = "expectedOrders365d")]
    async fn expected_orders_365d(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<f64>> {
        self.clv_figure(ctx, |r| r.expected_orders_365d).await
    }
    /// Expected total of the customer's next order, before refunds: the
    /// Gamma-Gamma model's weighing of the base's mean order and the
    /// customer's own repeat orders. Null without a repeat order.
    async fn expected_order_value(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<Money>> {
        let currency = &self.currency;
        self.clv_figure(ctx, |r| {
            r.expected_order_value
                .map(|v| Money::from_minor(v, currency))
        })
        .await
    }
    /// The day (store time zone) by which the customer, if still active, is
    /// expected to have ordered once more: the first day on which the
    /// expected orders of an active customer since the refresh reach 1.
    /// Null when that is more than 365 days after the refresh.
    async fn expected_next_order_date(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<NaiveDate>> {
        let tz = self.profile.map_or(chrono_tz::UTC, |p| p.tz);
        self.clv_figure(ctx, |r| {
            r.next_order_at.map(|t| t.with_timezone(&tz).date_naive())
        })
        .await
    }
    /// Next birthday on or after today (store time zone), ISO 8601; 29 February
    /// falls on the 28th in other years. Null without a birthday.
    async fn next_birthday(&self) -> Option<NaiveDate> {
        self.profile?.next_birthday()
    }
    /// Next yearly return of the day the customer was added, on or after today.
    async fn next_signup_anniversary(&self) -> Option<NaiveDate> {
        self.profile?.next_signup_anniversary()
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
        average_first_reply_minutes(&self.model)
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
}
