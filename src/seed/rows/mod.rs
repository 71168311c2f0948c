//! The rows the generator produces, one plain struct per table, and how each
//! maps onto its table's columns ([`BulkRow`]); a [`Batch`] holds them all.
//!
//! Instants are kept as Unix seconds while generating (cheap arithmetic, whole
//! seconds by construction) and become `DateTime<Utc>` only here, when a row
//! turns into bind values. Columns left out take their defaults (`NULL`):
//! `customers.erased_at`, `referrals.rejection_reason`.
//!
//! One file per group of tables: [`customers`], [`orders`], [`support`],
//! [`feedback`], [`loyalty`].

mod customers;
mod feedback;
mod loyalty;
mod orders;
mod support;

use chrono::{DateTime, Utc};
use sea_orm::EntityTrait;
use sea_orm::sea_query::Value;

pub use customers::{CustomerRow, TagRow};
pub use feedback::{NpsRow, ReviewRow};
pub use loyalty::{LedgerRow, LoyaltyAccountRow, ReferralRow};
pub use orders::{OrderLineRow, OrderRow};
pub use support::{TicketMessageRow, TicketRow};

/// A row struct that knows its table and the order of its columns.
pub trait BulkRow {
    type Entity: EntityTrait;
    /// Column list of the INSERT; `into_values` yields values in this order.
    fn columns() -> Vec<<Self::Entity as EntityTrait>::Column>;
    fn into_values(self) -> Vec<Value>;
}

/// Unix seconds as a bind value. Generated instants lie within a few years of
/// now (plus the configured return window and expiry, which `Rules` keeps
/// addable to a date), far inside chrono's range, so the fallback is never
/// taken.
fn ts(secs: i64) -> Value {
    DateTime::<Utc>::from_timestamp(secs, 0)
        .unwrap_or_default()
        .into()
}

fn opt_ts(secs: Option<i64>) -> Value {
    secs.and_then(|s| DateTime::<Utc>::from_timestamp(s, 0))
        .into()
}

fn opt_str(s: Option<&str>) -> Value {
    s.map(str::to_owned).into()
}

/// Everything generated for one batch of customers, in insert order
/// (parents before children, so foreign keys hold at every statement).
#[derive(Debug, Default)]
pub struct Batch {
    pub customers: Vec<CustomerRow>,
    pub tags: Vec<TagRow>,
    pub accounts: Vec<LoyaltyAccountRow>,
    pub orders: Vec<OrderRow>,
    pub lines: Vec<OrderLineRow>,
    pub tickets: Vec<TicketRow>,
    pub messages: Vec<TicketMessageRow>,
    pub reviews: Vec<ReviewRow>,
    pub referrals: Vec<ReferralRow>,
    pub ledger: Vec<LedgerRow>,
    pub nps: Vec<NpsRow>,
}

impl Batch {
    /// Splits the batch for writers that run side by side: the parent rows
    /// (customers, accounts, orders, tickets), then two groups of children
    /// that refer only to parents, of this batch or an earlier one: order
    /// lines, the largest table, and everything else.
    pub fn split(self) -> [Batch; 3] {
        let Batch {
            customers,
            tags,
            accounts,
            orders,
            lines,
            tickets,
            messages,
            reviews,
            referrals,
            ledger,
            nps,
        } = self;
        [
            Batch {
                customers,
                accounts,
                orders,
                tickets,
                ..Batch::default()
            },
            Batch {
                lines,
                ..Batch::default()
            },
            Batch {
                tags,
                messages,
                reviews,
                referrals,
                ledger,
                nps,
                ..Batch::default()
            },
        ]
    }
}
