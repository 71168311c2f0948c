//! An order as a sender posts it (the API's `orderIngest`, an imported
//! record), and the checks it passes before anything is read or written.

use c360_entity::enums::{OrderChannel, OrderStatus};
use chrono::{DateTime, Utc};

use crate::domain::text;
use crate::error::{AppError, AppResult};

/// An order as a sender posts it; amounts in minor units of `currency`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub customer_id: i64,
    /// The sender's id: posting the same order again returns the first one.
    pub external_ref: Option<String>,
    /// Defaults to `C360-<id>`.
    pub order_number: Option<String>,
    /// PENDING or PAID.
    pub status: OrderStatus,
    pub channel: OrderChannel,
    pub currency: String,
    pub discount: i64,
    pub tax: i64,
    /// Must equal the lines' sum - discount + tax.
    pub total: i64,
    /// Defaults to now.
    pub placed_at: Option<DateTime<Utc>>,
    pub lines: Vec<NewLine>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLine {
    pub sku: String,
    pub product_name: String,
    pub quantity: i32,
    pub unit_price: i64,
    /// The product's category (`skincare`, `makeup`, ...), 1 to 64
    /// characters once trimmed; what interests and `purchased_category` group by.
    pub category: Option<String>,
}

const MAX_LINES: usize = 500;
const MAX_TEXT: usize = 200;
/// The longest category, in characters (the column's length).
pub const MAX_CATEGORY: usize = 64;

fn non_negative(field: &str, value: i64) -> AppResult<()> {
    if value < 0 {
        return Err(AppError::bad_input(
            field,
            format!("{field} must be zero or more (minor units), not {value}"),
        ));
    }
    Ok(())
}

/// An ISO 4217 alphabetic code: three upper-case ASCII letters.
pub fn validate_currency(field: &str, code: &str) -> AppResult<()> {
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(AppError::bad_input(
            field,
            format!("`{code}` is not an ISO 4217 currency code such as USD or EUR"),
        ))
    }
}

impl NewOrder {
    /// Trims and checks every field; returns the order with normalised text
    /// and its subtotal. Nothing is read or written.
    pub fn validate(mut self) -> AppResult<(NewOrder, i64)> {
        if let Some(r) = &self.external_ref {
            self.external_ref = Some(text::required("externalRef", r, MAX_TEXT)?);
        }
        if let Some(n) = &self.order_number {
            self.order_number = Some(text::required("orderNumber", n, 64)?);
        }
        if !matches!(self.status, OrderStatus::Pending | OrderStatus::Paid) {
            return Err(AppError::bad_input(
                "status",
                format!(
                    "an order is ingested as PENDING or PAID, not {:?}; later changes go through orderUpdateStatus and orderRefund",
                    self.status
                ),
            ));
        }
        validate_currency("currency", &self.currency)?;
        non_negative("discount", self.discount)?;
        non_negative("tax", self.tax)?;
        non_negative("total", self.total)?;
        if self.lines.is_empty() || self.lines.len() > MAX_LINES {
            return Err(AppError::bad_input(
                "lines",
                format!("an order needs 1 to {MAX_LINES} lines"),
            ));
        }
        let mut subtotal: i64 = 0;
        for (i, line) in self.lines.iter_mut().enumerate() {
            line.sku = text::required(&format!("lines[{i}].sku"), &line.sku, 64)?;
            line.product_name = text::required(
                &format!("lines[{i}].productName"),
                &line.product_name,
                MAX_TEXT,
            )?;
            if line.quantity < 1 {
                return Err(AppError::bad_input(
                    format!("lines[{i}].quantity"),
                    format!("quantity must be at least 1, not {}", line.quantity),
                ));
            }
            non_negative(&format!("lines[{i}].unitPrice"), line.unit_price)?;
            if let Some(category) = &line.category {
                line.category = Some(text::required(
                    &format!("lines[{i}].category"),
                    category,
                    MAX_CATEGORY,
                )?);
            }
            subtotal = line
                .unit_price
                .checked_mul(i64::from(line.quantity))
                .and_then(|l| subtotal.checked_add(l))
                .ok_or_else(|| {
                    AppError::bad_input(format!("lines[{i}].unitPrice"), "amount too large")
                })?;
        }
        if self.discount > subtotal {
            return Err(AppError::bad_input(
                "discount",
                format!(
                    "discount {} exceeds the lines' subtotal {subtotal}",
                    self.discount
                ),
            ));
        }
        let expected = subtotal - self.discount + self.tax;
        if self.total != expected {
            return Err(AppError::bad_input(
                "total",
                format!(
                    "total {} does not match the lines: subtotal {subtotal} - discount {} + tax {} = {expected}",
                    self.total, self.discount, self.tax
                ),
            ));
        }
        Ok((self, subtotal))
    }
}
