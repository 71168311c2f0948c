//! Rows of orders and their lines.

use c360_entity::enums::{OrderChannel, OrderStatus};
use c360_entity::{order, order_line};
use sea_orm::sea_query::Value;

use super::{BulkRow, ts};

#[derive(Debug, Clone)]
pub struct OrderRow {
    pub id: i64,
    pub customer_id: i64,
    pub order_number: String,
    pub external_ref: Option<String>,
    pub status: OrderStatus,
    pub channel: OrderChannel,
    pub currency: String,
    pub subtotal: i64,
    pub discount: i64,
    pub tax: i64,
    pub total: i64,
    pub refunded: i64,
    pub placed_at: i64,
    pub updated_at: i64,
}

impl BulkRow for OrderRow {
    type Entity = order::Entity;
    fn columns() -> Vec<order::Column> {
        use order::Column as C;
        vec![
            C::Id,
            C::CustomerId,
            C::OrderNumber,
            C::ExternalRef,
            C::Status,
            C::Channel,
            C::Currency,
            C::Subtotal,
            C::Discount,
            C::Tax,
            C::Total,
            C::Refunded,
            C::PlacedAt,
            C::CreatedAt,
            C::UpdatedAt,
        ]
    }
    fn into_values(self) -> Vec<Value> {
        vec![
            self.id.into(),
            self.customer_id.into(),
            self.order_number.into(),
            self.external_ref.into(),
            self.status.into(),
            self.channel.into(),
            self.currency.into(),
            self.subtotal.into(),
            self.discount.into(),
            self.tax.into(),
            self.total.into(),
            self.refunded.into(),
            ts(self.placed_at),
            // Seeded orders are recorded when placed.
            ts(self.placed_at),
            ts(self.updated_at),
        ]
    }
}

#[derive(Debug, Clone)]
pub struct OrderLineRow {
    pub id: i64,
    pub order_id: i64,
    pub customer_id: i64,
    pub sku: &'static str,
    pub product_name: &'static str,
    pub quantity: i32,
    pub unit_price: i64,
    pub category: &'static str,
}

impl BulkRow for OrderLineRow {
    type Entity = order_line::Entity;
    fn columns() -> Vec<order_line::Column> {
        use order_line::Column as C;
        vec![
            C::Id,
            C::OrderId,
            C::CustomerId,
            C::Sku,
            C::ProductName,
            C::Quantity,
            C::UnitPrice,
            C::Category,
        ]
    }
    fn into_values(self) -> Vec<Value> {
        vec![
            self.id.into(),
            self.order_id.into(),
            self.customer_id.into(),
            self.sku.into(),
            self.product_name.into(),
            self.quantity.into(),
            self.unit_price.into(),
            self.category.into(),
        ]
    }
}
