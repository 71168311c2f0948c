//! The limiter shared by every instance: each caller's theoretical arrival
//! time is a Redis key, read and moved by one Lua script per request.
//!
//! The script reads the time from Redis itself (`TIME`), so instances whose
//! clocks disagree still charge one timeline, and it runs atomically, so two
//! instances charging the same caller at once never both take the last
//! request of a burst. A key expires once its quota has fully refilled: an
//! idle caller costs Redis nothing.
//!
//! Every call is bounded by `--redis-timeout`. Past it, or when Redis
//! refuses the connection, the verdict is [`Verdict::Unreachable`] and the
//! caller applies `--redis-down`. The connection manager reconnects in the
//! background with backoff, so the limiter recovers without a restart; the
//! first failure and the recovery are logged once each, not per request.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::{ExposeSecret, SecretString};

use super::{Quotas, Verdict};
use crate::auth::Identity;
use crate::config::Config;
use crate::error::{AppError, AppResult};

/// KEYS[1]: the caller's key. ARGV: interval, tolerance (µs), cost.
/// Returns 0 when allowed, else the wait in µs. Lua numbers are doubles:
/// microseconds since 1970 stay exact until the year 2255.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local new_tat = tat + interval * cost
local allowed_from = new_tat - tolerance - interval
if allowed_from > now then return allowed_from - now end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return 0
";

pub struct Shared {
    quotas: Quotas,
    conn: ConnectionManager,
    script: redis::Script,
    prefix: String,
    timeout: Duration,
    /// Whether the last call failed: the log says when Redis is lost and
    /// when it is back, once each.
    failing: AtomicBool,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// A limiter on the Redis at `url`. No connection is made here: the
    /// first request (or [`Shared::connect`]) makes it, so a Redis that is
    /// down at start delays nothing.
    pub fn new(url: &SecretString, quotas: Quotas, config: &Config) -> AppResult<Shared> {
        let client = redis::Client::open(url.expose_secret()).map_err(|e| {
            AppError::Internal(anyhow::anyhow!("C360_REDIS_URL is not a Redis URL: {e}"))
        })?;
        let timeout = config.redis_timeout;
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout.max(Duration::from_secs(1))))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(2));
        let conn = ConnectionManager::new_lazy_with_config(client, manager).map_err(|e| {
            AppError::Internal(anyhow::anyhow!("cannot set up the Redis connection: {e}"))
        })?;
        Ok(Shared {
            quotas,
            conn,
            script: redis::Script::new(GCRA),
            prefix: format!("{}rl:", config.redis_key_prefix),
            timeout,
            failing: AtomicBool::new(false),
        })
    }

    /// Pings Redis once, for the start-up log: `Err` says why it does not
    /// answer. The limiter works either way.
    pub async fn connect(&self) -> Result<(), String> {
        let mut conn = self.conn.clone();
        let ping = redis::cmd("PING");
        match tokio::time::timeout(
            self.timeout.max(Duration::from_secs(1)),
            ping.query_async::<String>(&mut conn),
        )
        .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("no answer within the timeout".into()),
        }
    }

    pub async fn check(&self, identity: &Identity, ip: IpAddr, cost: u32) -> Verdict {
        let Some((caller, gcra)) = self.quotas.charge(identity, ip) else {
            return Verdict::Allowed;
        };
        let mut conn = self.conn.clone();
        let mut call = self.script.key(format!("{}{}", self.prefix, caller.key()));
        call.arg(gcra.interval.as_micros() as u64)
            .arg(gcra.tolerance.as_micros() as u64)
            .arg(cost.max(1));
        let answer = tokio::time::timeout(self.timeout, call.invoke_async::<u64>(&mut conn)).await;
        let result = match answer {
            Ok(Ok(wait)) => Ok(wait),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {} ms", self.timeout.as_millis())),
        };
        match result {
            Ok(wait) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("Redis answers again: rate limits are shared again");
                }
                match wait {
                    0 => Verdict::Allowed,
                    us => Verdict::Limited(Duration::from_micros(us)),
                }
            }
            Err(error) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(%error, "Redis is unreachable: rate limits follow C360_REDIS_DOWN until it answers");
                }
                Verdict::Unreachable
            }
        }
    }
}
