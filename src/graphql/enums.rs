//! The store's closed value sets as GraphQL enums (same names, same values).

use async_graphql::Enum;

macro_rules! gql_enum {
    ($(#[$meta:meta])* $name:ident = $remote:literal { $($variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
        #[graphql(remote = $remote)]
        pub enum $name { $($variant),+ }
    };
}

gql_enum!(
    /// Email marketing consent.
    EmailMarketingState = "c360_entity::enums::EmailMarketingState" { Subscribed, Unsubscribed, Pending, NotSubscribed }
);
gql_enum!(
    /// Life cycle of an order: PENDING → PAID → FULFILLED, or CANCELLED; refunds after payment.
    OrderStatus = "c360_entity::enums::OrderStatus" { Pending, Paid, Fulfilled, Cancelled, Refunded, PartiallyRefunded }
);
gql_enum!(
    /// Where an order was placed.
    OrderChannel = "c360_entity::enums::OrderChannel" { OnlineStore, Pos, MobileApp, Marketplace, Phone }
);
gql_enum!(
    /// Life cycle of a support ticket.
    TicketStatus = "c360_entity::enums::TicketStatus" { New, Open, Pending, Hold, Solved, Closed }
);
gql_enum!(
    /// Urgency of a support ticket.
    TicketPriority = "c360_entity::enums::TicketPriority" { Low, Normal, High, Urgent }
);
gql_enum!(
    /// Where a ticket came in.
    TicketChannel = "c360_entity::enums::TicketChannel" { Email, Chat, Phone, Social, Web }
);
gql_enum!(
    /// Who wrote a ticket message.
    AuthorKind = "c360_entity::enums::AuthorKind" { Customer, Agent }
);
gql_enum!(
    /// Moderation state of a review.
    ReviewStatus = "c360_entity::enums::ReviewStatus" { Pending, Published, Rejected }
);
gql_enum!(
    /// Life cycle of a referral.
    ReferralStatus = "c360_entity::enums::ReferralStatus" { Invited, SignedUp, Converted, Rewarded, Rejected }
);
gql_enum!(
    /// Loyalty tier, from trailing-12-month net spend.
    LoyaltyTier = "c360_entity::enums::LoyaltyTier" { Bronze, Silver, Gold, Platinum }
);
gql_enum!(
    /// What a loyalty ledger row records.
    LoyaltyTransactionKind = "c360_entity::enums::LoyaltyTransactionKind" { Earn, Redeem, Expire, Adjust, ReferralBonus, Clawback }
);
gql_enum!(
    /// Whether a ledger row counts towards the balance yet.
    LoyaltyTransactionState = "c360_entity::enums::LoyaltyTransactionState" { Pending, Available, Cancelled }
);
gql_enum!(
    /// Where an NPS answer was collected.
    NpsChannel = "c360_entity::enums::NpsChannel" { Email, Web, App, Sms }
);
