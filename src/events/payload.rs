//! The `data` of every event a write emits, built here once so the wire
//! shape of each is in one place.
//!
//! Shapes follow the API's own types: the same field names, global ids
//! (`gid://c360/Order/7`), money as `{ "amount": "12.50", "currencyCode":
//! "USD" }` (exact, `domain::money`), enum values as the API spells them
//! (`PAID`, `PARTIALLY_REFUNDED`), timestamps as the API writes them
//! (RFC 3339 UTC). Every payload carries `customerId`. Payloads stay
//! minimal: ids, statuses, money and points; never a profile's values or
//! free text (names, emails, messages, comments), so a consumer fetches
//! what it needs through the API with its own scopes.

use c360_entity::enums::{EmailMarketingState, LoyaltyTier};
use c360_entity::{
    customer, loyalty_transaction, nps_response, order, referral, review, store_credit_entry,
    ticket,
};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};

use super::{EventType, NewEvent};
use crate::domain::ids::{Kind, gid};
use crate::domain::money::format_minor;
use crate::domain::nps::Category;

/// An event about `customer_id`, whose `data` gets its `customerId`.
fn about(event_type: EventType, customer_id: i64, mut data: Value) -> NewEvent {
    if let Value::Object(fields) = &mut data {
        fields.insert(
            "customerId".into(),
            Value::String(gid(Kind::Customer, customer_id)),
        );
    }
    NewEvent {
        event_type,
        customer_id: Some(customer_id),
        data,
    }
}

/// Money as the API's `Money` type shows it.
pub fn money(minor: i64, currency: &str) -> Value {
    json!({ "amount": format_minor(minor, currency), "currencyCode": currency })
}

/// A time as the API's `DateTime` scalar writes it.
pub fn timestamp(at: DateTime<Utc>) -> Value {
    Value::String(at.to_rfc3339())
}

/// A calendar day as the API's `Date` scalar writes it (ISO 8601).
pub fn date(on: NaiveDate) -> Value {
    Value::String(on.format("%Y-%m-%d").to_string())
}

fn optional_timestamp(at: Option<DateTime<Utc>>) -> Value {
    at.map_or(Value::Null, timestamp)
}

fn id_of(kind: Kind, id: Option<i64>) -> Value {
    id.map_or(Value::Null, |id| Value::String(gid(kind, id)))
}

// ------------------------------------------------------------- customers

pub fn customer_created(c: &customer::Model) -> NewEvent {
    let customer = json!({
        "id": gid(Kind::Customer, c.id),
        "externalRef": c.external_ref,
        "emailMarketingState": c.email_marketing_state,
        "createdAt": timestamp(c.created_at),
    });
    about(
        EventType::CustomerCreated,
        c.id,
        json!({ "customer": customer }),
    )
}

/// `fields`: the API names of the fields whose values changed (`tags` for
/// the tag set), never the values.
pub fn customer_updated(customer_id: i64, fields: &[&str]) -> NewEvent {
    about(
        EventType::CustomerUpdated,
        customer_id,
        json!({ "changedFields": fields }),
    )
}

/// Email marketing consent changed (`channel` is `EMAIL`).
pub fn consent_changed(
    customer_id: i64,
    from: EmailMarketingState,
    to: EmailMarketingState,
) -> NewEvent {
    channel_consent_changed(customer_id, "EMAIL", from, to)
}

/// The consent of `channel` (`EMAIL`, `SMS` or `PHONE`) changed.
pub fn channel_consent_changed(
    customer_id: i64,
    channel: &str,
    from: EmailMarketingState,
    to: EmailMarketingState,
) -> NewEvent {
    about(
        EventType::CustomerConsentChanged,
        customer_id,
        json!({ "channel": channel, "from": from, "to": to }),
    )
}

/// `merged` went into `kept`, which the event is about.
pub fn customer_merged(kept: i64, merged: i64) -> NewEvent {
    about(
        EventType::CustomerMerged,
        kept,
        json!({ "mergedCustomerId": gid(Kind::Customer, merged) }),
    )
}

pub fn customer_erased(customer_id: i64, erased_at: DateTime<Utc>) -> NewEvent {
    about(
        EventType::CustomerErased,
        customer_id,
        json!({ "erasedAt": timestamp(erased_at) }),
    )
}

/// The customer's birthday is celebrated on `on` (scheduler). Only the
/// day, never the birth date or an age: the profile stays behind the API.
pub fn birthday_upcoming(customer_id: i64, on: NaiveDate) -> NewEvent {
    about(
        EventType::CustomerBirthdayUpcoming,
        customer_id,
        json!({ "date": date(on) }),
    )
}

/// `on` is the customer's `years`th sign-up anniversary (scheduler).
pub fn signup_anniversary(customer_id: i64, on: NaiveDate, years: i32) -> NewEvent {
    about(
        EventType::CustomerSignupAnniversary,
        customer_id,
        json!({ "date": date(on), "years": years }),
    )
}

// -------------------------------------------------------------- segments

/// The segment as the API's `Segment` names it: its id and name (a label
/// its author chose, not a customer's data), never its query.
fn segment_shape(segment_id: i64, name: &str) -> Value {
    json!({ "segment": { "id": gid(Kind::Segment, segment_id), "name": name } })
}

/// The customer entered the tracked segment (scheduler).
pub fn segment_entered(segment_id: i64, name: &str, customer_id: i64) -> NewEvent {
    about(
        EventType::SegmentEntered,
        customer_id,
        segment_shape(segment_id, name),
    )
}

/// The customer left the tracked segment (scheduler).
pub fn segment_exited(segment_id: i64, name: &str, customer_id: i64) -> NewEvent {
    about(
        EventType::SegmentExited,
        customer_id,
        segment_shape(segment_id, name),
    )
}

// ---------------------------------------------------------------- orders

fn order_shape(o: &order::Model) -> Value {
    json!({
        "id": gid(Kind::Order, o.id),
        "orderNumber": o.order_number,
        "externalRef": o.external_ref,
        "status": o.status,
        "total": money(o.total, &o.currency),
        "refunded": money(o.refunded, &o.currency),
        "placedAt": timestamp(o.placed_at),
    })
}

fn about_order(event_type: EventType, o: &order::Model, mut extra: Value) -> NewEvent {
    if let Value::Object(fields) = &mut extra {
        fields.insert("order".into(), order_shape(o));
    }
    about(event_type, o.customer_id, extra)
}

pub fn order_placed(o: &order::Model) -> NewEvent {
    about_order(EventType::OrderPlaced, o, json!({}))
}

pub fn order_paid(o: &order::Model) -> NewEvent {
    about_order(EventType::OrderPaid, o, json!({}))
}

pub fn order_fulfilled(o: &order::Model) -> NewEvent {
    about_order(EventType::OrderFulfilled, o, json!({}))
}

/// `points_taken_back`: points of the order clawed back by the cancellation.
pub fn order_cancelled(o: &order::Model, points_taken_back: i64) -> NewEvent {
    about_order(
        EventType::OrderCancelled,
        o,
        json!({ "pointsTakenBack": points_taken_back }),
    )
}

/// `amount`: this refund (minor units of the order's currency); the order's
/// `refunded` is the total refunded so far.
pub fn order_refunded(o: &order::Model, amount: i64, points_taken_back: i64) -> NewEvent {
    about_order(
        EventType::OrderRefunded,
        o,
        json!({ "amount": money(amount, &o.currency), "pointsTakenBack": points_taken_back }),
    )
}

/// The order of a follow-up, as `FollowUp` shows it.
fn follow_up_order(order_id: i64, order_number: &str, fulfilled_at: DateTime<Utc>) -> Value {
    json!({
        "id": gid(Kind::Order, order_id),
        "orderNumber": order_number,
        "fulfilledAt": timestamp(fulfilled_at),
    })
}

/// The follow-up of an order fulfilled at `fulfilled_at` is due at
/// `due_at`, by `channels` (`EMAIL`, `SMS`, `PHONE`) in the business's order
/// of preference, each one the customer consents to (scheduler).
pub fn follow_up_due(
    customer_id: i64,
    order_id: i64,
    order_number: &str,
    fulfilled_at: DateTime<Utc>,
    due_at: DateTime<Utc>,
    channels: &[&str],
) -> NewEvent {
    about(
        EventType::OrderFollowUpDue,
        customer_id,
        json!({
            "order": follow_up_order(order_id, order_number, fulfilled_at),
            "dueAt": timestamp(due_at),
            "channels": channels,
        }),
    )
}

/// The follow-up's outcome and score as recorded, without the comment.
pub fn follow_up_recorded(
    customer_id: i64,
    order_id: i64,
    order_number: &str,
    fulfilled_at: DateTime<Utc>,
    outcome: c360_entity::follow_up::FollowUpOutcome,
    score: Option<i32>,
) -> NewEvent {
    about(
        EventType::OrderFollowUpRecorded,
        customer_id,
        json!({
            "order": follow_up_order(order_id, order_number, fulfilled_at),
            "outcome": outcome,
            "score": score,
        }),
    )
}

// --------------------------------------------------------------- loyalty

fn transaction_shape(t: &loyalty_transaction::Model) -> Value {
    json!({
        "id": gid(Kind::LoyaltyTransaction, t.id),
        "kind": t.kind,
        "points": t.points,
        "state": t.state,
        "orderId": id_of(Kind::Order, t.order_id),
        "availableAt": optional_timestamp(t.available_at),
        "expiresAt": optional_timestamp(t.expires_at),
    })
}

/// The EARN row of an order.
pub fn points_earned(earn: &loyalty_transaction::Model) -> NewEvent {
    about(
        EventType::LoyaltyPointsEarned,
        earn.customer_id,
        json!({ "points": earn.points, "transaction": transaction_shape(earn) }),
    )
}

/// `points` became spendable.
pub fn points_available(customer_id: i64, points: i64) -> NewEvent {
    about(
        EventType::LoyaltyPointsAvailable,
        customer_id,
        json!({ "points": points }),
    )
}

/// The REDEEM row; `points` is what was spent (the row holds it negative).
pub fn points_redeemed(redeem: &loyalty_transaction::Model) -> NewEvent {
    about(
        EventType::LoyaltyPointsRedeemed,
        redeem.customer_id,
        json!({ "points": -redeem.points, "transaction": transaction_shape(redeem) }),
    )
}

pub fn points_expired(customer_id: i64, points: i64) -> NewEvent {
    about(
        EventType::LoyaltyPointsExpired,
        customer_id,
        json!({ "points": points }),
    )
}

/// `points` of the customer's AVAILABLE balance expire on `on` (a day of
/// the store's time zone), the first of them at `first_at` (scheduler).
pub fn points_expiring(
    customer_id: i64,
    points: i64,
    on: NaiveDate,
    first_at: DateTime<Utc>,
) -> NewEvent {
    about(
        EventType::LoyaltyPointsExpiring,
        customer_id,
        json!({ "points": points, "expiresOn": date(on), "expiresAt": timestamp(first_at) }),
    )
}

/// `direction` is `UP` or `DOWN`; `reason` what moved the trailing spend.
pub fn tier_changed(
    customer_id: i64,
    from: LoyaltyTier,
    to: LoyaltyTier,
    direction: &str,
    reason: &str,
) -> NewEvent {
    about(
        EventType::LoyaltyTierChanged,
        customer_id,
        json!({ "from": from, "to": to, "direction": direction, "reason": reason }),
    )
}

/// The downgrade notice before the review at `review_at`: the customer
/// holds `tier`, would hold `after` once reviewed on the spend so far, and
/// needs `spend_to_keep` (minor units of `currency`) more before then to
/// keep it.
pub fn tier_at_risk(
    customer_id: i64,
    tier: LoyaltyTier,
    after: LoyaltyTier,
    review_at: DateTime<Utc>,
    spend_to_keep: i64,
    currency: &str,
) -> NewEvent {
    about(
        EventType::LoyaltyTierAtRisk,
        customer_id,
        json!({
            "tier": tier,
            "tierAfterReview": after,
            "reviewAt": timestamp(review_at),
            "spendToKeep": money(spend_to_keep, currency),
        }),
    )
}

// ---------------------------------------------------------- store credit

/// A store credit entry as the API's `StoreCreditEntry` shows it.
fn credit_entry_shape(e: &store_credit_entry::Model) -> Value {
    json!({
        "id": gid(Kind::StoreCreditEntry, e.id),
        "kind": e.kind,
        "amount": money(e.amount, &e.currency),
        "balanceAfter": money(e.balance_after, &e.currency),
        "orderId": id_of(Kind::Order, e.order_id),
        "expiresAt": optional_timestamp(e.expires_at),
        "createdAt": timestamp(e.created_at),
    })
}

/// An ISSUE, REFUND_TO_CREDIT or REFERRAL_REWARD entry: `kind` says which.
pub fn store_credit_issued(e: &store_credit_entry::Model) -> NewEvent {
    about(
        EventType::StoreCreditIssued,
        e.customer_id,
        json!({
            "kind": e.kind,
            "amount": money(e.amount, &e.currency),
            "currencyCode": e.currency,
            "balanceAfter": money(e.balance_after, &e.currency),
            "entry": credit_entry_shape(e),
        }),
    )
}

/// A REDEEM entry; `amount` is what was spent (the entry holds it negative).
pub fn store_credit_redeemed(e: &store_credit_entry::Model) -> NewEvent {
    about(
        EventType::StoreCreditRedeemed,
        e.customer_id,
        json!({
            "amount": money(-e.amount, &e.currency),
            "currencyCode": e.currency,
            "balanceAfter": money(e.balance_after, &e.currency),
            "entry": credit_entry_shape(e),
        }),
    )
}

/// `unspent` of credit entry `e` expires at its `expires_at` (scheduler).
pub fn store_credit_expiring(e: &store_credit_entry::Model, unspent: i64) -> NewEvent {
    about(
        EventType::StoreCreditExpiring,
        e.customer_id,
        json!({
            "amount": money(unspent, &e.currency),
            "currencyCode": e.currency,
            "expiresAt": optional_timestamp(e.expires_at),
            "entry": credit_entry_shape(e),
        }),
    )
}

/// The EXPIRE entry `e` wrote off what was left of the credit entries
/// `expired`.
pub fn store_credit_expired(e: &store_credit_entry::Model, expired: &[i64]) -> NewEvent {
    let entries: Vec<String> = expired
        .iter()
        .map(|id| gid(Kind::StoreCreditEntry, *id))
        .collect();
    about(
        EventType::StoreCreditExpired,
        e.customer_id,
        json!({
            "amount": money(-e.amount, &e.currency),
            "currencyCode": e.currency,
            "balanceAfter": money(e.balance_after, &e.currency),
            "expiredEntryIds": entries,
        }),
    )
}

// ------------------------------------------------------------- referrals

/// The referral as the API's `Referral` shows it, less the referee's email;
/// the event is about the referrer.
fn about_referral(event_type: EventType, r: &referral::Model, mut extra: Value) -> NewEvent {
    let referral = json!({
        "id": gid(Kind::Referral, r.id),
        "code": r.code,
        "status": r.status,
        "rejectionReason": r.rejection_reason,
        "referrerRewardPoints": r.referrer_reward_points,
        "refereeRewardPoints": r.referee_reward_points,
        "referrer": { "id": gid(Kind::Customer, r.customer_id) },
        "referee": r.referee_customer_id.map(|id| json!({ "id": gid(Kind::Customer, id) })),
    });
    if let Value::Object(fields) = &mut extra {
        fields.insert("referral".into(), referral);
    }
    about(event_type, r.customer_id, extra)
}

pub fn referral_signed_up(r: &referral::Model) -> NewEvent {
    about_referral(EventType::ReferralSignedUp, r, json!({}))
}

/// `order_id`: the referee's order whose payment earned the reward.
pub fn referral_rewarded(r: &referral::Model, order_id: i64) -> NewEvent {
    about_referral(
        EventType::ReferralRewarded,
        r,
        json!({ "orderId": gid(Kind::Order, order_id) }),
    )
}

pub fn referral_rejected(r: &referral::Model) -> NewEvent {
    about_referral(EventType::ReferralRejected, r, json!({}))
}

// --------------------------------------------------------------- tickets

fn about_ticket(event_type: EventType, t: &ticket::Model, mut extra: Value) -> NewEvent {
    let ticket = json!({
        "id": gid(Kind::Ticket, t.id),
        "status": t.status,
        "priority": t.priority,
        "channel": t.channel,
        "createdAt": timestamp(t.created_at),
        "firstReplyAt": optional_timestamp(t.first_reply_at),
        "solvedAt": optional_timestamp(t.solved_at),
    });
    if let Value::Object(fields) = &mut extra {
        fields.insert("ticket".into(), ticket);
    }
    about(event_type, t.customer_id, extra)
}

pub fn ticket_opened(t: &ticket::Model) -> NewEvent {
    about_ticket(EventType::TicketOpened, t, json!({}))
}

/// `first`: the ticket's first agent reply (the one its SLA measures).
pub fn ticket_agent_replied(t: &ticket::Model, first: bool) -> NewEvent {
    about_ticket(
        EventType::TicketAgentReplied,
        t,
        json!({ "firstReply": first }),
    )
}

pub fn ticket_solved(t: &ticket::Model) -> NewEvent {
    about_ticket(EventType::TicketSolved, t, json!({}))
}

/// `t` has waited for its first agent reply past `due_at`, its creation
/// plus the first-reply target (scheduler).
pub fn ticket_first_reply_breached(t: &ticket::Model, due_at: DateTime<Utc>) -> NewEvent {
    about_ticket(
        EventType::TicketFirstReplyBreached,
        t,
        json!({ "firstReplyDueAt": timestamp(due_at) }),
    )
}

/// The score, as the API's `Satisfaction` has it, without the comment.
pub fn ticket_rated(t: &ticket::Model) -> NewEvent {
    let satisfaction = t
        .satisfaction_score
        .map(|score| json!({ "score": score, "ratedAt": optional_timestamp(t.satisfaction_at) }));
    about_ticket(
        EventType::TicketRated,
        t,
        json!({ "satisfaction": satisfaction }),
    )
}

// ------------------------------------------------------ reviews and NPS

fn about_review(event_type: EventType, r: &review::Model) -> NewEvent {
    let review = json!({
        "id": gid(Kind::Review, r.id),
        "productSku": r.product_sku,
        "orderId": id_of(Kind::Order, r.order_id),
        "rating": r.rating,
        "status": r.status,
        "verifiedPurchase": r.verified_purchase,
        "createdAt": timestamp(r.created_at),
    });
    about(event_type, r.customer_id, json!({ "review": review }))
}

pub fn review_submitted(r: &review::Model) -> NewEvent {
    about_review(EventType::ReviewSubmitted, r)
}

pub fn review_published(r: &review::Model) -> NewEvent {
    about_review(EventType::ReviewPublished, r)
}

pub fn nps_answered(a: &nps_response::Model) -> NewEvent {
    let response = json!({
        "id": gid(Kind::NpsResponse, a.id),
        "score": a.score,
        "category": Category::of(a.score).as_str(),
        "channel": a.channel,
        "createdAt": timestamp(a.created_at),
    });
    about(
        EventType::NpsAnswered,
        a.customer_id,
        json!({ "npsResponse": response }),
    )
}

#[cfg(test)]
mod tests {
    use c360_entity::enums::{OrderChannel, OrderStatus};

    use super::*;

    #[test]
    fn orders_are_shaped_like_the_api_shows_them() {
        let at = DateTime::parse_from_rfc3339("2026-11-30T09:15:00Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default();
        let o = order::Model {
            id: 7,
            customer_id: 42,
            order_number: "C360-000007".into(),
            external_ref: Some("pos-7".into()),
            status: OrderStatus::PartiallyRefunded,
            channel: OrderChannel::Pos,
            currency: "JPY".into(),
            subtotal: 1250,
            discount: 0,
            tax: 0,
            total: 1250,
            refunded: 250,
            placed_at: at,
            created_at: at,
            updated_at: at,
        };
        let e = order_refunded(&o, 250, 2);
        assert_eq!(e.event_type, EventType::OrderRefunded);
        assert_eq!(e.customer_id, Some(42));
        assert_eq!(
            e.data,
            json!({
                "customerId": "gid://c360/Customer/42",
                "amount": { "amount": "250", "currencyCode": "JPY" },
                "pointsTakenBack": 2,
                "order": {
                    "id": "gid://c360/Order/7",
                    "orderNumber": "C360-000007",
                    "externalRef": "pos-7",
                    "status": "PARTIALLY_REFUNDED",
                    "total": { "amount": "1250", "currencyCode": "JPY" },
                    "refunded": { "amount": "250", "currencyCode": "JPY" },
                    "placedAt": "2026-11-30T09:15:00+00:00",
                },
            })
        );
    }

    #[test]
    fn nps_answers_carry_their_category() {
        let a = nps_response::Model {
            id: 3,
            customer_id: 5,
            external_ref: None,
            score: 7,
            comment: Some("free text stays out".into()),
            channel: c360_entity::enums::NpsChannel::Email,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
        };
        let data = nps_answered(&a).data;
        assert_eq!(data["npsResponse"]["category"], "PASSIVE");
        assert_eq!(data["npsResponse"]["channel"], "EMAIL");
        assert!(!data.to_string().contains("free text"), "{data}");
    }
}
