//! The event catalogue: every event type c360 tells the outside about,
//! defined once with its wire name, the domain whose read scope a partner
//! needs to receive it (`orders:read`, `loyalty:read`, ...), and a one-line
//! description. Writes emit most of them; the time-based ones (points
//! expiring, first-reply breaches, birthdays, sign-up anniversaries, tier
//! reviews and their notices, follow-ups due, segment entries and exits)
//! are emitted by a scheduler.

use crate::auth::Domain;

macro_rules! catalogue {
    ($($variant:ident => $name:literal, $domain:ident, $description:literal;)+) => {
        /// One kind of event; [`EventType::name`] is what the outbox stores.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventType {
            $(#[doc = $description] $variant,)+
        }

        impl EventType {
            /// Every event type, in catalogue order.
            pub const ALL: &'static [EventType] = &[$(EventType::$variant),+];

            /// The wire name, `<object>.<what happened>`.
            pub const fn name(self) -> &'static str {
                match self {
                    $(EventType::$variant => $name,)+
                }
            }

            /// The domain whose read scope a partner needs to receive it.
            pub const fn domain(self) -> Domain {
                match self {
                    $(EventType::$variant => Domain::$domain,)+
                }
            }

            /// What the event means, in one line.
            pub const fn description(self) -> &'static str {
                match self {
                    $(EventType::$variant => $description,)+
                }
            }
        }
    };
}

catalogue! {
    CustomerCreated => "customer.created", Customers,
        "A customer was created (API, upsert or import).";
    CustomerUpdated => "customer.updated", Customers,
        "Profile fields or tags of a customer changed; data names the fields, not their values.";
    CustomerConsentChanged => "customer.consent_changed", Customers,
        "The customer's consent to email marketing, SMS or phone calls changed; data names the channel.";
    CustomerMerged => "customer.merged", Customers,
        "Another customer was merged into this one and deleted.";
    CustomerErased => "customer.erased", Customers,
        "The customer's personal data was erased.";
    OrderPlaced => "order.placed", Orders,
        "An order was recorded (ingest or import) in the status it came with.";
    OrderPaid => "order.paid", Orders,
        "An order became PAID: ingested PAID, or moved there from PENDING.";
    OrderFulfilled => "order.fulfilled", Orders,
        "A paid order was fulfilled.";
    OrderCancelled => "order.cancelled", Orders,
        "An order was cancelled; points it had earned were taken back.";
    OrderRefunded => "order.refunded", Orders,
        "Part or all of a paid order was refunded; points of the amount were taken back.";
    OrderFollowUpDue => "order.follow_up_due", Orders,
        "A fulfilled order's post-purchase follow-up is due, with the channels the customer consents to, in order of preference (scheduler).";
    OrderFollowUpRecorded => "order.follow_up_recorded", Orders,
        "Staff recorded the outcome of an order's post-purchase follow-up, with its score.";
    LoyaltyPointsEarned => "loyalty.points_earned", Loyalty,
        "A paid order earned points, PENDING until its return window ends.";
    LoyaltyPointsAvailable => "loyalty.points_available", Loyalty,
        "Earned points became spendable (return window over, or none configured).";
    LoyaltyPointsRedeemed => "loyalty.points_redeemed", Loyalty,
        "Points were redeemed.";
    LoyaltyPointsExpiring => "loyalty.points_expiring", Loyalty,
        "Unspent points will expire soon (scheduler).";
    LoyaltyPointsExpired => "loyalty.points_expired", Loyalty,
        "Unspent points expired and were written off.";
    LoyaltyTierChanged => "loyalty.tier_changed", Loyalty,
        "The customer's tier went UP or DOWN, with the reason.";
    StoreCreditIssued => "store_credit.issued", Loyalty,
        "Store credit was added: issued, a refund taken as credit, or a referral reward; data says which, the amount and the balance after.";
    StoreCreditRedeemed => "store_credit.redeemed", Loyalty,
        "Store credit was spent; data has the amount and the balance after.";
    StoreCreditExpiring => "store_credit.expiring", Loyalty,
        "Unspent store credit of one entry will expire soon; told once per entry (scheduler).";
    StoreCreditExpired => "store_credit.expired", Loyalty,
        "Unspent store credit expired and was written off; data has the amount and the balance after.";
    LoyaltyTierAtRisk => "loyalty.tier_at_risk", Loyalty,
        "A tier review is within the downgrade notice and the spend so far would not keep the tier; told once per review.";
    ReferralSignedUp => "referral.signed_up", Referrals,
        "Someone signed up with the referrer's code.";
    ReferralRewarded => "referral.rewarded", Referrals,
        "The referee's first qualifying order was paid; both sides got their points.";
    ReferralRejected => "referral.rejected", Referrals,
        "An invitation was refused: self-referral, already a customer or already referred.";
    TicketOpened => "ticket.opened", Tickets,
        "A support ticket was opened.";
    TicketAgentReplied => "ticket.agent_replied", Tickets,
        "An agent replied on a ticket.";
    TicketSolved => "ticket.solved", Tickets,
        "A ticket was solved.";
    TicketFirstReplyBreached => "ticket.first_reply_breached", Tickets,
        "A ticket passed its first-reply SLA without an agent reply (scheduler).";
    TicketRated => "ticket.rated", Tickets,
        "The customer rated a solved ticket (CSAT).";
    ReviewSubmitted => "review.submitted", Reviews,
        "A product review was submitted, PENDING moderation.";
    ReviewPublished => "review.published", Reviews,
        "A review was published.";
    NpsAnswered => "nps.answered", Customers,
        "The customer answered the NPS survey; data has the score's category.";
    SegmentEntered => "segment.entered", Customers,
        "The customer started matching a tracked segment; data names the segment (scheduler).";
    SegmentExited => "segment.exited", Customers,
        "The customer stopped matching a tracked segment; data names the segment (scheduler).";
    CustomerBirthdayUpcoming => "customer.birthday_upcoming", Customers,
        "The customer's birthday is coming up (scheduler).";
    CustomerSignupAnniversary => "customer.signup_anniversary", Customers,
        "The customer signed up a whole number of years ago today, or on a day within C360_SIGNUP_ANNIVERSARY_NOTICE (scheduler).";
}

impl EventType {
    /// The type with wire name `name`.
    pub fn parse(name: &str) -> Option<EventType> {
        EventType::ALL.iter().copied().find(|t| t.name() == name)
    }

    /// Every wire name, comma-separated, for messages that list them.
    pub fn names() -> String {
        EventType::ALL
            .iter()
            .map(|t| t.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_type_has_its_own_wire_name_and_round_trips() {
        let names: HashSet<&str> = EventType::ALL.iter().map(|t| t.name()).collect();
        assert_eq!(names.len(), EventType::ALL.len());
        for &t in EventType::ALL {
            assert_eq!(EventType::parse(t.name()), Some(t));
            let (object, verb) = t.name().split_once('.').unwrap_or_default();
            assert!(!object.is_empty() && !verb.is_empty(), "{}", t.name());
            assert!(
                t.name()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_'),
                "{}",
                t.name()
            );
            assert!(t.description().ends_with('.'), "{}", t.name());
        }
        assert_eq!(EventType::parse("order.shipped"), None);
    }

    #[test]
    fn each_event_is_received_with_its_domains_read_scope() {
        assert_eq!(EventType::OrderRefunded.domain(), Domain::Orders);
        assert_eq!(EventType::LoyaltyTierChanged.domain(), Domain::Loyalty);
        assert_eq!(EventType::TicketRated.domain(), Domain::Tickets);
        assert_eq!(EventType::ReviewPublished.domain(), Domain::Reviews);
        assert_eq!(EventType::ReferralRewarded.domain(), Domain::Referrals);
        // NPS answers are read with the customer record (`customers:read`).
        assert_eq!(EventType::NpsAnswered.domain(), Domain::Customers);
    }
}
