//! The rows the generator produces, one plain struct per table, and how each
//! maps onto its table's columns ([`BulkRow`]).
//!
//! Instants are kept as Unix seconds while generating (cheap arithmetic, whole
//! seconds by construction) and become `DateTime<Utc>` only here, when a row
//! turns into bind values. Columns left out take their defaults (`NULL`):
//! `customers.erased_at`, `referrals.rejection_reason`,
//! `loyalty_transactions.expires_at`. Loyalty balances are inserted as zero:
//! `service::loyalty::refresh_balances` derives them from the ledger.

use c360_entity::enums::{
    AuthorKind, EmailMarketingState, LoyaltyTier, LoyaltyTransactionKind, LoyaltyTransactionState,
    NpsChannel, OrderChannel, OrderStatus, ReferralStatus, ReviewStatus, TicketChannel,
    TicketPriority, TicketStatus,
};
use c360_entity::{
    customer, customer_tag, loyalty_account, loyalty_transaction, nps_response, order, order_line,
    referral, review, ticket, ticket_message,
};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::EntityTrait;
use sea_orm::sea_query::Value;

/// A row struct that knows its table and the order of its columns.
pub trait BulkRow {
    type Entity: EntityTrait;
    /// Column list of the INSERT; `into_values` yields values in this order.
    fn columns() -> Vec<<Self::Entity as EntityTrait>::Column>;
    fn into_values(self) -> Vec<Value>;
}

/// Unix seconds as a bind value. Generated instants lie within a few years of
/// now, far inside chrono's range, so the fallback is never taken.
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

#[derive(Debug, Clone)]
pub struct CustomerRow {
    pub id: i64,
    pub external_source: Option<&'static str>,
    pub external_ref: Option<String>,
    pub email: String,
    pub first_name: &'static str,
    pub last_name: &'static str,
    pub phone: Option<String>,
    pub birthday: Option<NaiveDate>,
    pub locale: &'static str,
    pub country: &'static str,
    pub city: &'static str,
    pub email_marketing_state: EmailMarketingState,
    pub consent_updated_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl BulkRow for CustomerRow {
    type Entity = customer::Entity;
    fn columns() -> Vec<customer::Column> {
        use customer::Column as C;
        vec![
            C::Id,
            C::ExternalSource,
            C::ExternalRef,
            C::Email,
            C::FirstName,
            C::LastName,
            C::Phone,
            C::Birthday,
            C::Locale,
            C::Country,
            C::City,
            C::EmailMarketingState,
            C::ConsentUpdatedAt,
            C::CreatedAt,
            C::UpdatedAt,
        ]
    }
    fn into_values(self) -> Vec<Value> {
        vec![
            self.id.into(),
            opt_str(self.external_source),
            self.external_ref.into(),
            self.email.into(),
            self.first_name.into(),
            self.last_name.into(),
            self.phone.into(),
            self.birthday.into(),
            self.locale.into(),
            self.country.into(),
            self.city.into(),
            self.email_marketing_state.into(),
            opt_ts(self.consent_updated_at),
            ts(self.created_at),
            ts(self.updated_at),
        ]
    }
}

#[derive(Debug, Clone)]
pub struct TagRow {
    pub customer_id: i64,
    pub tag: &'static str,
}

impl BulkRow for TagRow {
    type Entity = customer_tag::Entity;
    fn columns() -> Vec<customer_tag::Column> {
        vec![customer_tag::Column::CustomerId, customer_tag::Column::Tag]
    }
    fn into_values(self) -> Vec<Value> {
        vec![self.customer_id.into(), self.tag.into()]
    }
}

#[derive(Debug, Clone)]
pub struct LoyaltyAccountRow {
    pub id: i64,
    pub customer_id: i64,
    pub referral_code: String,
    pub tier: LoyaltyTier,
    pub created_at: i64,
}

impl BulkRow for LoyaltyAccountRow {
    type Entity = loyalty_account::Entity;
    fn columns() -> Vec<loyalty_account::Column> {
        use loyalty_account::Column as C;
        vec![
            C::Id,
            C::CustomerId,
            C::ReferralCode,
            C::Tier,
            C::PointsAvailable,
            C::PointsPending,
            C::PointsLifetimeEarned,
            C::CreatedAt,
            C::UpdatedAt,
        ]
    }
    fn into_values(self) -> Vec<Value> {
        vec![
            self.id.into(),
            self.customer_id.into(),
            self.referral_code.into(),
            self.tier.into(),
            0i64.into(),
            0i64.into(),
            0i64.into(),
            ts(self.created_at),
            ts(self.created_at),
        ]
    }
}

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
        ]
    }
}

#[derive(Debug, Clone)]
pub struct TicketRow {
    pub id: i64,
    pub customer_id: i64,
    pub subject: String,
    pub status: TicketStatus,
    pub priority: TicketPriority,
    pub channel: TicketChannel,
    pub created_at: i64,
    pub updated_at: i64,
    pub first_reply_at: Option<i64>,
    pub solved_at: Option<i64>,
    pub satisfaction_score: Option<i32>,
    pub satisfaction_comment: Option<&'static str>,
    pub satisfaction_at: Option<i64>,
}

impl BulkRow for TicketRow {
    type Entity = ticket::Entity;
    fn columns() -> Vec<ticket::Column> {
        use ticket::Column as C;
        vec![
            C::Id,
            C::CustomerId,
            C::Subject,
            C::Status,
            C::Priority,
            C::Channel,
            C::CreatedAt,
            C::UpdatedAt,
            C::FirstReplyAt,
            C::SolvedAt,
            C::SatisfactionScore,
            C::SatisfactionComment,
            C::SatisfactionAt,
        ]
    }
    fn into_values(self) -> Vec<Value> {
        vec![
            self.id.into(),
            self.customer_id.into(),
            self.subject.into(),
            self.status.into(),
            self.priority.into(),
            self.channel.into(),
            ts(self.created_at),
            ts(self.updated_at),
            opt_ts(self.first_reply_at),
            opt_ts(self.solved_at),
            self.satisfaction_score.into(),
            opt_str(self.satisfaction_comment),
            opt_ts(self.satisfaction_at),
        ]
    }
}

#[derive(Debug, Clone)]
pub struct TicketMessageRow {
    pub id: i64,
    pub ticket_id: i64,
    pub customer_id: i64,
    pub author_kind: AuthorKind,
    pub author_name: Option<&'static str>,
    pub body: String,
    pub created_at: i64,
}

impl BulkRow for TicketMessageRow {
    type Entity = ticket_message::Entity;
    fn columns() -> Vec<ticket_message::Column> {
        use ticket_message::Column as C;
        vec![
            C::Id,
            C::TicketId,
            C::CustomerId,
            C::AuthorKind,
            C::AuthorName,
            C::Body,
            C::CreatedAt,
        ]
    }
    fn into_values(self) -> Vec<Value> {
        vec![
            self.id.into(),
            self.ticket_id.into(),
            self.customer_id.into(),
            self.author_kind.into(),
            opt_str(self.author_name),
            self.body.into(),
            ts(self.created_at),
        ]
    }
}

#[derive(Debug, Clone)]
pub struct ReviewRow {
    pub id: i64,
    pub customer_id: i64,
    pub product_sku: &'static str,
    pub order_id: Option<i64>,
    pub rating: i32,
    pub title: &'static str,
    pub body: &'static str,
    pub status: ReviewStatus,
    pub verified_purchase: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl BulkRow for ReviewRow {
    type Entity = review::Entity;
    fn columns() -> Vec<review::Column> {
        use review::Column as C;
        vec![
            C::Id,
            C::CustomerId,
            C::ProductSku,
            C::OrderId,
            C::Rating,
            C::Title,
            C::Body,
            C::Status,
            C::VerifiedPurchase,
            C::CreatedAt,
            C::UpdatedAt,
        ]
    }
    fn into_values(self) -> Vec<Value> {
        vec![
            self.id.into(),
            self.customer_id.into(),
            self.product_sku.into(),
            self.order_id.into(),
            self.rating.into(),
            self.title.into(),
            self.body.into(),
            self.status.into(),
            self.verified_purchase.into(),
            ts(self.created_at),
            ts(self.updated_at),
        ]
    }
}

#[derive(Debug, Clone)]
pub struct ReferralRow {
    pub id: i64,
    /// The referrer.
    pub customer_id: i64,
    pub referee_email: String,
    pub referee_customer_id: Option<i64>,
    pub code: String,
    pub status: ReferralStatus,
    pub referrer_reward_points: i64,
    pub referee_reward_points: i64,
    pub invited_at: i64,
    pub signed_up_at: Option<i64>,
    pub converted_at: Option<i64>,
    pub rewarded_at: Option<i64>,
    pub updated_at: i64,
}

impl BulkRow for ReferralRow {
    type Entity = referral::Entity;
    fn columns() -> Vec<referral::Column> {
        use referral::Column as C;
        vec![
            C::Id,
            C::CustomerId,
            C::RefereeEmail,
            C::RefereeCustomerId,
            C::Code,
            C::Status,
            C::ReferrerRewardPoints,
            C::RefereeRewardPoints,
            C::InvitedAt,
            C::SignedUpAt,
            C::ConvertedAt,
            C::RewardedAt,
            C::UpdatedAt,
        ]
    }
    fn into_values(self) -> Vec<Value> {
        vec![
            self.id.into(),
            self.customer_id.into(),
            self.referee_email.into(),
            self.referee_customer_id.into(),
            self.code.into(),
            self.status.into(),
            self.referrer_reward_points.into(),
            self.referee_reward_points.into(),
            ts(self.invited_at),
            opt_ts(self.signed_up_at),
            opt_ts(self.converted_at),
            opt_ts(self.rewarded_at),
            ts(self.updated_at),
        ]
    }
}

#[derive(Debug, Clone)]
pub struct LedgerRow {
    pub id: i64,
    pub customer_id: i64,
    pub kind: LoyaltyTransactionKind,
    pub points: i64,
    pub state: LoyaltyTransactionState,
    pub order_id: Option<i64>,
    pub idempotency_key: String,
    pub description: String,
    pub available_at: Option<i64>,
    pub created_at: i64,
}

impl BulkRow for LedgerRow {
    type Entity = loyalty_transaction::Entity;
    fn columns() -> Vec<loyalty_transaction::Column> {
        use loyalty_transaction::Column as C;
        vec![
            C::Id,
            C::CustomerId,
            C::Kind,
            C::Points,
            C::State,
            C::OrderId,
            C::IdempotencyKey,
            C::Description,
            C::AvailableAt,
            C::CreatedAt,
        ]
    }
    fn into_values(self) -> Vec<Value> {
        vec![
            self.id.into(),
            self.customer_id.into(),
            self.kind.into(),
            self.points.into(),
            self.state.into(),
            self.order_id.into(),
            self.idempotency_key.into(),
            self.description.into(),
            opt_ts(self.available_at),
            ts(self.created_at),
        ]
    }
}

#[derive(Debug, Clone)]
pub struct NpsRow {
    pub id: i64,
    pub customer_id: i64,
    pub score: i32,
    pub comment: Option<&'static str>,
    pub channel: NpsChannel,
    pub created_at: i64,
}

impl BulkRow for NpsRow {
    type Entity = nps_response::Entity;
    fn columns() -> Vec<nps_response::Column> {
        use nps_response::Column as C;
        vec![
            C::Id,
            C::CustomerId,
            C::Score,
            C::Comment,
            C::Channel,
            C::CreatedAt,
        ]
    }
    fn into_values(self) -> Vec<Value> {
        vec![
            self.id.into(),
            self.customer_id.into(),
            self.score.into(),
            opt_str(self.comment),
            self.channel.into(),
            ts(self.created_at),
        ]
    }
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
