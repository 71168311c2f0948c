//! Referrals: invitations by email, attribution at sign-up by code, and the
//! rewards on the referee's first qualifying PAID order, written in the same
//! transaction as that status change and only once.
//!
//! A blocked invitation is kept as a REJECTED row whose reason says why:
//! `SELF_REFERRAL`, `ALREADY_CUSTOMER` or `ALREADY_REFERRED`.
//!
//! Events: `referral.rejected` (emitted by [`invite`]); `referral.signed_up`
//! and `referral.rewarded` are returned by [`attribute`] and
//! [`reward_on_paid`] to the sign-up and the payment, which emit them with
//! their own events.

use c360_entity::enums::{
    LoyaltyTransactionKind, LoyaltyTransactionState, OrderStatus, ReferralStatus,
};
use c360_entity::{customer, loyalty_account, loyalty_transaction, order, referral};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set,
};
use serde_json::json;

use super::customers::normalise_email;
use super::{Rules, audit, loyalty, metrics, owner, store_credit};
use crate::auth::Principal;
use crate::domain::ids::{Kind, gid};
use crate::error::{AppError, AppResult};
use crate::events::{self, NewEvent, payload};

/// Statuses of a referral that still holds its email.
const LIVE: [ReferralStatus; 4] = [
    ReferralStatus::Invited,
    ReferralStatus::SignedUp,
    ReferralStatus::Converted,
    ReferralStatus::Rewarded,
];

async fn code_of(db: &impl ConnectionTrait, customer_id: i64) -> AppResult<String> {
    loyalty_account::Entity::find()
        .filter(loyalty_account::Column::CustomerId.eq(customer_id))
        .one(db)
        .await?
        .map(|a| a.referral_code)
        .ok_or_else(|| AppError::NotFound(format!("customer {customer_id} has no loyalty account")))
}

/// Invites `email` on behalf of `referrer`. A blocked invitation is stored
/// REJECTED with its reason and returned, so the caller sees why.
pub async fn invite(
    db: &impl ConnectionTrait,
    principal: &Principal,
    referrer: i64,
    email: &str,
    now: DateTime<Utc>,
) -> AppResult<referral::Model> {
    let email = normalise_email(email)?;
    let who = owner::writable_customer(db, principal, referrer).await?;
    let code = code_of(db, referrer).await?;
    let reason = if who.email == email {
        Some("SELF_REFERRAL")
    } else if customer::Entity::find()
        .filter(customer::Column::Email.eq(email.as_str()))
        .count(db)
        .await?
        > 0
    {
        Some("ALREADY_CUSTOMER")
    } else if referral::Entity::find()
        .filter(referral::Column::RefereeEmail.eq(email.as_str()))
        .filter(referral::Column::Status.is_in(LIVE))
        .count(db)
        .await?
        > 0
    {
        Some("ALREADY_REFERRED")
    } else {
        None
    };
    let now = now.trunc_subsecs(0);
    let row = referral::ActiveModel {
        customer_id: Set(referrer),
        referee_email: Set(email),
        referee_customer_id: Set(None),
        code: Set(code),
        status: Set(if reason.is_some() {
            ReferralStatus::Rejected
        } else {
            ReferralStatus::Invited
        }),
        rejection_reason: Set(reason.map(str::to_owned)),
        referrer_reward_points: Set(0),
        referee_reward_points: Set(0),
        invited_at: Set(now),
        signed_up_at: Set(None),
        converted_at: Set(None),
        rewarded_at: Set(None),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    audit::record(
        db,
        principal,
        "referral.invite",
        &gid(Kind::Referral, row.id),
        Some(referrer),
        json!({ "status": row.status, "reason": reason }),
        now,
    )
    .await?;
    if row.status == ReferralStatus::Rejected {
        events::emit(db, now, payload::referral_rejected(&row)).await?;
    }
    Ok(row)
}

/// The referrer a sign-up code names; BAD_USER_INPUT for an unknown code.
pub async fn referrer_of_code(db: &impl ConnectionTrait, code: &str) -> AppResult<i64> {
    loyalty_account::Entity::find()
        .filter(loyalty_account::Column::ReferralCode.eq(code.trim().to_uppercase()))
        .one(db)
        .await?
        .map(|a| a.customer_id)
        .ok_or_else(|| {
            AppError::bad_input("referralCode", format!("`{code}` is not a referral code"))
        })
}

/// Attributes a new customer to the referrer of `code`: the referrer's
/// invitation of that email becomes SIGNED_UP (a row is created when the
/// code was shared without an invitation). Returns the
/// `referral.signed_up` event, for the caller to emit with the sign-up's.
pub async fn attribute(
    db: &impl ConnectionTrait,
    referrer: i64,
    referee: &customer::Model,
    now: DateTime<Utc>,
) -> AppResult<NewEvent> {
    let invited = referral::Entity::find()
        .filter(referral::Column::CustomerId.eq(referrer))
        .filter(referral::Column::RefereeEmail.eq(referee.email.as_str()))
        .filter(referral::Column::Status.eq(ReferralStatus::Invited))
        .one(db)
        .await?;
    let row = match invited {
        Some(row) => {
            let mut active: referral::ActiveModel = row.into();
            active.status = Set(ReferralStatus::SignedUp);
            active.referee_customer_id = Set(Some(referee.id));
            active.signed_up_at = Set(Some(now));
            active.updated_at = Set(now);
            active.update(db).await?
        }
        None => {
            referral::ActiveModel {
                customer_id: Set(referrer),
                referee_email: Set(referee.email.clone()),
                referee_customer_id: Set(Some(referee.id)),
                code: Set(code_of(db, referrer).await?),
                status: Set(ReferralStatus::SignedUp),
                rejection_reason: Set(None),
                referrer_reward_points: Set(0),
                referee_reward_points: Set(0),
                invited_at: Set(now),
                signed_up_at: Set(Some(now)),
                converted_at: Set(None),
                rewarded_at: Set(None),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(db)
            .await?
        }
    };
    Ok(payload::referral_signed_up(&row))
}

/// Called when `order` has just become PAID: if it is the referee's first
/// paid order, in the base currency and at least the minimum, each side gets
/// its reward (`Rules::store_credit`: points, AVAILABLE at once, store
/// credit in the order's currency, or both) and the referral becomes
/// REWARDED. The ledger keys `referral:<id>:referrer|referee`, in the points
/// ledger and the store credit ledger alike, make a second reward a unique
/// violation rather than doubled points or credit. Returns the
/// `referral.rewarded` event, and `store_credit.issued` for credit, when a
/// reward was written, for the caller to emit with the payment's events.
pub async fn reward_on_paid(
    db: &impl ConnectionTrait,
    rules: &Rules,
    order: &order::Model,
    now: DateTime<Utc>,
) -> AppResult<Vec<NewEvent>> {
    if order.currency != rules.base_currency || order.total < rules.referral_min_order {
        return Ok(Vec::new());
    }
    let Some(row) = referral::Entity::find()
        .filter(referral::Column::RefereeCustomerId.eq(order.customer_id))
        .filter(referral::Column::Status.eq(ReferralStatus::SignedUp))
        .one(db)
        .await?
    else {
        return Ok(Vec::new());
    };
    let paid_before = order::Entity::find()
        .filter(order::Column::CustomerId.eq(order.customer_id))
        .filter(order::Column::Id.ne(order.id))
        .filter(order::Column::Status.is_in([
            OrderStatus::Paid,
            OrderStatus::Fulfilled,
            OrderStatus::PartiallyRefunded,
            OrderStatus::Refunded,
        ]))
        .count(db)
        .await?;
    if paid_before > 0 {
        return Ok(Vec::new());
    }
    let credit = &rules.store_credit;
    let points_of = |points: i64, gives: bool| if gives { points } else { 0 };
    let (referrer_points, referee_points) = (
        points_of(rules.referral_points.0, credit.referrer.points),
        points_of(rules.referral_points.1, credit.referee.points),
    );
    let mut events = Vec::new();
    for (customer, amount, side) in [
        (row.customer_id, credit.referrer.credit, "referrer"),
        (order.customer_id, credit.referee.credit, "referee"),
    ] {
        if amount <= 0 {
            continue;
        }
        let reward = store_credit::ReferralCredit {
            customer_id: customer,
            amount,
            key: format!("referral:{}:{side}", row.id),
            code: &row.code,
        };
        events.push(store_credit::reward_referral(db, rules, order, reward, now).await?);
    }
    for (customer, points, side) in [
        (row.customer_id, referrer_points, "referrer"),
        (order.customer_id, referee_points, "referee"),
    ] {
        if points <= 0 {
            continue;
        }
        loyalty_transaction::ActiveModel {
            customer_id: Set(customer),
            kind: Set(LoyaltyTransactionKind::ReferralBonus),
            points: Set(points),
            state: Set(LoyaltyTransactionState::Available),
            order_id: Set(Some(order.id)),
            idempotency_key: Set(Some(format!("referral:{}:{side}", row.id))),
            description: Set(Some(format!("referral {}", row.code))),
            available_at: Set(Some(now)),
            expires_at: Set(rules.expiry(now)),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(db)
        .await?;
    }
    let referrer = row.customer_id;
    let mut active: referral::ActiveModel = row.into();
    active.status = Set(ReferralStatus::Rewarded);
    active.referrer_reward_points = Set(referrer_points);
    active.referee_reward_points = Set(referee_points);
    active.converted_at = Set(Some(now));
    active.rewarded_at = Set(Some(now));
    active.updated_at = Set(now);
    let row = active.update(db).await?;
    metrics::refresh_for(db, &rules.base_currency, &[referrer], now).await?;
    loyalty::refresh_balances(db, Some(&[referrer, order.customer_id]), now).await?;
    events.insert(0, payload::referral_rewarded(&row, order.id));
    Ok(events)
}
