//! Events out: what happened to a customer, told to ESPs, loyalty vendors
//! and helpdesks. This module owns the transactional outbox (the `events`
//! table): the catalogue of event types, the payload each carries, and
//! appending them.
//!
//! - [`catalogue`]: every event type once, with its wire name, the read
//!   scope a partner needs to receive it, and what it means.
//! - [`payload`]: the `data` of each event, shaped like the API's own types
//!   (global ids, money as `{ amount, currencyCode }`, enum values as the
//!   API spells them, RFC 3339 timestamps) and kept minimal: ids, statuses,
//!   money, points, never whole profiles or free text.
//! - [`outbox`]: [`emit`] and [`emit_all`] append in the caller's
//!   transaction, so an event exists exactly when its write committed;
//!   [`emit_once`] appends at most once per natural key (for events a
//!   scheduler emits however often it runs).
//! - [`scheduler`]: the events no write causes (points about to expire,
//!   first-reply breaches, birthdays, sign-up anniversaries, tier reviews
//!   that have come due and their notices, follow-ups due after
//!   fulfilment, customers entering and leaving tracked segments), found by set-based queries at the clock's time and
//!   emitted once per natural key; the triggers live in
//!   `triggers/`, one file per family.
//!
//! Beside `service` in the layers: the services call it from their writes
//! (`docs/ARCHITECTURE.md`, "Events"); it uses `domain`, `entity` and the
//! access domains of `auth`, never `graphql` or `http`. Consumers follow
//! the outbox's `seq` with cursors of their own; staff read it through
//! `Query.events` (`read::events`).

pub mod catalogue;
pub mod outbox;
pub mod payload;
pub mod scheduler;
mod triggers;

pub use catalogue::EventType;
pub use outbox::{NewEvent, emit, emit_all, emit_all_once, emit_once};
