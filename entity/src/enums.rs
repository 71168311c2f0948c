//! Closed sets of values stored as upper-case strings, identical on SQLite and PostgreSQL.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A closed set stored as text. Its first value is its `Default`: what a
/// row read without its column holds there (`c360::read::columns`).
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $first:ident $(, $variant:ident)* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
        #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(24))", rename_all = "SCREAMING_SNAKE_CASE")]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum $name { #[default] $first $(, $variant)* }
    };
}

string_enum!(
    /// Email marketing consent of a customer.
    EmailMarketingState { Subscribed, Unsubscribed, Pending, NotSubscribed }
);
string_enum!(
    /// Life cycle of an order.
    OrderStatus { Pending, Paid, Fulfilled, Cancelled, Refunded, PartiallyRefunded }
);
string_enum!(
    /// Where an order was placed.
    OrderChannel { OnlineStore, Pos, MobileApp, Marketplace, Phone }
);
string_enum!(
    /// Life cycle of a support ticket.
    TicketStatus { New, Open, Pending, Hold, Solved, Closed }
);
string_enum!(
    /// Urgency of a support ticket.
    TicketPriority { Low, Normal, High, Urgent }
);
string_enum!(
    /// Where a support ticket came in.
    TicketChannel { Email, Chat, Phone, Social, Web }
);
string_enum!(
    /// Who wrote a ticket message.
    AuthorKind { Customer, Agent }
);
string_enum!(
    /// Moderation state of a review.
    ReviewStatus { Pending, Published, Rejected }
);
string_enum!(
    /// Life cycle of a referral.
    ReferralStatus { Invited, SignedUp, Converted, Rewarded, Rejected }
);
string_enum!(
    /// Loyalty tier, from trailing-12-month net spend.
    LoyaltyTier { Bronze, Silver, Gold, Platinum }
);
string_enum!(
    /// What a loyalty ledger row records.
    LoyaltyTransactionKind { Earn, Redeem, Expire, Adjust, ReferralBonus, Clawback }
);
string_enum!(
    /// Whether a ledger row counts towards the balance yet.
    LoyaltyTransactionState { Pending, Available, Cancelled }
);
string_enum!(
    /// Where an NPS answer was collected.
    NpsChannel { Email, Web, App, Sms }
);
