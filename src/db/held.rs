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
//! The set answers for at most half the pool: the connections idle in it and
//! those lent from it to a read under way. Counting only the idle ones was
//! not enough: under a steady load of reads the set lent and took back the
//! whole pool, none went back to sqlx, and a write or the events scheduler
//! waiting there was passed over until the load stopped (4 s and more at
//! 64 concurrent lists, the scheduler failing on its acquire timeout). Now
//! the other half always goes through the pool, whose queue is first come,
//! first served.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::{PgConnection, PgPool, Postgres};

/// The kept connections, the most recently used last.
pub struct Held {
    idle: Mutex<Vec<(PoolConnection<Postgres>, Instant)>>,
    limit: usize,
    /// Connections the set answers for: idle in it or lent by a [`Lease`].
    owned: AtomicUsize,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("idle", &self.count())
            .field("limit", &self.limit)
            .field("owned", &self.owned.load(Ordering::Relaxed))
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
            owned: AtomicUsize::new(0),
        }
    }

    /// Connections kept now: idle, though the pool counts them in use.
    pub fn count(&self) -> usize {
        self.lock().len()
    }

    /// The most recently kept connection, unless the pool is closing or it
    /// has been idle too long; then every kept connection goes back.
    pub fn take(&self, pool: &PgPool) -> Option<Lease<'_>> {
        let mut idle = self.lock();
        let (conn, since) = idle.pop()?;
        if pool.is_closed() || since.elapsed() >= super::TEST_IF_IDLE_FOR {
            // Older ones sit below it: none is fresher.
            let stale = std::mem::take(&mut *idle);
            drop(idle);
            self.owned.fetch_sub(1 + stale.len(), Ordering::Relaxed);
            drop((conn, stale));
            return None;
        }
        Some(Lease {
            conn: Some(conn),
            held: self,
            owned: true,
        })
    }

    /// A connection from the pool, lent for one read.
    pub fn lease(&self, conn: PoolConnection<Postgres>) -> Lease<'_> {
        Lease {
            conn: Some(conn),
            held: self,
            owned: false,
        }
    }

    /// Keeps a connection whose last statement ran to the end, or hands it
    /// back to the pool when the set answers for enough already.
    pub fn keep(&self, pool: &PgPool, mut lease: Lease<'_>) {
        let Some(conn) = lease.conn.take() else {
            return;
        };
        let mut idle = self.lock();
        if !pool.is_closed() && (lease.owned || self.owned.load(Ordering::Relaxed) < self.limit) {
            if !lease.owned {
                // Counted under the lock, so two reads cannot both take the
                // last place.
                self.owned.fetch_add(1, Ordering::Relaxed);
            }
            lease.owned = false;
            idle.push((conn, Instant::now()));
            return;
        }
        drop(idle);
        drop(conn);
        // `lease` drops here, and gives up the place it held, if any.
    }

    /// Hands every kept connection back to the pool, which tests each.
    pub fn release_all(&self) {
        let kept = std::mem::take(&mut *self.lock());
        self.owned.fetch_sub(kept.len(), Ordering::Relaxed);
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

/// A connection lent for one read: kept afterwards by [`Held::keep`], or,
/// dropped (a failed read, a cancelled request), handed to sqlx's ping and
/// no longer counted by the set.
pub struct Lease<'a> {
    conn: Option<PoolConnection<Postgres>>,
    held: &'a Held,
    /// Whether the set counts this connection among those it answers for.
    owned: bool,
}

impl Lease<'_> {
    /// The connection to run the read on.
    pub fn conn(&mut self) -> &mut PgConnection {
        // Only `keep`, which consumes the lease, takes the connection out.
        self.conn
            .as_deref_mut()
            .expect("a lease holds its connection until kept")
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if self.owned {
            self.held.owned.fetch_sub(1, Ordering::Relaxed);
        }
    }
}
