//! Rate limits per caller: a GCRA (generic cell rate algorithm) keyed by the
//! token's subject, or by client IP for anonymous requests, with a quota per
//! role. GCRA keeps one timestamp per caller (the theoretical arrival time of
//! its next request), so a limiter is a map of instants, not of queues.
//!
//! Two places keep those instants:
//! - [`local`]: a map in this process, the embedded default. With several
//!   instances behind a load balancer each enforces the quota on its own.
//! - [`shared`]: Redis (`--redis-url`), one atomic script per request, so
//!   every instance charges the same caller against one quota. While Redis
//!   is unreachable the request is let through or refused (`--redis-down`).

mod local;
mod shared;

use std::net::IpAddr;
use std::time::Duration;

use crate::auth::{Identity, Role};
use crate::config::Config;
use crate::error::AppResult;

pub use local::Local;
pub use shared::Shared;

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

    /// Who the request is charged to and that caller's quota, or `None`
    /// when the caller is not limited.
    fn charge(&self, identity: &Identity, ip: IpAddr) -> Option<(Caller, Gcra)> {
        let (caller, per_minute) = match identity {
            Identity::Anonymous => (Caller::Address(ip), self.anonymous),
            Identity::Authenticated(p) => {
                let quota = match p.role {
                    Role::Customer => self.customer,
                    Role::Partner => self.partner,
                    Role::Staff => self.staff,
                };
                (Caller::Subject(p.role, p.subject.clone()), quota)
            }
        };
        Gcra::per_minute(per_minute).map(|gcra| (caller, gcra))
    }
}

/// Who a request is charged to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Caller {
    Subject(Role, String),
    Address(IpAddr),
}

impl Caller {
    /// The caller as a key suffix: role and subject, or the address.
    fn key(&self) -> String {
        match self {
            Caller::Subject(role, subject) => format!("{role}:{subject}"),
            Caller::Address(ip) => format!("ip:{ip}"),
        }
    }
}

/// One quota as GCRA sees it: a request every `interval`, with bursts of up
/// to a minute's quota (`tolerance` is the burst less one request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Gcra {
    interval: Duration,
    tolerance: Duration,
}

impl Gcra {
    fn per_minute(quota: u32) -> Option<Gcra> {
        if quota == 0 {
            return None;
        }
        let interval = Duration::from_secs(60) / quota;
        Some(Gcra {
            interval,
            tolerance: interval * (quota - 1),
        })
    }
}

/// What the limiter says of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Over the quota: the same request is allowed after this wait.
    Limited(Duration),
    /// The shared store did not answer in time; `--redis-down` decides.
    Unreachable,
}

/// The limiter `serve` uses: shared when Redis is configured.
#[derive(Debug)]
pub enum RateLimiter {
    Local(Local),
    Shared(Shared),
}

impl RateLimiter {
    /// The limiter `config` asks for. A Redis URL that does not parse is an
    /// error; a Redis that does not answer is not (see [`Shared::connect`]).
    pub fn from_config(config: &Config) -> AppResult<RateLimiter> {
        let quotas = Quotas::from_config(config);
        Ok(match &config.redis_url {
            Some(url) => RateLimiter::Shared(Shared::new(url, quotas, config)?),
            None => RateLimiter::Local(Local::new(quotas)),
        })
    }

    /// Charges `cost` requests to the caller.
    pub async fn check(&self, identity: &Identity, ip: IpAddr, cost: u32) -> Verdict {
        match self {
            RateLimiter::Local(l) => l.check(identity, ip, cost),
            RateLimiter::Shared(s) => s.check(identity, ip, cost).await,
        }
    }
}
