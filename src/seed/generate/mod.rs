//! Pure generation of seed rows from a seeded RNG: no I/O, no clock reads.
//!
//! Determinism: customer number `i` draws from its own ChaCha8 stream
//! (`seed_from_u64(seed)` + `set_stream(i)`), so its profile, orders, tickets
//! and answers depend only on `(seed, i)`, the rules and the seeding instant,
//! whatever the batch size. Ids are handed out sequentially in customer
//! order, so they are deterministic too. Every instant is placed relative to
//! `today` (the start of the UTC day of the seeding instant) and lies
//! strictly before it.
//!
//! The numbers of the business (points rate, return window, expiry, tier
//! thresholds, referral minimum and rewards, base currency) come from the
//! configured [`Rules`]; the facts (tier window, statuses that count, NPS
//! categories) from `crate::domain`. So seeded data reads as if the API had
//! written it under the store's configuration.
//!
//! Invariants the rows keep (the seed tests check them in SQL; overdrafts on
//! the final balances):
//! - `total = sum(quantity * unit_price) - discount + tax` for every order;
//! - no loyalty account is ever overdrawn: a redemption only spends points
//!   that were AVAILABLE, and not expired, at its own instant;
//! - `verified_purchase` reviews name a paid order of the same customer,
//!   not fully refunded, holding the sku;
//! - referrers are earlier customers, invited before the referee signed up.
//!
//! One file per part of a customer's life: [`customers`] (profile, tags),
//! [`orders`] (the purchase and spend processes, with [`draw`]'s
//! distributions), [`tickets`], [`reviews`], [`nps`], [`referrals`], and
//! [`loyalty`] (account, tier and ledger).

mod customers;
mod draw;
mod loyalty;
mod nps;
mod orders;
mod referrals;
mod reviews;
mod tickets;

use std::ops::Range;

use c360_entity::enums::{LoyaltyTransactionKind, LoyaltyTransactionState, OrderStatus};
use chrono::{DateTime, SubsecRound, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::catalog::Product;
use super::rows::Batch;
use crate::domain::orders::SPENDING;
use crate::service::Rules;
use crate::service::loyalty::points_for;

const MINUTE: i64 = 60;
const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;
/// How far back the store's history reaches.
const HISTORY: i64 = 3 * 365 * DAY;

/// Fixed inputs of one seed run.
#[derive(Debug, Clone)]
pub struct World {
    pub seed: u64,
    /// The seeding instant, to the second: what the tier window and the
    /// return window are measured from, as the API would at that instant.
    pub now: DateTime<Utc>,
    /// Start of the UTC day of `now`, Unix seconds; every instant is before it.
    pub today: i64,
    /// Customers planned in this run; spreads sign-ups over the history.
    pub customers: u64,
    /// Id of customer number 0.
    pub first_customer_id: i64,
    pub rules: Rules,
}

impl World {
    pub fn new(
        seed: u64,
        customers: u64,
        rules: &Rules,
        now: DateTime<Utc>,
        first_customer_id: i64,
    ) -> World {
        let now = now.trunc_subsecs(0);
        let secs = now.timestamp();
        World {
            seed,
            now,
            today: secs - secs.rem_euclid(DAY),
            customers,
            first_customer_id,
            rules: rules.clone(),
        }
    }

    fn customer_id(&self, index: u64) -> i64 {
        self.first_customer_id + index as i64
    }

    /// Sign-up instant of customer `index`: evenly spread over the history
    /// (in customer order) with a hashed jitter inside the customer's slot.
    /// A pure function of `(seed, index)`, so a referee can tell when its
    /// referrer signed up without the referrer's rows, and earlier customers
    /// never sign up later than later ones.
    fn customer_created_at(&self, index: u64) -> i64 {
        let n = i128::from(self.customers.max(1));
        let span = i128::from(HISTORY - DAY);
        let slot = (span / n).max(1);
        let offset = span * i128::from(index) / n;
        let jitter = i128::from(splitmix64(self.seed ^ index.rotate_left(17)) % (slot as u64));
        let first_day = self.today - HISTORY;
        first_day + (offset + jitter) as i64
    }

    /// When points earned at `at` leave the return window.
    fn end_of_return_window(&self, at: i64) -> i64 {
        at.saturating_add(self.rules.return_window.num_seconds())
    }

    /// When a credit that became AVAILABLE at `available_at` expires.
    fn expiry(&self, available_at: i64) -> Option<i64> {
        DateTime::<Utc>::from_timestamp(available_at, 0)
            .and_then(|t| self.rules.expiry(t))
            .map(|t| t.timestamp())
    }

    /// Points an amount of the base currency (minor units) earns.
    fn points(&self, amount_minor: i64) -> i64 {
        points_for(&self.rules, amount_minor, &self.rules.base_currency)
    }
}

/// The next free id of every table with a surrogate key.
#[derive(Debug, Clone)]
pub struct NextIds {
    pub account: i64,
    pub order: i64,
    pub line: i64,
    pub ticket: i64,
    pub message: i64,
    pub review: i64,
    pub referral: i64,
    pub ledger: i64,
    pub nps: i64,
}

fn take(next: &mut i64) -> i64 {
    let id = *next;
    *next += 1;
    id
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Generates customers `indexes` (numbers within the run) and all their rows.
pub fn batch(world: &World, ids: &mut NextIds, indexes: Range<u64>) -> Batch {
    let mut batch = Batch::default();
    for index in indexes {
        let mut rng = ChaCha8Rng::seed_from_u64(world.seed);
        rng.set_stream(index);
        CustomerGen {
            world,
            ids: &mut *ids,
            out: &mut batch,
            rng,
            index,
            id: world.customer_id(index),
            created_at: world.customer_created_at(index),
        }
        .run();
    }
    batch
}

// Small sampling helpers over non-empty constant tables.

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn weighted<T: Copy>(rng: &mut ChaCha8Rng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut roll = rng.random_range(0..total.max(1));
    for (item, weight) in items {
        if roll < *weight {
            return *item;
        }
        roll -= weight;
    }
    items[items.len() - 1].0
}

/// Uniform instant in `[from, to)`, or `from` when the range is empty.
fn between(rng: &mut ChaCha8Rng, from: i64, to: i64) -> i64 {
    if to > from {
        rng.random_range(from..to)
    } else {
        from
    }
}

/// What later steps need to know about a generated order.
struct PlacedOrder {
    id: i64,
    number: String,
    status: OrderStatus,
    total: i64,
    refunded: i64,
    placed_at: i64,
    products: Vec<&'static Product>,
}

impl PlacedOrder {
    /// Paid, and not all of it returned: earns points, verifies reviews.
    fn is_kept_purchase(&self) -> bool {
        self.is_paid() && self.refunded < self.total
    }

    /// Paid at some point (refunded since or not): the API's notion of a
    /// purchase, for tiers and referral conversion alike.
    fn is_paid(&self) -> bool {
        SPENDING.contains(&self.status)
    }
}

/// A ledger row before its id: rows are numbered in time order per customer.
struct LedgerEntry {
    at: i64,
    kind: LoyaltyTransactionKind,
    points: i64,
    state: LoyaltyTransactionState,
    order_id: Option<i64>,
    key: String,
    description: String,
    available_at: Option<i64>,
    expires_at: Option<i64>,
}

struct CustomerGen<'a> {
    world: &'a World,
    ids: &'a mut NextIds,
    out: &'a mut Batch,
    rng: ChaCha8Rng,
    index: u64,
    id: i64,
    created_at: i64,
}

impl CustomerGen<'_> {
    /// The steps draw from the customer's stream in a fixed order: changing
    /// the order changes every customer's data for a given seed.
    fn run(mut self) {
        let profile = self.profile();
        let orders = self.orders(profile.country);
        let tier = self.account(&orders);
        self.tags(profile.marketing, &orders, tier);

        let mut ledger = Vec::new();
        self.tickets(profile.first_name, &orders, &mut ledger);
        self.reviews(&orders);
        self.nps();
        self.referred_by(&profile.email, &orders, &mut ledger);
        self.invitations();
        self.ledger(&orders, ledger);
    }

    /// An instant `delay` after `t` (drawn from the range), before today.
    fn after(&mut self, t: i64, delay: Range<i64>) -> i64 {
        let delay = self.rng.random_range(delay);
        self.after_by(t, delay)
    }

    /// `t + delay` if that is before today; otherwise a uniform instant in
    /// `[t, today)`, so recent activity is compressed into the time left
    /// instead of piling up on the last second of yesterday.
    fn after_by(&mut self, t: i64, delay: i64) -> i64 {
        if t + delay < self.world.today {
            t + delay
        } else {
            between(&mut self.rng, t, self.world.today)
        }
    }
}
