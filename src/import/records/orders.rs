//! Order records: an order with its lines (JSON Lines), or one CSV row per
//! line with the order's fields repeated ([`group_order_rows`]). Each is
//! ingested by `externalRef` and then taken to the file's status and refund
//! by the order state machine of [`crate::service::orders`].

use c360_entity::enums::{OrderChannel, OrderStatus};
use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::Deserialize;

use super::{Context, CustomerRef, Record, id_text, required};
use crate::error::AppResult;
use crate::import::read::Numbered;
use crate::service::Outcome;
use crate::service::orders::{self, NewLine, NewOrder};

/// An order with its lines (JSON Lines).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderRecord {
    external_ref: Option<String>,
    order_number: Option<String>,
    #[serde(default, deserialize_with = "id_text")]
    customer_id: Option<String>,
    customer_email: Option<String>,
    customer_external_ref: Option<String>,
    customer_external_source: Option<String>,
    status: Option<OrderStatus>,
    channel: Option<OrderChannel>,
    currency: Option<String>,
    discount: Option<i64>,
    tax: Option<i64>,
    total: Option<i64>,
    /// The amount refunded, for REFUNDED and PARTIALLY_REFUNDED orders.
    refunded: Option<i64>,
    placed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    lines: Vec<LineRecord>,
}

/// The order fields of a CSV row, which every row of the order repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OrderHead {
    external_ref: Option<String>,
    order_number: Option<String>,
    customer_id: Option<String>,
    customer_email: Option<String>,
    customer_external_ref: Option<String>,
    customer_external_source: Option<String>,
    status: Option<OrderStatus>,
    channel: Option<OrderChannel>,
    currency: Option<String>,
    discount: Option<i64>,
    tax: Option<i64>,
    total: Option<i64>,
    refunded: Option<i64>,
    placed_at: Option<DateTime<Utc>>,
}

impl OrderRecord {
    fn new(head: OrderHead, lines: Vec<LineRecord>) -> OrderRecord {
        OrderRecord {
            external_ref: head.external_ref,
            order_number: head.order_number,
            customer_id: head.customer_id,
            customer_email: head.customer_email,
            customer_external_ref: head.customer_external_ref,
            customer_external_source: head.customer_external_source,
            status: head.status,
            channel: head.channel,
            currency: head.currency,
            discount: head.discount,
            tax: head.tax,
            total: head.total,
            refunded: head.refunded,
            placed_at: head.placed_at,
            lines,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LineRecord {
    sku: String,
    product_name: String,
    quantity: i32,
    unit_price: i64,
    #[serde(default)]
    category: Option<String>,
}

/// One CSV row: an order line with its order's fields repeated; consecutive
/// rows with the same `externalRef` are one order.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderCsvRow {
    external_ref: Option<String>,
    order_number: Option<String>,
    customer_id: Option<String>,
    customer_email: Option<String>,
    customer_external_ref: Option<String>,
    customer_external_source: Option<String>,
    status: Option<OrderStatus>,
    channel: Option<OrderChannel>,
    currency: Option<String>,
    discount: Option<i64>,
    tax: Option<i64>,
    total: Option<i64>,
    refunded: Option<i64>,
    placed_at: Option<DateTime<Utc>>,
    sku: Option<String>,
    product_name: Option<String>,
    quantity: Option<i32>,
    unit_price: Option<i64>,
    #[serde(default)]
    category: Option<String>,
}

impl OrderCsvRow {
    fn split(self) -> (OrderHead, Result<Option<LineRecord>, String>) {
        let head = OrderHead {
            external_ref: self.external_ref,
            order_number: self.order_number,
            customer_id: self.customer_id,
            customer_email: self.customer_email,
            customer_external_ref: self.customer_external_ref,
            customer_external_source: self.customer_external_source,
            status: self.status,
            channel: self.channel,
            currency: self.currency,
            discount: self.discount,
            tax: self.tax,
            total: self.total,
            refunded: self.refunded,
            placed_at: self.placed_at,
        };
        let line = match (self.sku, self.product_name, self.quantity, self.unit_price) {
            (None, None, None, None) => Ok(None),
            (Some(sku), Some(product_name), Some(quantity), Some(unit_price)) => {
                Ok(Some(LineRecord {
                    sku,
                    product_name,
                    quantity,
                    unit_price,
                    category: self.category,
                }))
            }
            _ => Err("a line needs sku, productName, quantity and unitPrice".to_owned()),
        };
        (head, line)
    }
}

/// Groups CSV rows into orders: consecutive rows with the same non-empty
/// `externalRef` form one order, numbered by its first row. A row that
/// repeats the order with different order fields, or a bad row, rejects
/// the whole order.
pub fn group_order_rows(
    rows: impl Iterator<Item = Numbered<OrderCsvRow>>,
) -> impl Iterator<Item = Numbered<OrderRecord>> {
    let mut rows = rows.peekable();
    std::iter::from_fn(move || {
        let first = rows.next()?;
        let line = first.line;
        let row = match first.record {
            Ok(row) => row,
            Err(reason) => {
                return Some(Numbered {
                    line,
                    record: Err(reason),
                });
            }
        };
        let (head, first_line) = row.split();
        let mut error = first_line.as_ref().err().cloned();
        let mut lines: Vec<LineRecord> = first_line.ok().flatten().into_iter().collect();
        while let Some(next) = rows.peek() {
            let same = match (&next.record, &head.external_ref) {
                (Ok(r), Some(reference)) => r.external_ref.as_ref() == Some(reference),
                _ => false,
            };
            if !same {
                break;
            }
            let Some(Numbered {
                line: at,
                record: Ok(row),
            }) = rows.next()
            else {
                unreachable!("peeked an Ok row");
            };
            let (other, line_record) = row.split();
            if error.is_none() && other != head {
                error = Some(format!(
                    "line {at} repeats order `{}` with different order fields; repeat them unchanged on every line of an order",
                    head.external_ref.as_deref().unwrap_or_default()
                ));
            }
            match line_record {
                Ok(Some(l)) => lines.push(l),
                Ok(None) => {}
                Err(reason) => {
                    error.get_or_insert(format!("line {at}: {reason}"));
                }
            }
        }
        Some(Numbered {
            line,
            record: match error {
                Some(reason) => Err(reason),
                None => Ok(OrderRecord::new(head, lines)),
            },
        })
    })
}

impl OrderRecord {
    /// The status and refund the file gives the order, checked with the
    /// fields every order needs before anything is read.
    pub(crate) fn target(&self) -> AppResult<(OrderStatus, i64)> {
        required("externalRef", self.external_ref.as_ref())?;
        let status = required("status", self.status)?;
        required("currency", self.currency.as_ref())?;
        let total = required("total", self.total)?;
        Ok((status, orders::refunded_for(status, self.refunded, total)?))
    }

    /// The record's customer reference.
    pub(crate) fn customer(&self) -> CustomerRef<'_> {
        customer_ref!(self)
    }

    /// The order to ingest for `customer_id`, entering at the status
    /// [`orders::entry_status`] gives the file's.
    pub(crate) fn into_new_order(self, customer_id: i64, ctx: &Context) -> AppResult<NewOrder> {
        let status = required("status", self.status)?;
        Ok(NewOrder {
            customer_id,
            external_ref: Some(required("externalRef", self.external_ref)?),
            order_number: self.order_number,
            status: orders::entry_status(status),
            channel: self.channel.unwrap_or(OrderChannel::OnlineStore),
            currency: required("currency", self.currency)?,
            discount: self.discount.unwrap_or(0),
            tax: self.tax.unwrap_or(0),
            total: required("total", self.total)?,
            placed_at: ctx.past("placedAt", self.placed_at)?,
            lines: self
                .lines
                .into_iter()
                .map(|l| NewLine {
                    sku: l.sku,
                    product_name: l.product_name,
                    quantity: l.quantity,
                    unit_price: l.unit_price,
                    category: l.category,
                })
                .collect(),
        })
    }
}

impl Record for OrderRecord {
    /// Ingests the order by `externalRef` (required: it is what makes a
    /// re-run one order), then moves it to the file's status through the
    /// ordinary transitions, so points, tiers and metrics follow the same
    /// rules as the API.
    async fn write(self, db: &impl ConnectionTrait, ctx: &Context) -> AppResult<Outcome> {
        let target = self.target()?;
        let customer_id = self.customer().resolve(db, ctx).await?;
        let ingested = orders::ingest(
            db,
            &ctx.rules,
            &ctx.principal,
            self.into_new_order(customer_id, ctx)?,
            ctx.now,
        )
        .await?;
        let changed = orders::replay(
            db,
            &ctx.rules,
            &ctx.principal,
            &ingested.order,
            target,
            ctx.now,
        )
        .await?;
        Ok(match (ingested.created, changed) {
            (true, _) => Outcome::Created,
            (false, true) => Outcome::Updated,
            (false, false) => Outcome::Unchanged,
        })
    }
}
