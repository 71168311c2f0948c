//! Orders and their lines.

use async_graphql::{Context, ID, Object, SimpleObject};
use c360_entity::{order, order_line};
use chrono::{DateTime, Utc};

use super::connection::{Conn, Total, child_page};
use super::context::loaders;
use super::enums::{OrderChannel, OrderStatus};
use super::ids::{Kind, encode};
use super::limits::page_cost;
use super::money::Money;

pub struct Order(pub order::Model);

#[Object]
impl Order {
    pub async fn id(&self) -> ID {
        encode(Kind::Order, self.0.id)
    }
    async fn customer_id(&self) -> ID {
        encode(Kind::Customer, self.0.customer_id)
    }
    /// Human-facing order number.
    async fn order_number(&self) -> &str {
        &self.0.order_number
    }
    /// The sender's id for this order (idempotent ingest key).
    async fn external_ref(&self) -> Option<&str> {
        self.0.external_ref.as_deref()
    }
    async fn status(&self) -> OrderStatus {
        self.0.status.into()
    }
    async fn channel(&self) -> OrderChannel {
        self.0.channel.into()
    }
    async fn currency_code(&self) -> &str {
        &self.0.currency
    }
    async fn subtotal(&self) -> Money {
        Money::from_minor(self.0.subtotal, &self.0.currency)
    }
    async fn discount(&self) -> Money {
        Money::from_minor(self.0.discount, &self.0.currency)
    }
    async fn tax(&self) -> Money {
        Money::from_minor(self.0.tax, &self.0.currency)
    }
    /// subtotal - discount + tax.
    async fn total(&self) -> Money {
        Money::from_minor(self.0.total, &self.0.currency)
    }
    async fn refunded(&self) -> Money {
        Money::from_minor(self.0.refunded, &self.0.currency)
    }
    /// total - refunded.
    async fn net(&self) -> Money {
        Money::from_minor(self.0.total - self.0.refunded, &self.0.currency)
    }
    async fn placed_at(&self) -> DateTime<Utc> {
        self.0.placed_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// The order's lines, in the order they were entered.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn lines(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<OrderLine>> {
        let currency = self.0.currency.clone();
        child_page(
            &loaders(ctx)?.order_lines,
            self.0.id,
            first,
            after,
            Total::OrderLines(self.0.id),
            move |line| OrderLine::new(line, &currency),
        )
        .await
    }
}

/// One product line of an order.
#[derive(SimpleObject)]
pub struct OrderLine {
    pub sku: String,
    pub product_name: String,
    pub quantity: i32,
    pub unit_price: Money,
    /// quantity × unit price.
    pub total: Money,
}

impl OrderLine {
    fn new(line: order_line::Model, currency: &str) -> Self {
        OrderLine {
            total: Money::from_minor(line.unit_price * i64::from(line.quantity), currency),
            unit_price: Money::from_minor(line.unit_price, currency),
            sku: line.sku,
            product_name: line.product_name,
            quantity: line.quantity,
        }
    }
}
