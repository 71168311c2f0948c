//! Post-purchase follow-ups ("happy calls"): the rule the configuration
//! sets (how long after fulfilment, which channels in which order), and
//! recording what came of a due follow-up.
//!
//! The scheduler makes follow-ups due (`events::triggers::follow_ups`):
//! one `follow_ups` row per fulfilled order, DUE with the channels the
//! customer consents to or SKIPPED with none. Staff (or a helpdesk partner
//! with `tickets:write`) then record the outcome once:
//! - SATISFIED and NOT_SATISFIED carry a score of 1 to 5, NO_ANSWER and
//!   DECLINED none (`domain::follow_ups::score_for`); the comment is at
//!   most [`COMMENT_MAX`] characters, blank is none;
//! - recording what is already recorded (same outcome, score and comment)
//!   answers the follow-up unchanged and writes nothing, so a retry is
//!   harmless; anything else for a recorded follow-up is CONFLICT;
//! - an order without a due follow-up (not fulfilled, not due yet, skipped,
//!   or its customer erased) is CONFLICT saying why, an unknown order
//!   NOT_FOUND; neither writes anything.
//!
//! A recording writes the row, its audit row and `order.follow_up_recorded`
//! in the caller's transaction.

use c360_entity::enums::OrderStatus;
use c360_entity::follow_up::{self, FollowUpOutcome, FollowUpState};
use c360_entity::order;
use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};
use serde_json::json;

use super::{audit, owner};
use crate::auth::{Principal, Role};
use crate::config::{Config, FollowUpChannel};
use crate::domain::follow_ups::{Channel, score_for};
use crate::domain::ids::{Kind, gid};
use crate::domain::text;
use crate::error::{AppError, AppResult};
use crate::events::{self, payload};
use crate::service::orders::status_name;

/// The longest comment, in characters (as a ticket's CSAT comment).
pub const COMMENT_MAX: usize = 2_000;

/// When follow-ups fall due and how customers may be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowUpRule {
    /// After fulfilment.
    pub after: TimeDelta,
    /// In the business's order of preference, each once.
    pub channels: Vec<Channel>,
}

impl FollowUpRule {
    /// The rule `config` sets; `None` when follow-ups are off.
    pub fn from_config(config: &Config) -> AppResult<Option<FollowUpRule>> {
        let Some(after) = config.follow_up_after.0 else {
            return Ok(None);
        };
        let after = TimeDelta::from_std(after).map_err(|_| {
            AppError::Internal(anyhow::anyhow!(
                "C360_FOLLOW_UP_AFTER is too long to add to a date"
            ))
        })?;
        let mut channels = Vec::new();
        for channel in &config.follow_up_channels {
            let channel = match channel {
                FollowUpChannel::Email => Channel::Email,
                FollowUpChannel::Sms => Channel::Sms,
                FollowUpChannel::Phone => Channel::Phone,
            };
            if !channels.contains(&channel) {
                channels.push(channel);
            }
        }
        if channels.is_empty() {
            return Err(AppError::Internal(anyhow::anyhow!(
                "C360_FOLLOW_UP_CHANNELS names no channel; turn follow-ups off with C360_FOLLOW_UP_AFTER=off"
            )));
        }
        Ok(Some(FollowUpRule { after, channels }))
    }
}

/// What staff record of a follow-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    pub outcome: FollowUpOutcome,
    pub score: Option<i32>,
    pub comment: Option<String>,
}

impl Recording {
    /// The recording with its score checked against the outcome and its
    /// comment trimmed (blank is none); BAD_USER_INPUT naming the field.
    pub fn validate(self) -> AppResult<Recording> {
        let score = score_for(self.outcome, self.score)?;
        let comment = match self.comment {
            None => None,
            Some(c) => Some(text::at_most("comment", c.trim(), COMMENT_MAX)?.to_owned())
                .filter(|c| !c.is_empty()),
        };
        Ok(Recording {
            outcome: self.outcome,
            score,
            comment,
        })
    }

    fn is_recorded_in(&self, row: &follow_up::Model) -> bool {
        row.outcome == Some(self.outcome) && row.score == self.score && row.comment == self.comment
    }
}

/// Records the outcome of order `order_id`'s due follow-up (see the module
/// comment); returns the follow-up and its order.
pub async fn record(
    db: &impl ConnectionTrait,
    rule: Option<&FollowUpRule>,
    principal: &Principal,
    order_id: i64,
    recording: Recording,
    now: DateTime<Utc>,
) -> AppResult<(follow_up::Model, order::Model)> {
    if principal.role == Role::Customer {
        return Err(AppError::Forbidden(
            "follow-ups are recorded by staff and helpdesk partners".into(),
        ));
    }
    let recording = recording.validate()?;
    let not_found = || AppError::NotFound(format!("no order with id {order_id}"));
    let order = order::Entity::find_by_id(order_id)
        .one(db)
        .await?
        .ok_or_else(not_found)?;
    // Locks the customer (PostgreSQL), so two recordings of one follow-up queue.
    let customer = owner::writable_customer(db, principal, order.customer_id).await?;
    let number = &order.order_number;
    let Some(row) = follow_up::Entity::find_by_id(order_id).one(db).await? else {
        return Err(not_due(rule, &order));
    };
    match row.state {
        FollowUpState::Skipped => {
            return Err(AppError::Conflict(format!(
                "the follow-up of order {number} was skipped: the customer consented to none of the follow-up channels"
            )));
        }
        FollowUpState::Done if recording.is_recorded_in(&row) => return Ok((row, order)),
        FollowUpState::Done => {
            let recorded = row.outcome.map_or("", outcome_name);
            return Err(AppError::Conflict(format!(
                "the follow-up of order {number} is already recorded as {recorded}{}",
                row.score.map(|s| format!(" ({s})")).unwrap_or_default()
            )));
        }
        FollowUpState::Due => {}
    }
    if customer.erased_at.is_some() {
        return Err(AppError::Conflict(format!(
            "customer {} was erased; the follow-up of order {number} is closed",
            customer.id
        )));
    }
    let now = now.trunc_subsecs(0);
    let mut active: follow_up::ActiveModel = row.into();
    active.state = Set(FollowUpState::Done);
    active.outcome = Set(Some(recording.outcome));
    active.score = Set(recording.score);
    active.comment = Set(recording.comment);
    active.recorded_by = Set(Some(principal.subject.clone()));
    active.recorded_at = Set(Some(now));
    let row = active.update(db).await?;
    audit::record(
        db,
        principal,
        "follow_up.record",
        &gid(Kind::Order, order_id),
        Some(order.customer_id),
        json!({ "outcome": recording.outcome, "score": recording.score }),
        now,
    )
    .await?;
    let event = payload::follow_up_recorded(
        order.customer_id,
        order_id,
        number,
        row.fulfilled_at,
        recording.outcome,
        recording.score,
    );
    events::emit(db, now, event).await?;
    Ok((row, order))
}

/// Why an order without a follow-up row has none due.
fn not_due(rule: Option<&FollowUpRule>, order: &order::Model) -> AppError {
    let number = &order.order_number;
    if order.status != OrderStatus::Fulfilled {
        return AppError::Conflict(format!(
            "order {number} is {}; only a fulfilled order is followed up",
            status_name(order.status)
        ));
    }
    match rule {
        None => AppError::Conflict(
            "follow-ups are off (C360_FOLLOW_UP_AFTER); no follow-up is due".into(),
        ),
        // A fulfilled order's last change is its fulfilment.
        Some(rule) => AppError::Conflict(format!(
            "the follow-up of order {number} is not due: it falls due at {} and is listed by followUpsDue once the scheduler has found it",
            (order.updated_at + rule.after).to_rfc3339()
        )),
    }
}

/// An outcome as the API spells it.
pub fn outcome_name(outcome: FollowUpOutcome) -> &'static str {
    match outcome {
        FollowUpOutcome::Satisfied => "SATISFIED",
        FollowUpOutcome::NotSatisfied => "NOT_SATISFIED",
        FollowUpOutcome::NoAnswer => "NO_ANSWER",
        FollowUpOutcome::Declined => "DECLINED",
    }
}
