//! Which orders count, and for what.

use c360_entity::enums::OrderStatus;

/// Orders that count towards a customer's figures (orders count, spend,
/// first and last order, RFM, segments): every order not cancelled, in the
/// store's base currency.
pub fn counts(status: OrderStatus) -> bool {
    status != OrderStatus::Cancelled
}

/// The one status whose orders count for nothing.
pub const NOT_COUNTED: OrderStatus = OrderStatus::Cancelled;

/// Statuses whose money counts towards a tier: the order was paid.
pub const SPENDING: [OrderStatus; 4] = [
    OrderStatus::Paid,
    OrderStatus::Fulfilled,
    OrderStatus::PartiallyRefunded,
    OrderStatus::Refunded,
];
