//! The in-process limiter: each caller's theoretical arrival time in a map.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use super::{Caller, Quotas, Verdict};
use crate::auth::Identity;

/// Past this many tracked callers, entries whose quota has fully refilled are
/// dropped (they behave exactly like absent ones).
const SWEEP_AT: usize = 10_000;

#[derive(Debug)]
pub struct Local {
    quotas: Quotas,
    /// Theoretical arrival time of each caller's next request.
    next: Mutex<HashMap<Caller, Instant>>,
}

impl Local {
    pub fn new(quotas: Quotas) -> Self {
        Local {
            quotas,
            next: Mutex::new(HashMap::new()),
        }
    }

    pub fn check(&self, identity: &Identity, ip: IpAddr, cost: u32) -> Verdict {
        let Some((caller, gcra)) = self.quotas.charge(identity, ip) else {
            return Verdict::Allowed;
        };
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
        let new_tat = tat + gcra.interval * cost.max(1);
        let allowed_from = new_tat
            .checked_sub(gcra.tolerance + gcra.interval)
            .unwrap_or(now);
        if allowed_from > now {
            return Verdict::Limited(allowed_from - now);
        }
        next.insert(caller, new_tat);
        Verdict::Allowed
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::auth::{Principal, Role};

    fn partner(sub: &str) -> Identity {
        Identity::Authenticated(Principal {
            role: Role::Partner,
            subject: sub.into(),
            scopes: Default::default(),
        })
    }

    #[test]
    fn a_burst_of_the_quota_passes_then_the_caller_waits_its_interval() {
        let limiter = Local::new(Quotas {
            anonymous: 2,
            customer: 0,
            partner: 3,
            staff: 0,
        });
        let ip = IpAddr::from([127, 0, 0, 1]);
        for _ in 0..3 {
            assert_eq!(limiter.check(&partner("pos"), ip, 1), Verdict::Allowed);
        }
        let Verdict::Limited(wait) = limiter.check(&partner("pos"), ip, 1) else {
            panic!("over the quota");
        };
        assert!(
            wait <= Duration::from_secs(20) && wait > Duration::from_secs(19),
            "{wait:?}"
        );
        // Another subject and anonymous callers have their own quotas.
        assert_eq!(limiter.check(&partner("helpdesk"), ip, 1), Verdict::Allowed);
        assert_eq!(limiter.check(&Identity::Anonymous, ip, 2), Verdict::Allowed);
        assert_ne!(limiter.check(&Identity::Anonymous, ip, 1), Verdict::Allowed);
        // A batch larger than the whole quota never passes.
        assert_ne!(limiter.check(&partner("big"), ip, 4), Verdict::Allowed);
    }
}
