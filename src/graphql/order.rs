//! Orders and their lines.

use async_graphql::parser::types::Field;
use async_graphql::{
    Context, ContextSelectionSet, ID, InputObject, Object, Positioned, SimpleObject,
};
use c360_entity::{order, order_line};
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use super::connection::{Total, child_page};
use super::context::{begin_write, loaders};
use super::enums::{OrderChannel, OrderStatus};
use super::federation::Product;
use super::ids::{Kind, decode, encode};
use super::leaves::{Env, JsonText, Leaf, Leaves, Scalar, pages_below};
use super::limits::page_cost;
use super::money::Money;
use super::store_credit::RefundDestination;
use crate::auth::Domain;
use crate::read::columns::Columns;
use crate::service::orders;

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
    ) -> async_graphql::Result<Leaves<OrderLine>> {
        let currency = self.0.currency.clone();
        child_page(
            &loaders(ctx)?.order_lines,
            self.0.id,
            (first, after),
            // Read whole, as when read ahead below the orders.
            Columns::ALL,
            Total::OrderLines(self.0.id),
            move |line| OrderLine::new(line, &currency),
        )
        .await
        .map(Leaves)
    }
}

#[derive(Clone, Copy)]
pub enum OrderField {
    Id,
    CustomerId,
    OrderNumber,
    ExternalRef,
    Status,
    Channel,
    CurrencyCode,
    Subtotal,
    Discount,
    Tax,
    Total,
    Refunded,
    Net,
    PlacedAt,
    UpdatedAt,
}

impl Leaf for Order {
    type Field = OrderField;
    fn field(name: &str) -> Option<OrderField> {
        use OrderField as F;
        Some(match name {
            "id" => F::Id,
            "customerId" => F::CustomerId,
            "orderNumber" => F::OrderNumber,
            "externalRef" => F::ExternalRef,
            "status" => F::Status,
            "channel" => F::Channel,
            "currencyCode" => F::CurrencyCode,
            "subtotal" => F::Subtotal,
            "discount" => F::Discount,
            "tax" => F::Tax,
            "total" => F::Total,
            "refunded" => F::Refunded,
            "net" => F::Net,
            "placedAt" => F::PlacedAt,
            "updatedAt" => F::UpdatedAt,
            _ => return None,
        })
    }
    fn value<'a>(&'a self, _env: &'a Env<'_>, field: OrderField) -> Scalar<'a> {
        use OrderField as F;
        let o = &self.0;
        let money = |minor| Scalar::Minor(minor, &o.currency);
        match field {
            F::Id => Scalar::Id(Kind::Order, o.id),
            F::CustomerId => Scalar::Id(Kind::Customer, o.customer_id),
            F::OrderNumber => Scalar::Str(&o.order_number),
            F::ExternalRef => o.external_ref.as_deref().into(),
            F::Status => Scalar::name_of(OrderStatus::from(o.status)),
            F::Channel => Scalar::name_of(OrderChannel::from(o.channel)),
            F::CurrencyCode => Scalar::Str(&o.currency),
            F::Subtotal => money(o.subtotal),
            F::Discount => money(o.discount),
            F::Tax => money(o.tax),
            F::Total => money(o.total),
            F::Refunded => money(o.refunded),
            F::Net => money(o.total - o.refunded),
            F::PlacedAt => Scalar::Time(o.placed_at),
            F::UpdatedAt => Scalar::Time(o.updated_at),
        }
    }
    fn columns(fields: &[OrderField]) -> Columns {
        use OrderField as F;
        use order::Column as C;
        let each = |field: &OrderField| -> &'static [C] {
            match field {
                F::Id => &[C::Id],
                F::CustomerId => &[C::CustomerId],
                F::OrderNumber => &[C::OrderNumber],
                F::ExternalRef => &[C::ExternalRef],
                F::Status => &[C::Status],
                F::Channel => &[C::Channel],
                F::CurrencyCode => &[C::Currency],
                F::Subtotal => &[C::Subtotal, C::Currency],
                F::Discount => &[C::Discount, C::Currency],
                F::Tax => &[C::Tax, C::Currency],
                F::Total => &[C::Total, C::Currency],
                F::Refunded => &[C::Refunded, C::Currency],
                F::Net => &[C::Total, C::Refunded, C::Currency],
                F::PlacedAt => &[C::PlacedAt],
                F::UpdatedAt => &[C::UpdatedAt],
            }
        };
        Columns::of::<order::Entity>(fields.iter().flat_map(each).copied())
    }
    fn has_children(name: &str) -> bool {
        name == "lines"
    }
    fn children<'a>(
        ctx: &'a ContextSelectionSet<'a>,
        field: &'a Positioned<Field>,
        orders: Vec<&'a Order>,
    ) -> BoxFuture<'a, Option<Vec<JsonText>>> {
        Box::pin(async move {
            let loaders = ctx.data::<crate::read::loaders::Loaders>().ok()?;
            let ids: Vec<i64> = orders.iter().map(|o| o.0.id).collect();
            pages_below(
                ctx,
                field,
                &loaders.order_lines,
                &ids,
                Total::OrderLines,
                |i, line| OrderLine::new(line, &orders[i].0.currency),
            )
            .await
        })
    }
}

/// One product line of an order.
#[derive(SimpleObject)]
pub struct OrderLine {
    pub sku: String,
    /// The product sold. c360 knows only its sku; through the federation
    /// gateway, the product catalogue answers the rest.
    pub product: Product,
    pub product_name: String,
    pub quantity: i32,
    pub unit_price: Money,
    /// quantity × unit price.
    pub total: Money,
    /// The product's category as the sender gave it; null when it sent none.
    pub category: Option<String>,
}

impl OrderLine {
    fn new(line: order_line::Model, currency: &str) -> Self {
        OrderLine {
            total: Money::from_minor(line.unit_price * i64::from(line.quantity), currency),
            unit_price: Money::from_minor(line.unit_price, currency),
            product: Product {
                sku: line.sku.clone(),
            },
            sku: line.sku,
            product_name: line.product_name,
            quantity: line.quantity,
            category: line.category,
        }
    }
}

#[derive(Clone, Copy)]
pub enum OrderLineField {
    Sku,
    ProductName,
    Quantity,
    UnitPrice,
    Total,
    Category,
}

impl Leaf for OrderLine {
    type Field = OrderLineField;
    fn field(name: &str) -> Option<OrderLineField> {
        Some(match name {
            "sku" => OrderLineField::Sku,
            "productName" => OrderLineField::ProductName,
            "quantity" => OrderLineField::Quantity,
            "unitPrice" => OrderLineField::UnitPrice,
            "total" => OrderLineField::Total,
            "category" => OrderLineField::Category,
            _ => return None,
        })
    }
    fn value<'a>(&'a self, _env: &'a Env<'_>, field: OrderLineField) -> Scalar<'a> {
        match field {
            OrderLineField::Sku => Scalar::Str(&self.sku),
            OrderLineField::ProductName => Scalar::Str(&self.product_name),
            OrderLineField::Quantity => Scalar::Int(self.quantity.into()),
            OrderLineField::UnitPrice => Scalar::Money(&self.unit_price),
            OrderLineField::Total => Scalar::Money(&self.total),
            OrderLineField::Category => self.category.as_deref().into(),
        }
    }
}

/// An order line as a sender posts it.
#[derive(InputObject)]
pub struct OrderLineInput {
    pub sku: String,
    pub product_name: String,
    /// At least 1.
    pub quantity: i32,
    /// Minor units of the order's currency (cents for USD), zero or more.
    pub unit_price: i64,
    /// The product's category (`skincare`, `makeup`, ...): 1 to 64
    /// characters once trimmed. Interests and `purchased_category` group by it.
    pub category: Option<String>,
}

/// An order as a POS or storefront posts it; amounts in minor units.
#[derive(InputObject)]
pub struct OrderIngestInput {
    pub customer_id: ID,
    /// The sender's id for the order: posting it again returns the first
    /// order; a different payload under the same value is CONFLICT.
    pub external_ref: Option<String>,
    /// Defaults to `C360-<id>`.
    pub order_number: Option<String>,
    /// PENDING (default) or PAID; PAID earns loyalty points.
    #[graphql(default_with = "OrderStatus::Pending")]
    pub status: OrderStatus,
    #[graphql(default_with = "OrderChannel::OnlineStore")]
    pub channel: OrderChannel,
    /// ISO 4217, e.g. `USD`.
    pub currency_code: String,
    #[graphql(default)]
    pub discount: i64,
    #[graphql(default)]
    pub tax: i64,
    /// Must equal sum(quantity × unitPrice) - discount + tax.
    pub total: i64,
    /// Defaults to now.
    pub placed_at: Option<DateTime<Utc>>,
    pub lines: Vec<OrderLineInput>,
}

/// Order writes: PARTNER tokens need `orders:write`; a CUSTOMER token may
/// only place its own PENDING orders.
#[derive(Default)]
pub struct OrderMutation;

#[Object]
impl OrderMutation {
    /// Records an order with its lines, idempotent by `externalRef`.
    async fn order_ingest(
        &self,
        ctx: &Context<'_>,
        input: OrderIngestInput,
    ) -> async_graphql::Result<Order> {
        let write = begin_write(ctx, Domain::Orders).await?;
        let new = orders::NewOrder {
            customer_id: decode("input.customerId", Kind::Customer, &input.customer_id)?,
            external_ref: input.external_ref,
            order_number: input.order_number,
            status: input.status.into(),
            channel: input.channel.into(),
            currency: input.currency_code,
            discount: input.discount,
            tax: input.tax,
            total: input.total,
            placed_at: input.placed_at,
            lines: input
                .lines
                .into_iter()
                .map(|l| orders::NewLine {
                    sku: l.sku,
                    product_name: l.product_name,
                    quantity: l.quantity,
                    unit_price: l.unit_price,
                    category: l.category,
                })
                .collect(),
        };
        // A retry racing the original post queues on the customer's row
        // inside `ingest` and then finds the order by its external ref.
        let done = orders::ingest(&write.txn, write.rules, write.principal, new, write.now).await?;
        write.commit(Order(done.order)).await
    }

    /// Moves an order along PENDING → PAID → FULFILLED, or cancels a PENDING
    /// or PAID order. Impossible moves are CONFLICT naming the current status.
    async fn order_update_status(
        &self,
        ctx: &Context<'_>,
        id: ID,
        status: OrderStatus,
    ) -> async_graphql::Result<Order> {
        let write = begin_write(ctx, Domain::Orders).await?;
        let order_id = decode("id", Kind::Order, &id)?;
        let order = orders::set_status(
            &write.txn,
            write.rules,
            write.principal,
            order_id,
            status.into(),
            write.now,
        )
        .await?;
        write.commit(Order(order)).await
    }

    /// Refunds `amount` minor units of a paid order (partial or full); the
    /// points of the refunded amount are taken back. With `refundTo:
    /// STORE_CREDIT` the amount becomes the customer's store credit in the
    /// order's currency.
    async fn order_refund(
        &self,
        ctx: &Context<'_>,
        id: ID,
        #[graphql(desc = "Minor units of the order's currency, at most total - refunded.")]
        amount: i64,
        #[graphql(
            desc = "Where the money goes: PAYMENT_METHOD (null, the default) or STORE_CREDIT."
        )]
        refund_to: Option<RefundDestination>,
    ) -> async_graphql::Result<Order> {
        let write = begin_write(ctx, Domain::Orders).await?;
        let order_id = decode("id", Kind::Order, &id)?;
        let order = orders::refund_to(
            &write.txn,
            write.rules,
            write.principal,
            order_id,
            amount,
            refund_to.unwrap_or_default().into(),
            write.now,
        )
        .await?;
        write.commit(Order(order)).await
    }
}
