//! PostgreSQL connections kept between the reads of [`super::read_pg`]
//! rather than handed back to sqlx's pool after every statement.
//!
//! Handing a connection back costs more than it looks: sqlx spawns a task
//! that pings it (a `Sync` and its `ReadyForQuery`, one round trip to the
//! server) before the pool may lend it again, and that task wakes another
//! worker thread. A profile request runs one to three statements, so the
//! ping was a round trip and a cross-thread wake per statement; keeping
//! connections here took the profile alone from 770 to 941 req/s and the
//! list at concurrency 64 from 613 to 718 (BENCHMARKS.md, "Reads keep their
//! connection between statements").
//!
//! The ping exists for connections a caller gave up on half-way (a
//! cancelled request, an error mid-read): only a read that ran to the end
//! keeps its connection here, and everything else is dropped the way it
//! always was, through sqlx's ping. A connection sitting here is tested as
//! the pool tests its own idle ones: one idle longer than
//! [`super::TEST_IF_IDLE_FOR`] goes back through the pool rather than
//! straight into use, and a read
//! that loses its connection sends the others back too, since a server that
//! dropped one (a restart, a failover) most likely dropped them all.
//!
//! At most half the pool is kept, so writes and other reads, which take
//! their connections from the pool, always find the rest there.

use std::sync::Mutex;
use std::time::Instant;

use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::{PgPool, Postgres};

/// The kept connections, the most recently used last.
pub struct Held {
    idle: Mutex<Vec<(PoolConnection<Postgres>, Instant)>>,
    limit: usize,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("idle", &self.count())
            .field("limit", &self.limit)
            .finish()
    }
}

impl Default for Held {
    /// Keeps none.
    fn default() -> Held {
        Held::new(0)
    }
}

impl Drop for Held {
    /// A connection handed back spawns sqlx's ping on the current Tokio
    /// runtime, and sqlx panics without one: a set dropped after its runtime
    /// (a store outliving `main`'s) closes its connections where it is.
    fn drop(&mut self) {
        if tokio::runtime::Handle::try_current().is_err() {
            let idle = self
                .idle
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (conn, _) in idle.drain(..) {
                drop(conn.detach());
            }
        }
    }
}

impl Held {
    /// Keeps up to half of a pool of `max_connections`.
    pub fn new(max_connections: u32) -> Held {
        Held {
            idle: Mutex::new(Vec::new()),
            limit: (max_connections / 2) as usize,
        }
    }

    /// Connections kept now: idle, though the pool counts them in use.
    pub fn count(&self) -> usize {
        self.lock().len()
    }

    /// The most recently kept connection, unless the pool is closing or it
    /// has been idle too long; then every kept connection goes back.
    pub fn take(&self, pool: &PgPool) -> Option<PoolConnection<Postgres>> {
        let mut idle = self.lock();
        let (conn, since) = idle.pop()?;
        if pool.is_closed() || since.elapsed() >= super::TEST_IF_IDLE_FOR {
            // Older ones sit below it: none is fresher.
            let stale = std::mem::take(&mut *idle);
            drop(idle);
            drop((conn, stale));
            return None;
        }
        Some(conn)
    }

    /// Keeps a connection whose last statement ran to the end, or hands it
    /// back to the pool when enough are kept already.
    pub fn keep(&self, pool: &PgPool, conn: PoolConnection<Postgres>) {
        let mut idle = self.lock();
        if idle.len() < self.limit && !pool.is_closed() {
            idle.push((conn, Instant::now()));
            return;
        }
        drop(idle);
        drop(conn);
    }

    /// Hands every kept connection back to the pool, which tests each.
    pub fn release_all(&self) {
        let kept = std::mem::take(&mut *self.lock());
        drop(kept);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(PoolConnection<Postgres>, Instant)>> {
        // Nothing here panics while holding the lock, and the list is valid
        // whatever was interrupted.
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
