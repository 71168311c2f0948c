//! When a failed attempt is tried again: the configured schedule (by
//! default the Standard Webhooks one: immediately, 5 s, 5 min, 30 min,
//! 2 h, 5 h, 10 h, 10 h) with up to a tenth of jitter, so the retries of
//! many deliveries that failed together (an endpoint's outage) spread out
//! instead of arriving at once; and a `Retry-After` the endpoint sent.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};

/// The longest `Retry-After` honoured: an endpoint cannot park its
/// deliveries for longer than the schedule's longest wait.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10 * 3600);

/// The wait before attempt `attempt` (1-based) by `schedule`; `None` once
/// the schedule is exhausted.
pub fn delay_before(schedule: &[Duration], attempt: usize) -> Option<Duration> {
    schedule.get(attempt.checked_sub(1)?).copied()
}

/// `delay` plus up to a tenth more, drawn from the OS generator.
pub fn jittered(delay: Duration) -> Duration {
    let mut bytes = [0u8; 4];
    // Without randomness the retry comes on time: jitter is a courtesy.
    let _ = getrandom::fill(&mut bytes);
    let fraction = f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX);
    delay + delay.mul_f64(0.1 * fraction)
}

/// `now + delay`, rounded up to the second, as rows store their times: a
/// retry is never due before its wait is over.
pub fn due_at(now: DateTime<Utc>, delay: Duration) -> DateTime<Utc> {
    let at = now + TimeDelta::from_std(delay).unwrap_or(TimeDelta::MAX);
    let whole = at.trunc_subsecs(0);
    if whole == at {
        whole
    } else {
        whole + TimeDelta::seconds(1)
    }
}

/// A `Retry-After` value: delay-seconds or an HTTP date, relative to `now`;
/// capped at [`MAX_RETRY_AFTER`].
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let at = DateTime::parse_from_rfc2822(value).ok()?.to_utc();
            (at - now).to_std().unwrap_or(Duration::ZERO)
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_runs_out_and_jitter_stays_within_a_tenth() {
        let schedule = [
            Duration::ZERO,
            Duration::from_secs(5),
            Duration::from_secs(300),
        ];
        assert_eq!(delay_before(&schedule, 1), Some(Duration::ZERO));
        assert_eq!(delay_before(&schedule, 3), Some(Duration::from_secs(300)));
        assert_eq!(delay_before(&schedule, 4), None);
        for _ in 0..100 {
            let j = jittered(Duration::from_secs(300));
            assert!(
                j >= Duration::from_secs(300) && j <= Duration::from_secs(330),
                "{j:?}"
            );
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates_and_due_times_round_up() {
        let now = DateTime::parse_from_rfc3339("2026-11-30T10:00:00Z")
            .map(|d| d.to_utc())
            .unwrap_or_default();
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after("Mon, 30 Nov 2026 10:01:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("999999", now), Some(MAX_RETRY_AFTER));
        assert_eq!(
            due_at(now, Duration::from_secs(2)),
            now + TimeDelta::seconds(2)
        );
        assert_eq!(
            due_at(now, Duration::from_millis(2100)),
            now + TimeDelta::seconds(3)
        );
    }
}
