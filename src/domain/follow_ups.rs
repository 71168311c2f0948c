//! Post-purchase follow-ups ("happy calls"): the channels one may use, which
//! of them a customer allows, the outcomes staff record with their scores,
//! and how late a follow-up is still worth making.
//!
//! A channel is allowed when the customer consents to it and can be reached
//! on it: email with email marketing consent SUBSCRIBED (an erased
//! customer's placeholder address reaches nobody), SMS and phone calls with
//! a phone number and that channel's own consent SUBSCRIBED. An erased
//! customer allows none.

use c360_entity::enums::EmailMarketingState;
use c360_entity::follow_up::FollowUpOutcome;
use chrono::TimeDelta;

use super::csat;
use crate::error::{AppError, AppResult};

/// A way to reach a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    Email,
    Sms,
    Phone,
}

impl Channel {
    /// The name the API, the events and the store use.
    pub const fn name(self) -> &'static str {
        match self {
            Channel::Email => "EMAIL",
            Channel::Sms => "SMS",
            Channel::Phone => "PHONE",
        }
    }

    pub fn parse(name: &str) -> Option<Channel> {
        [Channel::Email, Channel::Sms, Channel::Phone]
            .into_iter()
            .find(|c| c.name() == name)
    }
}

/// Channels as the store keeps them: `EMAIL,SMS`.
pub fn encode(channels: &[Channel]) -> String {
    channels
        .iter()
        .map(|c| c.name())
        .collect::<Vec<_>>()
        .join(",")
}

/// The channels [`encode`] wrote, in their order.
pub fn decode(text: &str) -> Vec<Channel> {
    text.split(',').filter_map(Channel::parse).collect()
}

/// What a customer record says about reaching the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reach<'a> {
    pub erased: bool,
    pub email_marketing: EmailMarketingState,
    pub phone: Option<&'a str>,
    pub sms: EmailMarketingState,
    pub phone_call: EmailMarketingState,
}

impl Reach<'_> {
    /// Whether a follow-up may use `channel`.
    pub fn allows(&self, channel: Channel) -> bool {
        let has_phone = self.phone.is_some_and(|p| !p.trim().is_empty());
        let subscribed = |state| state == EmailMarketingState::Subscribed;
        !self.erased
            && match channel {
                Channel::Email => subscribed(self.email_marketing),
                Channel::Sms => has_phone && subscribed(self.sms),
                Channel::Phone => has_phone && subscribed(self.phone_call),
            }
    }

    /// The channels of `preference` this customer allows, in its order;
    /// empty when none is (the follow-up is skipped).
    pub fn allowed(&self, preference: &[Channel]) -> Vec<Channel> {
        preference
            .iter()
            .copied()
            .filter(|&c| self.allows(c))
            .collect()
    }
}

/// How long after it fell due a follow-up is still made. A scheduler that
/// was down for days catches up; turning follow-ups on, or lengthening the
/// delay, does not queue calls about purchases months old.
pub const fn latest_after_due() -> TimeDelta {
    TimeDelta::days(14)
}

/// Whether the customer answered: the outcomes that carry a score.
pub fn answered(outcome: FollowUpOutcome) -> bool {
    matches!(
        outcome,
        FollowUpOutcome::Satisfied | FollowUpOutcome::NotSatisfied
    )
}

/// The score an outcome is recorded with: 1 to 5 for an answered call (so
/// the satisfied share and the average cover every answer, not those who
/// happened to be scored), none for one nobody answered or the customer
/// declined. BAD_USER_INPUT on `score` otherwise.
pub fn score_for(outcome: FollowUpOutcome, score: Option<i32>) -> AppResult<Option<i32>> {
    match (answered(outcome), score) {
        (true, Some(s)) if csat::SCORES.contains(&s) => Ok(Some(s)),
        (true, Some(s)) => Err(AppError::bad_input(
            "score",
            format!("score is 1 to 5, not {s}"),
        )),
        (true, None) => Err(AppError::bad_input(
            "score",
            "an answered follow-up (SATISFIED or NOT_SATISFIED) needs a score of 1 to 5",
        )),
        (false, None) => Ok(None),
        (false, Some(_)) => Err(AppError::bad_input(
            "score",
            "NO_ANSWER and DECLINED carry no score",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use EmailMarketingState::*;

    fn reach(
        email: EmailMarketingState,
        phone: Option<&str>,
        sms: EmailMarketingState,
    ) -> Reach<'_> {
        Reach {
            erased: false,
            email_marketing: email,
            phone,
            sms,
            phone_call: Subscribed,
        }
    }

    #[test]
    fn a_channel_needs_its_consent_and_its_contact_point() {
        let all = [Channel::Phone, Channel::Email, Channel::Sms];
        assert_eq!(
            reach(Subscribed, Some("+1 415 555 0100"), Subscribed).allowed(&all),
            all
        );
        assert_eq!(
            reach(Subscribed, None, Subscribed).allowed(&all),
            [Channel::Email]
        );
        assert_eq!(
            reach(Pending, Some(" "), Subscribed).allowed(&all),
            Vec::<Channel>::new()
        );
        assert_eq!(
            reach(Unsubscribed, Some("555"), Unsubscribed).allowed(&all),
            [Channel::Phone]
        );
        let erased = Reach {
            erased: true,
            ..reach(Subscribed, Some("555"), Subscribed)
        };
        assert!(erased.allowed(&all).is_empty());
    }

    #[test]
    fn channels_round_trip_in_order() {
        let channels = [Channel::Sms, Channel::Email];
        assert_eq!(encode(&channels), "SMS,EMAIL");
        assert_eq!(decode("SMS,EMAIL"), channels);
        assert!(decode("").is_empty());
    }

    #[test]
    fn answered_calls_carry_a_score_and_others_none() {
        use FollowUpOutcome::*;
        assert_eq!(score_for(Satisfied, Some(5)).ok(), Some(Some(5)));
        assert_eq!(score_for(NotSatisfied, Some(1)).ok(), Some(Some(1)));
        assert!(score_for(Satisfied, None).is_err());
        assert!(score_for(Satisfied, Some(6)).is_err());
        assert!(score_for(NotSatisfied, Some(0)).is_err());
        assert_eq!(score_for(NoAnswer, None).ok(), Some(None));
        assert!(score_for(Declined, Some(3)).is_err());
    }
}
