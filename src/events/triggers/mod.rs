//! The scheduler's triggers, one file per family; each finds its
//! candidates set-based, in batches, and emits through
//! `scheduler::emit_new` (see `events::scheduler`).

pub(super) mod credit;
pub(super) mod dates;
pub(super) mod follow_ups;
pub(super) mod points;
pub(super) mod segments;
pub(super) mod tickets;
pub(super) mod tiers;
