//! Per-customer figures from `customer_metrics`, kept in step with every write.

use async_graphql::{ComplexObject, SimpleObject};
use c360_entity::customer_metrics;
use chrono::{DateTime, Utc};

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
        }
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
        self.model.last_nps_score.map(NpsCategory::of)
    }
    /// Mean CSAT rating (1-5) over rated tickets.
    async fn csat_average(&self) -> Option<f64> {
        (self.model.csat_count > 0)
            .then(|| self.model.csat_sum as f64 / self.model.csat_count as f64)
    }
    /// Mean minutes to the first agent reply, over replied tickets.
    async fn average_first_reply_minutes(&self) -> Option<f64> {
        (self.model.first_reply_count > 0).then(|| {
            self.model.first_reply_minutes_sum as f64 / self.model.first_reply_count as f64
        })
    }
}
