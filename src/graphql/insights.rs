//! `insights(from, to, timezone, segment)`: period metrics over all customers
//! or a segment's population. The figures are defined and computed in
//! `service::insights`; this module checks input and shapes the answer.

use async_graphql::{Context, Object};
use chrono::{DateTime, Utc};

use super::context::{authorize, reader, sees_pii, state};
use super::money::Money;
use super::segment::segment_env;
use crate::auth::Domain;
use crate::error::AppError;
use crate::read::customer_filter::Matching;
use crate::service::insights::{self as service, FollowUpFigures, Period, PeriodInsights};

#[derive(Default)]
pub struct InsightsQuery;

#[Object]
impl InsightsQuery {
    /// Figures over the half-open period `[from, to)` (STAFF or `segments:read`).
    /// Money is in the base currency; *counted orders* are those not cancelled
    /// and in the base currency. Six aggregate statements (two more with
    /// `lifetimeValueModel`), whatever the number of customers; a bad
    /// `from`/`to`, time zone or segment is
    /// BAD_USER_INPUT naming the argument.
    async fn insights(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Start of the period (inclusive), RFC 3339.")] from: DateTime<Utc>,
        #[graphql(desc = "End of the period (exclusive), RFC 3339; after `from`.")] to: DateTime<
            Utc,
        >,
        #[graphql(
            desc = "IANA time zone the segment's dates are calendar days in; default the store's."
        )]
        timezone: Option<String>,
        #[graphql(
            desc = "A segment query restricting the population, e.g. `loyalty_tier = 'GOLD'`; default every customer."
        )]
        segment: Option<String>,
    ) -> async_graphql::Result<Insights> {
        let principal = authorize(ctx, Domain::Segments)?;
        let period = Period::new(from, to)?;
        let env = segment_env(ctx, timezone.as_deref())?;
        let population = match segment.as_deref() {
            None => None,
            Some(text) => Some(
                Matching::segment(text, sees_pii(principal), &env)
                    .map_err(as_segment_field)?
                    .ids(),
            ),
        };
        let st = state(ctx)?;
        let figures = service::period(
            reader(ctx)?,
            &st.config.base_currency,
            period,
            population.clone(),
        )
        .await?;
        Ok(Insights {
            figures,
            currency: st.config.base_currency.clone(),
            period,
            population,
        })
    }
}

/// Errors of the segment language name `query`, its argument elsewhere; here
/// the argument is `segment` (the message keeps line and column).
pub(super) fn as_segment_field(err: AppError) -> AppError {
    match err {
        AppError::Segment(e) => AppError::bad_input("segment", e.to_string()),
        AppError::BadUserInput { message, .. } => AppError::bad_input("segment", message),
        other => other,
    }
}

/// Period figures; rates are null when their denominator is zero.
pub struct Insights {
    figures: PeriodInsights,
    currency: String,
    period: Period,
    /// The segment's members, for the lifetime-value model's expectations.
    population: Option<sea_orm::sea_query::SelectStatement>,
}

#[Object]
impl Insights {
    /// Customers added before `to`.
    async fn customers(&self) -> i64 {
        self.figures.customers
    }
    /// Customers added in the period.
    async fn new_customers(&self) -> i64 {
        self.figures.new_customers
    }
    /// Customers with at least one counted order placed in the period.
    async fn active_customers(&self) -> i64 {
        self.figures.active_customers
    }
    /// Counted orders placed in the period.
    async fn orders(&self) -> i64 {
        self.figures.orders
    }
    /// Order totals less refunds, over counted orders placed in the period.
    async fn revenue(&self) -> Money {
        Money::from_minor(self.figures.revenue, &self.currency)
    }
    /// `revenue ÷ orders`, rounded half away from zero to the minor unit; null without orders.
    async fn average_order_value(&self) -> Option<Money> {
        self.figures
            .average_order_value()
            .map(|v| Money::from_minor(v, &self.currency))
    }
    /// Customers with 2+ counted orders in the period ÷ customers with 1+ (0-1).
    async fn repeat_purchase_rate(&self) -> Option<f64> {
        self.figures.repeat_purchase_rate()
    }
    /// Customers with a counted order before `from` (buyers at the start).
    async fn buyers_at_start(&self) -> i64 {
        self.figures.buyers_at_start
    }
    /// Buyers at the start who placed a counted order in the period.
    async fn retained_buyers(&self) -> i64 {
        self.figures.retained_buyers
    }
    /// (buyers at the end − new buyers) ÷ buyers at the start (0-1), where a
    /// buyer has at least one counted order, buyers at the end are those who
    /// ordered in the period and new buyers placed their first counted order
    /// in it: so `retainedBuyers ÷ buyersAtStart`. Null without buyers at the start.
    async fn retention_rate(&self) -> Option<f64> {
        self.figures.retention_rate()
    }
    /// `1 − retentionRate`.
    async fn churn_rate(&self) -> Option<f64> {
        self.figures.churn_rate()
    }
    /// % promoters (9-10) − % detractors (0-6) over NPS answers given in the
    /// period (every answer counts, several per customer included), -100 to 100.
    async fn nps(&self) -> Option<f64> {
        self.figures.nps()
    }
    /// NPS answers given in the period.
    async fn nps_answers(&self) -> i64 {
        self.figures.nps_answers
    }
    /// % of CSAT ratings that are 4 or 5, over tickets rated in the period (by rating time), 0-100.
    async fn csat(&self) -> Option<f64> {
        self.figures.csat()
    }
    /// Tickets rated in the period.
    async fn csat_ratings(&self) -> i64 {
        self.figures.csat_ratings
    }
    /// Median whole minutes (each rounded down) from creation to the first
    /// agent reply, over tickets created in the period that have one; the
    /// mean of the two middle values for an even count.
    async fn median_first_reply_minutes(&self) -> Option<f64> {
        self.figures.median_first_reply_minutes()
    }
    /// Loyalty points of ledger rows created in the period with positive
    /// points (earnings, referral bonuses, positive adjustments), not cancelled.
    async fn points_issued(&self) -> i64 {
        self.figures.points_issued
    }
    /// Loyalty points of REDEEM rows created in the period, not cancelled, as a positive number.
    async fn points_redeemed(&self) -> i64 {
        self.figures.points_redeemed
    }
    /// Post-purchase follow-ups of the period; one more statement, run
    /// only when selected.
    async fn follow_ups(&self, ctx: &Context<'_>) -> async_graphql::Result<FollowUpInsights> {
        let figures =
            service::follow_ups(reader(ctx)?, self.period, self.population.as_ref()).await?;
        Ok(FollowUpInsights(figures))
    }
    /// The lifetime-value models as last fitted over the whole base (BG/NBD
    /// and Gamma-Gamma parameters, customers used, convergence), with the
    /// orders and value they expect of this population (every customer, or
    /// the segment's members) from the fit onwards, not over `[from, to)`.
    /// Null before the first refresh.
    async fn lifetime_value_model(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<super::clv::LifetimeValueModel>> {
        super::clv::LifetimeValueModel::latest(ctx, self.population.clone(), &self.currency).await
    }
}

/// Post-purchase follow-ups of a period: rates are null when their
/// denominator is zero.
pub struct FollowUpInsights(FollowUpFigures);

#[Object]
impl FollowUpInsights {
    /// Follow-ups that fell due in the period (skipped ones not counted).
    async fn due(&self) -> i64 {
        self.0.due
    }
    /// Outcomes recorded in the period.
    async fn recorded(&self) -> i64 {
        self.0.recorded
    }
    /// Recorded in the period as SATISFIED or NOT_SATISFIED: the customer answered.
    async fn answered(&self) -> i64 {
        self.0.answered
    }
    /// `answered ÷ recorded` (0-1).
    async fn response_rate(&self) -> Option<f64> {
        self.0.response_rate()
    }
    /// % of answered follow-ups scored 4 or 5 (0-100), by recording time, as `csat` is for tickets.
    async fn csat(&self) -> Option<f64> {
        self.0.csat()
    }
    /// Mean score (1-5) of the answered follow-ups.
    async fn average_score(&self) -> Option<f64> {
        self.0.average_score()
    }
}
