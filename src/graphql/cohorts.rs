//! `cohorts(from, to, granularity, timezone, segment, periods)`: cohort
//! retention over all customers or a segment's population. The figures are
//! defined and computed in `service::cohorts`; this module checks access
//! and input and shapes the answer.

use async_graphql::{Context, Enum, Object};
use chrono::{DateTime, Utc};

use super::context::{authorize, reader, sees_pii, state};
use super::insights::as_segment_field;
use super::money::Money;
use super::segment::segment_env;
use crate::auth::Domain;
use crate::domain::periods::Granularity;
use crate::read::customer_filter::Matching;
use crate::service::cohorts::{self as service, Request};

#[derive(Default)]
pub struct CohortsQuery;

/// The length of a cohort's period.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CohortGranularity {
    /// ISO weeks, Monday to Sunday.
    Week,
    /// Calendar months.
    Month,
    /// Calendar quarters, from January, April, July and October.
    Quarter,
}

impl From<CohortGranularity> for Granularity {
    fn from(g: CohortGranularity) -> Granularity {
        match g {
            CohortGranularity::Week => Granularity::Week,
            CohortGranularity::Month => Granularity::Month,
            CohortGranularity::Quarter => Granularity::Quarter,
        }
    }
}

#[Object]
impl CohortsQuery {
    /// Cohort retention (STAFF or `segments:read`, as `insights`): customers
    /// grouped by the period, in `timezone`, of their first counted order
    /// (not cancelled, in the base currency), for first orders in
    /// `[from, to)`; for each cohort and each offset `0..periods` (offset 0
    /// is the cohort's own period, and counts the first order), the members
    /// who ordered, their orders and net revenue. Offsets whose period starts
    /// after now are null, not zero. When `from` or `to` is not the start of
    /// a period, the first or last cohort holds only the first orders inside
    /// `[from, to)`. One aggregate statement, whatever the number of
    /// customers. BAD_USER_INPUT naming the argument: `to` not after `from`,
    /// `periods` outside 1-60, more than 260 cohorts (`to`), an unknown
    /// time zone, a bad segment.
    #[allow(clippy::too_many_arguments)]
    async fn cohorts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "First orders from this instant (inclusive), RFC 3339.")] from: DateTime<
            Utc,
        >,
        #[graphql(desc = "First orders before this instant (exclusive), RFC 3339; after `from`.")]
        to: DateTime<Utc>,
        #[graphql(desc = "The length of a period: a cohort's and each offset's.")]
        granularity: CohortGranularity,
        #[graphql(
            desc = "IANA time zone periods start at local midnight in, and the segment's dates are calendar days in; default the store's."
        )]
        timezone: Option<String>,
        #[graphql(
            desc = "A segment query restricting the population, e.g. `loyalty_tier = 'GOLD'`; default every customer."
        )]
        segment: Option<String>,
        #[graphql(
            desc = "Offsets per cohort, 1 to 60: offset 0 is the cohort's own period, offset k the k-th period after it.",
            default = 12
        )]
        periods: i32,
    ) -> async_graphql::Result<CohortRetention> {
        let principal = authorize(ctx, Domain::Segments)?;
        let env = segment_env(ctx, timezone.as_deref())?;
        let population = match segment.as_deref() {
            None => None,
            Some(text) => Some(
                Matching::segment(text, sees_pii(principal), &env)
                    .map_err(as_segment_field)?
                    .ids(),
            ),
        };
        let request = Request {
            from,
            to,
            granularity: granularity.into(),
            tz: env.tz,
            periods: periods.into(),
        };
        let st = state(ctx)?;
        let matrix = service::cohorts(
            reader(ctx)?,
            &st.config.base_currency,
            &request,
            population,
            st.clock.now(),
        )
        .await?;
        Ok(CohortRetention {
            granularity,
            timezone: env.tz.name().to_owned(),
            cohorts: matrix
                .cohorts
                .into_iter()
                .map(|cohort| Cohort {
                    cohort,
                    currency: st.config.base_currency.clone(),
                })
                .collect(),
        })
    }
}

/// The cohorts of `[from, to)`, oldest first.
pub struct CohortRetention {
    granularity: CohortGranularity,
    timezone: String,
    cohorts: Vec<Cohort>,
}

#[Object]
impl CohortRetention {
    async fn granularity(&self) -> CohortGranularity {
        self.granularity
    }
    /// The time zone periods were cut in.
    async fn timezone(&self) -> &str {
        &self.timezone
    }
    /// One per period that starts before `to`, from the one holding `from`;
    /// empty periods included.
    async fn cohorts(&self) -> &[Cohort] {
        &self.cohorts
    }
}

/// Customers whose first counted order falls in one period.
pub struct Cohort {
    cohort: service::Cohort,
    currency: String,
}

#[Object]
impl Cohort {
    /// The period's name: `2026-W10` (ISO week), `2026-03` or `2026-Q1`.
    async fn label(&self) -> &str {
        &self.cohort.label
    }
    /// When the period starts (local midnight, as a UTC instant).
    async fn start(&self) -> DateTime<Utc> {
        self.cohort.start
    }
    /// When the next period starts.
    async fn end(&self) -> DateTime<Utc> {
        self.cohort.end
    }
    /// Members: customers whose first counted order is in this period (and in `[from, to)`).
    async fn customers(&self) -> i64 {
        self.cohort.customers
    }
    /// Offsets `0..periods`, in order; null where the period starts after now.
    async fn periods(&self) -> Vec<Option<CohortPeriod<'_>>> {
        self.cohort
            .periods
            .iter()
            .map(|p| {
                p.as_ref().map(|period| CohortPeriod {
                    period,
                    currency: &self.currency,
                })
            })
            .collect()
    }
}

/// A cohort's figures in one period.
pub struct CohortPeriod<'a> {
    period: &'a service::CohortPeriod,
    currency: &'a str,
}

#[Object]
impl CohortPeriod<'_> {
    /// 0 for the cohort's own period, k for the k-th period after it.
    async fn offset(&self) -> u32 {
        self.period.offset
    }
    /// When the period starts (local midnight, as a UTC instant).
    async fn start(&self) -> DateTime<Utc> {
        self.period.start
    }
    /// When the next period starts.
    async fn end(&self) -> DateTime<Utc> {
        self.period.end
    }
    /// False while the period is in progress: its figures are those so far.
    async fn complete(&self) -> bool {
        self.period.complete
    }
    /// Members with a counted order placed in the period; at offset 0, every member.
    async fn active_customers(&self) -> i64 {
        self.period.active_customers
    }
    /// Members' counted orders placed in the period (at offset 0 the first orders included).
    async fn orders(&self) -> i64 {
        self.period.orders
    }
    /// Order totals less refunds over those orders.
    async fn revenue(&self) -> Money {
        Money::from_minor(self.period.revenue, self.currency)
    }
    /// `activeCustomers ÷ customers` (0-1); null for an empty cohort.
    async fn retention_rate(&self) -> Option<f64> {
        self.period.retention_rate
    }
    /// Revenue of offsets 0 to this one.
    async fn cumulative_revenue(&self) -> Money {
        Money::from_minor(self.period.cumulative_revenue, self.currency)
    }
    /// `cumulativeRevenue ÷ customers`, rounded half away from zero to the
    /// minor unit; null for an empty cohort.
    async fn cumulative_revenue_per_customer(&self) -> Option<Money> {
        self.period
            .cumulative_revenue_per_customer
            .map(|v| Money::from_minor(v, self.currency))
    }
}
