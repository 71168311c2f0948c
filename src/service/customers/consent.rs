//! Consent: email marketing, SMS and phone calls, each in the same states
//! (NOT_SUBSCRIBED until asked), recorded with the time it last changed,
//! an audit row and a `customer.consent_changed` event naming the channel.
//! Which states a caller may set is the same for every channel.

use c360_entity::customer;
use c360_entity::enums::EmailMarketingState;
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use serde_json::json;

use super::{erased_guard, target};
use crate::auth::Principal;
use crate::domain::follow_ups::Channel;
use crate::error::{AppError, AppResult};
use crate::events::{self, NewEvent, payload};
use crate::service::{audit, owner};

/// A consent state a caller may set: NOT_SUBSCRIBED means never asked.
pub fn validate_consent(state: EmailMarketingState) -> AppResult<()> {
    if state == EmailMarketingState::NotSubscribed {
        return Err(AppError::bad_input(
            "state",
            "set SUBSCRIBED, UNSUBSCRIBED or PENDING; NOT_SUBSCRIBED means consent was never asked",
        ));
    }
    Ok(())
}

/// Records an email marketing consent change with its time and its
/// `customer.consent_changed` event; setting the current state again
/// changes nothing (and keeps the original time).
pub async fn set_consent(
    db: &impl ConnectionTrait,
    principal: &Principal,
    id: i64,
    state: EmailMarketingState,
    now: DateTime<Utc>,
) -> AppResult<customer::Model> {
    let (customer, event) = change_consent(db, principal, id, state, now).await?;
    if let Some(event) = event {
        events::emit(db, now, event).await?;
    }
    Ok(customer)
}

/// The consent change and its audit row; returns the customer and the
/// event to emit, `None` when the state was already `state`.
pub(super) async fn change_consent(
    db: &impl ConnectionTrait,
    principal: &Principal,
    id: i64,
    state: EmailMarketingState,
    now: DateTime<Utc>,
) -> AppResult<(customer::Model, Option<NewEvent>)> {
    validate_consent(state)?;
    let current = owner::writable_customer(db, principal, id).await?;
    erased_guard(&current)?;
    if current.email_marketing_state == state {
        return Ok((current, None));
    }
    let from = current.email_marketing_state;
    let now: DateTime<Utc> = now.trunc_subsecs(0);
    let mut active: customer::ActiveModel = current.into();
    active.email_marketing_state = Set(state);
    active.consent_updated_at = Set(Some(now));
    active.updated_at = Set(now);
    let customer = active.update(db).await?;
    audit::record(
        db,
        principal,
        "customer.consent",
        &target(id),
        Some(id),
        json!({ "from": from, "to": state }),
        now,
    )
    .await?;
    Ok((customer, Some(payload::consent_changed(id, from, state))))
}

/// Records the consent of `channel`: email marketing consent through
/// [`set_consent`]; SMS or phone-call consent with its own time, audit row
/// and event. Setting the current state again changes nothing.
pub async fn set_channel_consent(
    db: &impl ConnectionTrait,
    principal: &Principal,
    id: i64,
    channel: Channel,
    state: EmailMarketingState,
    now: DateTime<Utc>,
) -> AppResult<customer::Model> {
    if channel == Channel::Email {
        return set_consent(db, principal, id, state, now).await;
    }
    validate_consent(state)?;
    let current = owner::writable_customer(db, principal, id).await?;
    erased_guard(&current)?;
    let from = match channel {
        Channel::Sms => current.sms_consent_state,
        _ => current.phone_consent_state,
    };
    if from == state {
        return Ok(current);
    }
    let now: DateTime<Utc> = now.trunc_subsecs(0);
    let mut active: customer::ActiveModel = current.into();
    if channel == Channel::Sms {
        active.sms_consent_state = Set(state);
        active.sms_consent_updated_at = Set(Some(now));
    } else {
        active.phone_consent_state = Set(state);
        active.phone_consent_updated_at = Set(Some(now));
    }
    active.updated_at = Set(now);
    let customer = active.update(db).await?;
    audit::record(
        db,
        principal,
        "customer.consent",
        &target(id),
        Some(id),
        json!({ "channel": channel.name(), "from": from, "to": state }),
        now,
    )
    .await?;
    let event = payload::channel_consent_changed(id, channel.name(), from, state);
    events::emit(db, now, event).await?;
    Ok(customer)
}
