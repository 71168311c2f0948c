//! Rate limits per caller: a GCRA (generic cell rate algorithm) keyed by the
//! token's subject, or by client IP for anonymous requests, with a quota per
//! role. GCRA keeps one timestamp per caller (the theoretical arrival time of
//! its next request), so the limiter is a map of instants, not of queues.
//!
//! The state lives in this process; with several instances behind a load
//! balancer each enforces the quota on its own (shared limits belong in Redis
//! then; see docs/ARCHITECTURE.md).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::auth::{Identity, Role};
use crate::config::Config;

/// Who a request is charged to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Caller {
    Subject(Role, String),
    Address(IpAddr),
}

/// Requests per minute for each kind of caller; `0` means unlimited.
#[derive(Debug, Clone, Copy)]
pub struct Quotas {
    pub anonymous: u32,
    pub customer: u32,
    pub partner: u32,
    pub staff: u32,
}

impl Quotas {
    pub fn from_config(config: &Config) -> Self {
        Quotas {
            anonymous: config.rate_limit_anonymous,
            customer: config.rate_limit_customer,
            partner: config.rate_limit_partner,
            staff: config.rate_limit_staff,
        }
    }
}

/// Past this many tracked callers, entries whose quota has fully refilled are
/// dropped (they behave exactly like absent ones).
const SWEEP_AT: usize = 10_000;

#[derive(Debug)]
pub struct RateLimiter {
    quotas: Quotas,
    /// Theoretical arrival time of each caller's next request.
    next: Mutex<HashMap<Caller, Instant>>,
}

impl RateLimiter {
    pub fn new(quotas: Quotas) -> Self {
        RateLimiter {
            quotas,
            next: Mutex::new(HashMap::new()),
        }
    }

    /// Charges `cost` requests to the caller. `Err` carries how long to wait
    /// before the same request would be allowed.
    pub fn check(&self, identity: &Identity, ip: IpAddr, cost: u32) -> Result<(), Duration> {
        let (caller, per_minute) = match identity {
            Identity::Anonymous => (Caller::Address(ip), self.quotas.anonymous),
            Identity::Authenticated(p) => {
                let quota = match p.role {
                    Role::Customer => self.quotas.customer,
                    Role::Partner => self.quotas.partner,
                    Role::Staff => self.quotas.staff,
                };
                (Caller::Subject(p.role, p.subject.clone()), quota)
            }
        };
        if per_minute == 0 {
            return Ok(());
        }
        // One request every `interval`, with bursts of up to a minute's quota.
        let interval = Duration::from_secs(60) / per_minute;
        let tolerance = interval * (per_minute - 1);
        let now = Instant::now();
        let mut next = match self.next.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if next.len() >= SWEEP_AT {
            next.retain(|_, at| *at > now);
        }
        let tat = next
            .get(&caller)
            .copied()
            .filter(|at| *at > now)
            .unwrap_or(now);
        let new_tat = tat + interval * cost.max(1);
        let allowed_from = new_tat.checked_sub(tolerance + interval).unwrap_or(now);
        if allowed_from > now {
            return Err(allowed_from - now);
        }
        next.insert(caller, new_tat);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Principal;

    fn partner(sub: &str) -> Identity {
        Identity::Authenticated(Principal {
            role: Role::Partner,
            subject: sub.into(),
            scopes: Default::default(),
        })
    }

    #[test]
    fn a_burst_of_the_quota_passes_then_the_caller_waits_its_interval() {
        let limiter = RateLimiter::new(Quotas {
            anonymous: 2,
            customer: 0,
            partner: 3,
            staff: 0,
        });
        let ip = IpAddr::from([127, 0, 0, 1]);
        for _ in 0..3 {
            assert!(limiter.check(&partner("pos"), ip, 1).is_ok());
        }
        let wait = limiter
            .check(&partner("pos"), ip, 1)
            .expect_err("over the quota");
        assert!(
            wait <= Duration::from_secs(20) && wait > Duration::from_secs(19),
            "{wait:?}"
        );
        // Another subject and anonymous callers have their own quotas.
        assert!(limiter.check(&partner("helpdesk"), ip, 1).is_ok());
        assert!(limiter.check(&Identity::Anonymous, ip, 2).is_ok());
        assert!(limiter.check(&Identity::Anonymous, ip, 1).is_err());
        // A batch larger than the whole quota never passes.
        assert!(limiter.check(&partner("big"), ip, 4).is_err());
    }
}
