//! The events scheduler: the events no write causes, found at the clock's
//! time and emitted once each.
//!
//! One pass ([`tick`]) runs every trigger in turn:
//! - `loyalty.points_expiring`: AVAILABLE points whose expiry falls within
//!   the points-expiring notice, one event per customer and expiry day;
//! - `ticket.first_reply_breached`: tickets still waiting for a first agent
//!   reply past the first-reply target;
//! - `customer.birthday_upcoming` and `customer.signup_anniversary`: the
//!   yearly return of a birthday or a sign-up day within its notice;
//! - `loyalty.tier_changed` (DOWN, REVIEW or SPEND_WINDOW) and
//!   `loyalty.tier_at_risk`: accounts whose tier review is due, reviewed
//!   under the tier policy (`service::loyalty::review_due`);
//! - `store_credit.expired` and `store_credit.expiring`: unspent store
//!   credit past its expiry written off, and each credit entry expiring
//!   within its notice told once (`triggers/credit.rs`, key
//!   `store_credit_expiring:<entry>`);
//! - `order.follow_up_due`: fulfilled orders whose follow-up delay passed,
//!   once each, with the channels the customer consents to (or recorded
//!   SKIPPED without one; `triggers/follow_ups.rs`, key
//!   `follow_up_due:<order>`);
//! - `segment.entered` / `segment.exited`: each tracked segment's kept
//!   membership re-evaluated, the difference told
//!   (`service::segments::tracking`; key
//!   `segment_entered:<segment>:<customer>:<version>`).
//!
//! `serve` runs a pass every `C360_SCHEDULER_INTERVAL` (`startup::Jobs`),
//! `c360 events tick` runs one now. Each event carries a natural key
//! (`birthday_upcoming:<customer>:<year>`, ...) held unique by the outbox,
//! so a pass may run as often as it likes, on as many instances as run it:
//! the first to insert a key emits the event, every other insert of it is
//! ignored (`outbox::emit_all_once`). A pass that was missed is caught up by
//! the next: the notices are windows ("within the next 7 days"), not single
//! days, so an event comes late rather than never.
//!
//! Every trigger finds its candidates with set-based statements in batches
//! of [`BATCH`] (keyset by id), so a pass over 100,000 customers runs a
//! fixed number of statements per thousand candidates, never one per
//! customer; before inserting, a batch asks which of its keys are already
//! in the outbox, so a pass that finds nothing new writes nothing.
//!
//! Calendar days (birthdays, anniversaries, expiry days) are days of the
//! store's time zone (`C360_TIMEZONE`). A 29 February birthday or sign-up
//! day is celebrated on 28 February in other years, as segments'
//! `anniversary()` and `nextBirthday` have it.
//!
//! Unlike the rest of `events`, the scheduler reads through `service`
//! (loyalty's expiry replay and tier spend, which it must agree with) and
//! `segment` (the anniversary condition): it sits above both, and nothing
//! below calls it.

use std::collections::HashSet;
use std::fmt;

use c360_entity::event;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect,
};

use super::{NewEvent, triggers};
use crate::app::App;
use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::service::Rules;
use crate::service::follow_ups::FollowUpRule;

/// Candidates per statement: bounds each statement's parameters and rows.
pub(crate) const BATCH: usize = 1_000;

/// How far ahead the date-based triggers tell, in whole days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notices {
    pub points_expiring: TimeDelta,
    /// Days ahead of a birthday.
    pub birthday: i64,
    /// Days ahead of a sign-up anniversary.
    pub signup_anniversary: i64,
    pub store_credit_expiring: TimeDelta,
}

impl Notices {
    /// The notices `config` sets: whole days (a part day is dropped), each
    /// shorter than a year, since a year's notice would announce the next
    /// occurrence before the last one has passed.
    pub fn from_config(config: &Config) -> AppResult<Notices> {
        let days = |d: std::time::Duration, name: &str| -> AppResult<i64> {
            let days = (d.as_secs() / 86_400) as i64;
            if days >= 365 {
                return Err(AppError::Internal(anyhow::anyhow!(
                    "{name} must be shorter than a year"
                )));
            }
            Ok(days)
        };
        Ok(Notices {
            points_expiring: TimeDelta::days(days(
                config.points_expiring_notice,
                "C360_POINTS_EXPIRING_NOTICE",
            )?),
            birthday: days(config.birthday_notice, "C360_BIRTHDAY_NOTICE")?,
            signup_anniversary: days(
                config.signup_anniversary_notice,
                "C360_SIGNUP_ANNIVERSARY_NOTICE",
            )?,
            store_credit_expiring: TimeDelta::days(days(
                config.store_credit_expiring_notice,
                "C360_STORE_CREDIT_EXPIRING_NOTICE",
            )?),
        })
    }
}

/// What one pass runs against: the time, read once, and the settings.
#[derive(Debug, Clone)]
pub struct Pass<'a> {
    pub now: DateTime<Utc>,
    /// The day `now` falls on in `tz`.
    pub today: NaiveDate,
    pub tz: Tz,
    pub notices: Notices,
    pub rules: &'a Rules,
    /// How long a ticket may wait for its first agent reply.
    pub first_reply_target: TimeDelta,
    /// When follow-ups fall due and by which channels; `None`: off.
    pub follow_up: Option<FollowUpRule>,
}

/// Events each trigger of a pass emitted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ticked {
    pub points_expiring: u64,
    pub first_reply_breached: u64,
    pub birthdays_upcoming: u64,
    pub signup_anniversaries: u64,
    pub tiers_lowered: u64,
    pub tiers_at_risk: u64,
    /// Store credit entries told as expiring.
    pub credit_expiring: u64,
    /// EXPIRE entries written (each with its `store_credit.expired`).
    pub credit_expired: u64,
    pub follow_ups_due: u64,
    /// Follow-ups recorded SKIPPED (no consented channel); no event.
    pub follow_ups_skipped: u64,
    pub segments_entered: u64,
    pub segments_exited: u64,
}

impl Ticked {
    pub fn total(&self) -> u64 {
        self.points_expiring
            + self.first_reply_breached
            + self.birthdays_upcoming
            + self.signup_anniversaries
            + self.tiers_lowered
            + self.tiers_at_risk
            + self.credit_expiring
            + self.credit_expired
            + self.follow_ups_due
            + self.segments_entered
            + self.segments_exited
    }
}

impl fmt::Display for Ticked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "events scheduled: {} points expiring, {} first-reply breaches, {} birthdays, \
             {} sign-up anniversaries, {} tiers lowered, {} tiers at risk, {} store credit \
             expiring, {} store credit expired, {} follow-ups due ({} skipped), \
             {} segment entries, {} segment exits",
            self.points_expiring,
            self.first_reply_breached,
            self.birthdays_upcoming,
            self.signup_anniversaries,
            self.tiers_lowered,
            self.tiers_at_risk,
            self.credit_expiring,
            self.credit_expired,
            self.follow_ups_due,
            self.follow_ups_skipped,
            self.segments_entered,
            self.segments_exited
        )
    }
}

/// One pass of every trigger at `app.clock`'s time, on `app`'s store.
pub async fn tick(app: &App) -> AppResult<Ticked> {
    tick_at(&app.store.conn, &app.config, &app.rules, app.clock.now()).await
}

/// One pass of every trigger at `now`.
pub async fn tick_at(
    db: &DatabaseConnection,
    config: &Config,
    rules: &Rules,
    now: DateTime<Utc>,
) -> AppResult<Ticked> {
    let first_reply_target =
        TimeDelta::from_std(config.ticket_first_reply_target).map_err(|_| {
            AppError::Internal(anyhow::anyhow!(
                "C360_TICKET_FIRST_REPLY_TARGET is too long to add to a date"
            ))
        })?;
    let pass = Pass {
        now,
        today: now.with_timezone(&config.timezone).date_naive(),
        tz: config.timezone,
        notices: Notices::from_config(config)?,
        rules,
        first_reply_target,
        follow_up: FollowUpRule::from_config(config)?,
    };
    let tiers = triggers::tiers::run(db, &pass).await?;
    let ticked = Ticked {
        points_expiring: triggers::points::run(db, &pass).await?,
        first_reply_breached: triggers::tickets::run(db, &pass).await?,
        birthdays_upcoming: triggers::dates::birthdays(db, &pass).await?,
        signup_anniversaries: triggers::dates::signup_anniversaries(db, &pass).await?,
        tiers_lowered: tiers.lowered,
        tiers_at_risk: tiers.told_at_risk,
        ..Ticked::default()
    };
    let credit = triggers::credit::run(db, &pass).await?;
    let ticked = Ticked {
        credit_expiring: credit.expiring,
        credit_expired: credit.expired,
        ..ticked
    };
    let follow_ups = triggers::follow_ups::run(db, &pass).await?;
    let ticked = Ticked {
        follow_ups_due: follow_ups.due,
        follow_ups_skipped: follow_ups.skipped,
        ..ticked
    };
    // Last, so segments on tiers see the tiers this pass lowered.
    let (segments_entered, segments_exited) = triggers::segments::run(db, &pass).await?;
    Ok(Ticked {
        segments_entered,
        segments_exited,
        ..ticked
    })
}

/// Emits those of `events` (each with its natural key) whose key is not in
/// the outbox yet: one statement to find the keys already there, one
/// insert-or-ignore for the rest (none when nothing is new). A concurrent
/// pass that inserted a key in between makes the insert skip it. How many
/// were emitted.
pub(crate) async fn emit_new(
    db: &impl ConnectionTrait,
    at: DateTime<Utc>,
    events: Vec<(NewEvent, String)>,
) -> AppResult<u64> {
    if events.is_empty() {
        return Ok(0);
    }
    let mut told: HashSet<String> = HashSet::new();
    for keys in events.chunks(BATCH) {
        let found: Vec<Option<String>> = event::Entity::find()
            .select_only()
            .column(event::Column::NaturalKey)
            .filter(event::Column::NaturalKey.is_in(keys.iter().map(|(_, k)| k.clone())))
            .into_tuple()
            .all(db)
            .await?;
        told.extend(found.into_iter().flatten());
    }
    let fresh: Vec<(NewEvent, String)> = events
        .into_iter()
        .filter(|(_, key)| told.insert(key.clone()))
        .collect();
    super::emit_all_once(db, at, fresh).await
}

/// The day `at` falls on in `tz`.
pub(crate) fn local_day(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}
