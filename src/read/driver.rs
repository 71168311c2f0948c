//! Runs a request's DataLoader tasks on the request's own task.
//!
//! async-graphql's DataLoader hands each batch to a spawner and waits a delay
//! so that sibling resolvers can add their keys first. On a multi-threaded
//! runtime a spawned batch may start before every sibling has run, splitting
//! one level into several statements depending on timing. Here the batch is
//! polled only after the execution future has made all the progress it can,
//! so every key of a level is in the batch whatever the machine's load, and the
//! delay can be zero.
//!
//! "All the progress it can" includes cooperative yields: a list of more than
//! 30 items is resolved by a `FuturesUnordered`, which wakes itself and returns
//! `Pending` after a budget of polls. A wake during the poll means there is
//! more to do, so the execution is polled again before any batch runs.
//!
//! On PostgreSQL the page loaders hand their statements to a [`Combiner`]
//! instead of running them; once the level's batches are all waiting, the
//! driver sends what they handed in as one statement.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::future::BoxFuture;

use super::combine::Combiner;

/// The batches spawned by one request's loaders.
#[derive(Clone, Default)]
pub struct RequestTasks {
    queue: Arc<Mutex<Vec<BoxFuture<'static, ()>>>>,
    /// Where page loaders hand in their statements, on PostgreSQL.
    combiner: Option<Arc<Combiner>>,
}

impl std::fmt::Debug for RequestTasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestTasks").finish_non_exhaustive()
    }
}

impl RequestTasks {
    /// Tasks whose page statements go out one level at a time through `combiner`.
    pub fn combining(combiner: Arc<Combiner>) -> RequestTasks {
        RequestTasks {
            queue: Arc::default(),
            combiner: Some(combiner),
        }
    }

    pub fn combiner(&self) -> Option<Arc<Combiner>> {
        self.combiner.clone()
    }

    /// The spawner to give each DataLoader of this request.
    pub fn spawner(&self) -> impl Fn(BoxFuture<'static, ()>) + Send + Sync + 'static {
        let queue = self.queue.clone();
        move |task| {
            use tracing::Instrument;
            let task = Box::pin(task.instrument(crate::telemetry::loader_span()));
            if let Ok(mut q) = queue.lock() {
                q.push(task);
            }
        }
    }

    /// Drives `exec` and the loader batches it spawns to completion.
    pub fn drive<F: Future>(self, exec: F) -> Drive<F> {
        Drive {
            exec: Box::pin(exec),
            tasks: self,
            running: Vec::new(),
        }
    }
}

pub struct Drive<F: Future> {
    exec: Pin<Box<F>>,
    tasks: RequestTasks,
    running: Vec<BoxFuture<'static, ()>>,
}

/// Passes wakes on and remembers that one happened.
struct NoteWake {
    woken: AtomicBool,
    inner: Waker,
}

impl Wake for NoteWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.inner.wake_by_ref();
    }
}

/// Re-polls after a self-wake at most this often in a row, so a future that
/// always wakes itself (an exhausted tokio budget) cannot spin here.
const MAX_REPOLLS: usize = 64;

impl<F: Future> Drive<F> {
    /// Polls the execution until it is waiting on something outside itself.
    fn poll_exec(&mut self, cx: &mut Context<'_>) -> Poll<F::Output> {
        let note = Arc::new(NoteWake {
            woken: AtomicBool::new(false),
            inner: cx.waker().clone(),
        });
        let waker = Waker::from(note.clone());
        let mut inner_cx = Context::from_waker(&waker);
        for _ in 0..MAX_REPOLLS {
            note.woken.store(false, Ordering::Release);
            if let Poll::Ready(out) = self.exec.as_mut().poll(&mut inner_cx) {
                return Poll::Ready(out);
            }
            if !note.woken.load(Ordering::Acquire) {
                break;
            }
        }
        Poll::Pending
    }
}

impl<F: Future> Future for Drive<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        loop {
            if let Poll::Ready(out) = self.poll_exec(cx) {
                return Poll::Ready(out);
            }
            let spawned: Vec<_> = match self.tasks.queue.lock() {
                Ok(mut q) => q.drain(..).collect(),
                Err(_) => Vec::new(),
            };
            self.running.extend(spawned);
            let before = self.running.len();
            self.running
                .retain_mut(|task| task.as_mut().poll(cx).is_pending());
            // Every batch of the level has run as far as it goes, so the
            // statements it handed in are all there: send them as one.
            if let Some(combined) = self.tasks.combiner.as_ref().and_then(|c| c.flush()) {
                self.running.push(combined);
                continue;
            }
            // A finished batch has answered its waiters: run the resolvers
            // again at once rather than waiting for a wake-up.
            if self.running.len() == before {
                return Poll::Pending;
            }
        }
    }
}
