//! The clock every rule reads the time from.
//!
//! `serve` and the CLI run on the system clock. Tests hold a settable one
//! and move it (forward past a return window, back to write history), so
//! time rules are tested without sleeping or rewriting rows.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};

/// A source of the current time, cheap to clone; clones share the setting.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// `None` on the system clock.
    setting: Option<Arc<Mutex<Setting>>>,
}

#[derive(Clone, Copy, Debug)]
enum Setting {
    /// The system time moved by a fixed amount; time still flows.
    Shifted(TimeDelta),
    /// A stopped clock showing this instant.
    Stopped(DateTime<Utc>),
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock::default()
    }

    /// A clock that shows the system time until it is moved or stopped.
    pub fn settable() -> Clock {
        Clock {
            setting: Some(Arc::new(Mutex::new(Setting::Shifted(TimeDelta::zero())))),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        let Some(setting) = &self.setting else {
            return Utc::now();
        };
        match *setting.lock().unwrap_or_else(PoisonError::into_inner) {
            Setting::Shifted(by) => Utc::now() + by,
            Setting::Stopped(at) => at,
        }
    }

    /// Now, to the second, as rows store their timestamps.
    pub fn now_secs(&self) -> DateTime<Utc> {
        self.now().trunc_subsecs(0)
    }

    /// Moves a settable clock by `by` (negative moves it back); a no-op on
    /// the system clock.
    pub fn advance(&self, by: TimeDelta) {
        if let Some(setting) = &self.setting {
            let mut s = setting.lock().unwrap_or_else(PoisonError::into_inner);
            *s = match *s {
                Setting::Shifted(d) => Setting::Shifted(d + by),
                Setting::Stopped(at) => Setting::Stopped(at + by),
            };
        }
    }

    /// Stops a settable clock at `at`; a no-op on the system clock.
    pub fn set(&self, at: DateTime<Utc>) {
        if let Some(setting) = &self.setting {
            *setting.lock().unwrap_or_else(PoisonError::into_inner) = Setting::Stopped(at);
        }
    }

    /// Lets a settable clock show the system time again.
    pub fn reset(&self) {
        if let Some(setting) = &self.setting {
            *setting.lock().unwrap_or_else(PoisonError::into_inner) =
                Setting::Shifted(TimeDelta::zero());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settable_clock_moves_and_stops_while_the_system_clock_does_not() {
        let clock = Clock::settable();
        let before = Utc::now();
        clock.advance(TimeDelta::days(30));
        assert!(clock.now() >= before + TimeDelta::days(30));
        let at = DateTime::parse_from_rfc3339("2020-02-29T12:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default();
        clock.set(at);
        assert_eq!(clock.now(), at);
        clock.advance(TimeDelta::hours(1));
        assert_eq!(clock.now(), at + TimeDelta::hours(1));
        let shared = clock.clone();
        shared.reset();
        assert!(clock.now() < at + TimeDelta::days(365 * 10));
        let system = Clock::system();
        system.set(at);
        assert!(system.now() > at);
    }
}
