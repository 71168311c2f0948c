//! Pure generation of seed rows from a seeded RNG: no I/O, no clock reads.
//!
//! Determinism: customer number `i` draws from its own ChaCha8 stream
//! (`seed_from_u64(seed)` + `set_stream(i)`), so its profile, orders, tickets
//! and answers depend only on `(seed, i)`, whatever the batch size. Ids are
//! handed out sequentially in customer order, so they are deterministic too.
//! The only input that moves is `today` (the start of the current UTC day):
//! every instant is placed relative to it and lies strictly before it.
//!
//! Invariants the rows keep (the seed tests check them in SQL; overdrafts on
//! the final balances):
//! - `total = sum(quantity * unit_price) - discount + tax` for every order;
//! - no loyalty account is ever overdrawn: a redemption only spends points
//!   that were AVAILABLE at its own instant;
//! - `verified_purchase` reviews name a PAID, FULFILLED or PARTIALLY_REFUNDED
//!   order of the same customer holding the sku;
//! - referrers are earlier customers, invited before the referee signed up.

use std::collections::BTreeMap;
use std::ops::Range;

use c360_entity::enums::{
    AuthorKind, EmailMarketingState, LoyaltyTier, LoyaltyTransactionKind, LoyaltyTransactionState,
    NpsChannel, OrderChannel, OrderStatus, ReferralStatus, ReviewStatus, TicketChannel,
    TicketPriority, TicketStatus,
};
use chrono::{DateTime, NaiveDate, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::catalog::{self, Country, Product};
use super::rows::{
    Batch, CustomerRow, LedgerRow, LoyaltyAccountRow, NpsRow, OrderLineRow, OrderRow, ReferralRow,
    ReviewRow, TagRow, TicketMessageRow, TicketRow,
};
use crate::domain::tiers::{TierThresholds, tier_for_spend};

const MINUTE: i64 = 60;
const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;
/// How far back the store's history reaches.
const HISTORY: i64 = 3 * 365 * DAY;
/// Earned points stay PENDING this long (the return window).
const PENDING_WINDOW: i64 = 14 * DAY;
/// Trailing window for the loyalty tier.
const TIER_WINDOW: i64 = 365 * DAY;
/// Points per major currency unit spent (amounts are minor units, two decimals).
const MINOR_PER_POINT: i64 = 100;
const REFERRER_REWARD: i64 = 500;
const REFEREE_REWARD: i64 = 250;
const GOODWILL_POINTS: i64 = 200;
/// Reward vouchers a customer can redeem points for.
const REDEMPTIONS: &[i64] = &[500, 1_000, 2_000, 5_000];

/// Fixed inputs of one seed run.
#[derive(Debug, Clone)]
pub struct World {
    pub seed: u64,
    /// Start of the current UTC day, Unix seconds; every instant is before it.
    pub today: i64,
    /// Customers planned in this run; spreads sign-ups over the history.
    pub customers: u64,
    /// Id of customer number 0.
    pub first_customer_id: i64,
    pub currency: String,
    pub thresholds: TierThresholds,
}

impl World {
    pub fn new(
        seed: u64,
        customers: u64,
        currency: &str,
        now: DateTime<Utc>,
        first_customer_id: i64,
    ) -> World {
        let secs = now.timestamp();
        World {
            seed,
            today: secs - secs.rem_euclid(DAY),
            customers,
            first_customer_id,
            currency: currency.to_owned(),
            thresholds: TierThresholds::default(),
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

use crate::domain::referral::code as referral_code;

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
    /// Paid and kept (in full or in part): earns points, verifies reviews.
    fn is_kept_purchase(&self) -> bool {
        matches!(
            self.status,
            OrderStatus::Paid | OrderStatus::Fulfilled | OrderStatus::PartiallyRefunded
        )
    }

    fn counts_for_spend(&self) -> bool {
        self.status != OrderStatus::Cancelled
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
    fn run(mut self) {
        let country = self.country();
        let first_name = *pick(&mut self.rng, catalog::FIRST_NAMES);
        let last_name = *pick(&mut self.rng, catalog::LAST_NAMES);
        let email = self.email(first_name, last_name);
        let (marketing, consent_at) = self.marketing_consent();
        let phone = self
            .rng
            .random_bool(0.85)
            .then(|| self.phone(country.calling_code));
        let birthday = self.birthday();
        let city = *pick(&mut self.rng, country.cities);
        let external = self.rng.random_bool(0.6);
        self.out.customers.push(CustomerRow {
            id: self.id,
            external_source: external.then_some("shopify"),
            external_ref: external.then(|| (6_100_000_000 + self.id).to_string()),
            email: email.clone(),
            first_name,
            last_name,
            phone,
            birthday,
            locale: country.locale,
            country: country.code,
            city,
            email_marketing_state: marketing,
            consent_updated_at: consent_at,
            created_at: self.created_at,
            updated_at: consent_at.unwrap_or(self.created_at).max(self.created_at),
        });

        let orders = self.orders(country);
        let trailing: i64 = orders
            .iter()
            .filter(|o| o.counts_for_spend() && o.placed_at >= self.world.today - TIER_WINDOW)
            .map(|o| o.total - o.refunded)
            .sum();
        let lifetime: i64 = orders
            .iter()
            .filter(|o| o.counts_for_spend())
            .map(|o| o.total - o.refunded)
            .sum();
        let tier = tier_for_spend(trailing, &self.world.thresholds);
        self.tags(marketing, lifetime, tier);
        self.out.accounts.push(LoyaltyAccountRow {
            id: take(&mut self.ids.account),
            customer_id: self.id,
            referral_code: referral_code(self.id),
            tier,
            created_at: self.created_at,
        });

        let mut ledger = Vec::new();
        self.tickets(first_name, &orders, &mut ledger);
        self.reviews(&orders);
        self.nps();
        self.referred_by(&email, &orders, &mut ledger);
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

    fn country(&mut self) -> &'static Country {
        let total: u32 = catalog::COUNTRIES.iter().map(|c| c.weight).sum();
        let mut roll = self.rng.random_range(0..total);
        for country in catalog::COUNTRIES {
            if roll < country.weight {
                return country;
            }
            roll -= country.weight;
        }
        &catalog::COUNTRIES[0]
    }

    /// Unique because every shape embeds the customer id; lower-case ASCII.
    fn email(&mut self, first: &str, last: &str) -> String {
        let clean = |s: &str| -> String {
            s.chars()
                .filter(char::is_ascii_alphanumeric)
                .map(|c| c.to_ascii_lowercase())
                .collect()
        };
        let (f, l) = (clean(first), clean(last));
        let domain = pick(&mut self.rng, catalog::EMAIL_DOMAINS);
        let id = self.id;
        let initial = f.chars().next().unwrap_or('x');
        match self.rng.random_range(0..4) {
            0 => format!("{f}.{l}{id}@{domain}"),
            1 => format!("{f}_{l}.{id}@{domain}"),
            2 => format!("{initial}{l}{id}@{domain}"),
            _ => format!("{f}{id}@{domain}"),
        }
    }

    /// Fictional numbers: `+1 AAA 555-01XX` in North America, random digits elsewhere.
    fn phone(&mut self, calling_code: &str) -> String {
        let r = &mut self.rng;
        if calling_code == "1" {
            format!(
                "+1 {} 555-01{:02}",
                r.random_range(201..990),
                r.random_range(0..100)
            )
        } else {
            format!(
                "+{calling_code} {} {:03} {:04}",
                r.random_range(20..99),
                r.random_range(0..1000),
                r.random_range(0..10_000)
            )
        }
    }

    /// Adults aged 18 to 75; a quarter did not say.
    fn birthday(&mut self) -> Option<NaiveDate> {
        if !self.rng.random_bool(0.75) {
            return None;
        }
        let days = self.rng.random_range(18 * 365..75 * 365);
        DateTime::<Utc>::from_timestamp(self.world.today - days * DAY, 0).map(|d| d.date_naive())
    }

    fn marketing_consent(&mut self) -> (EmailMarketingState, Option<i64>) {
        use EmailMarketingState as S;
        let state = weighted(
            &mut self.rng,
            &[
                (S::Subscribed, 45),
                (S::NotSubscribed, 32),
                (S::Unsubscribed, 15),
                (S::Pending, 8),
            ],
        );
        let at = match state {
            S::NotSubscribed => None,
            // Opted in at checkout or sign-up; double opt-in still pending.
            S::Subscribed | S::Pending => Some(self.after(self.created_at, 0..2 * HOUR)),
            // Subscribed first, unsubscribed some time later.
            S::Unsubscribed => Some(between(&mut self.rng, self.created_at, self.world.today)),
        };
        (state, at)
    }

    /// Skewed: a tenth never ordered, a twentieth are heavy buyers (30-60),
    /// the rest roughly exponential around 10. Recent sign-ups are capped so
    /// nobody places 40 orders in a week.
    fn order_count(&mut self) -> usize {
        let roll: f64 = self.rng.random();
        let n = if roll < 0.10 {
            0
        } else if roll < 0.15 {
            self.rng.random_range(30..=60)
        } else {
            let u: f64 = self.rng.random();
            (1.0 + (-9.6 * (1.0 - u).ln()).floor()).min(29.0) as usize
        };
        let active_days = (self.world.today - self.created_at) / DAY;
        n.min(1 + (active_days / 5) as usize)
    }

    fn orders(&mut self, country: &Country) -> Vec<PlacedOrder> {
        let n = self.order_count();
        let mut times: Vec<i64> = (0..n)
            .map(|_| between(&mut self.rng, self.created_at, self.world.today - 1))
            .collect();
        times.sort_unstable();
        let favourite = self.rng.random_range(0..catalog::CATEGORIES.len());
        let mut placed = Vec::with_capacity(n);
        for placed_at in times {
            placed.push(self.order(country, favourite, placed_at));
        }
        placed
    }

    fn basket(&mut self, favourite: usize) -> Vec<&'static Product> {
        let size = weighted(&mut self.rng, &[(1usize, 50), (2, 30), (3, 14), (4, 6)]);
        let mut products: Vec<&'static Product> = Vec::with_capacity(size);
        // A few retries suffice to find distinct products in a 38-item catalogue.
        for _ in 0..size * 4 {
            if products.len() == size {
                break;
            }
            let category = if self.rng.random_bool(0.55) {
                favourite
            } else {
                self.rng.random_range(0..catalog::CATEGORIES.len())
            };
            let product = pick(&mut self.rng, catalog::CATEGORIES[category]);
            if !products.iter().any(|p| p.sku == product.sku) {
                products.push(product);
            }
        }
        products
    }

    fn order(&mut self, country: &Country, favourite: usize, placed_at: i64) -> PlacedOrder {
        let id = take(&mut self.ids.order);
        let products = self.basket(favourite);
        let mut subtotal = 0;
        for product in &products {
            let quantity = weighted(&mut self.rng, &[(1i32, 75), (2, 20), (3, 5)]);
            subtotal += i64::from(quantity) * product.price;
            self.out.lines.push(OrderLineRow {
                id: take(&mut self.ids.line),
                order_id: id,
                customer_id: self.id,
                sku: product.sku,
                product_name: product.name,
                quantity,
                unit_price: product.price,
            });
        }
        let roll: f64 = self.rng.random();
        let discount = if roll < 0.12 {
            subtotal / 10
        } else if roll < 0.17 {
            subtotal / 5
        } else if roll < 0.20 {
            (subtotal / 2).min(1_000)
        } else {
            0
        };
        let tax = (subtotal - discount) * country.tax_bp / 10_000;
        let total = subtotal - discount + tax;

        let age = self.world.today - placed_at;
        let roll: f64 = self.rng.random();
        let (status, refunded) = if roll < 0.05 {
            (OrderStatus::Cancelled, 0)
        } else if roll < 0.08 && age > 3 * DAY {
            (OrderStatus::Refunded, total)
        } else if roll < 0.11 && age > 3 * DAY {
            let part = self
                .rng
                .random_range((total / 10).max(1)..=(total / 2).max(1));
            (OrderStatus::PartiallyRefunded, part)
        } else if age < 2 * DAY {
            let pending = self.rng.random_bool(0.3);
            (
                if pending {
                    OrderStatus::Pending
                } else {
                    OrderStatus::Paid
                },
                0,
            )
        } else if age < 7 * DAY && self.rng.random_bool(0.5) {
            (OrderStatus::Paid, 0)
        } else {
            (OrderStatus::Fulfilled, 0)
        };
        let updated_at = match status {
            OrderStatus::Cancelled => self.after(placed_at, 10 * MINUTE..DAY),
            OrderStatus::Refunded | OrderStatus::PartiallyRefunded => {
                self.after(placed_at, 3 * DAY..20 * DAY)
            }
            OrderStatus::Fulfilled => self.after(placed_at, DAY..4 * DAY),
            OrderStatus::Pending | OrderStatus::Paid => placed_at,
        };
        let channel = weighted(
            &mut self.rng,
            &[
                (OrderChannel::OnlineStore, 60),
                (OrderChannel::MobileApp, 20),
                (OrderChannel::Pos, 12),
                (OrderChannel::Marketplace, 6),
                (OrderChannel::Phone, 2),
            ],
        );
        let external_ref = matches!(channel, OrderChannel::OnlineStore | OrderChannel::MobileApp)
            .then(|| format!("shopify-order-{}", 5_200_000_000 + id));
        let number = format!("C360-{id:06}");
        self.out.orders.push(OrderRow {
            id,
            customer_id: self.id,
            order_number: number.clone(),
            external_ref,
            status,
            channel,
            currency: self.world.currency.clone(),
            subtotal,
            discount,
            tax,
            total,
            refunded,
            placed_at,
            updated_at,
        });
        PlacedOrder {
            id,
            number,
            status,
            total,
            refunded,
            placed_at,
            products,
        }
    }

    /// `vip` follows spend, `newsletter` follows consent, the rest is random.
    fn tags(&mut self, marketing: EmailMarketingState, lifetime: i64, tier: LoyaltyTier) {
        let mut tags: Vec<&'static str> = Vec::new();
        if lifetime >= 150_000 || matches!(tier, LoyaltyTier::Gold | LoyaltyTier::Platinum) {
            tags.push("vip");
        }
        if marketing == EmailMarketingState::Subscribed && self.rng.random_bool(0.7) {
            tags.push("newsletter");
        }
        for (tag, percent) in catalog::RANDOM_TAGS {
            if self.rng.random_ratio(*percent, 100) {
                tags.push(tag);
            }
        }
        for tag in tags {
            self.out.tags.push(TagRow {
                customer_id: self.id,
                tag,
            });
        }
    }

    fn tickets(&mut self, first_name: &str, orders: &[PlacedOrder], ledger: &mut Vec<LedgerEntry>) {
        let n = weighted(
            &mut self.rng,
            &[(0usize, 55), (1, 25), (2, 10), (3, 5), (4, 3), (6, 2)],
        );
        for _ in 0..n {
            self.ticket(first_name, orders, ledger);
        }
    }

    fn ticket(&mut self, first_name: &str, orders: &[PlacedOrder], ledger: &mut Vec<LedgerEntry>) {
        let world = self.world;
        let id = take(&mut self.ids.ticket);
        let (subject, created_at) = if !orders.is_empty() && self.rng.random_bool(0.6) {
            let order = pick(&mut self.rng, orders);
            let template = pick(&mut self.rng, catalog::ORDER_TICKET_SUBJECTS);
            let at = self.after(order.placed_at, DAY..10 * DAY);
            (template.replace("{order}", &order.number), at)
        } else {
            let subject = pick(&mut self.rng, catalog::GENERIC_TICKET_SUBJECTS);
            let at = between(&mut self.rng, self.created_at, world.today - 1);
            ((*subject).to_owned(), at)
        };
        let age = world.today - created_at;
        use TicketStatus as S;
        let status = if age > 14 * DAY {
            weighted(&mut self.rng, &[(S::Solved, 70), (S::Closed, 30)])
        } else if age > 3 * DAY {
            weighted(
                &mut self.rng,
                &[
                    (S::Solved, 50),
                    (S::Open, 20),
                    (S::Pending, 15),
                    (S::Hold, 5),
                    (S::Closed, 10),
                ],
            )
        } else {
            weighted(
                &mut self.rng,
                &[
                    (S::New, 35),
                    (S::Open, 35),
                    (S::Pending, 20),
                    (S::Solved, 10),
                ],
            )
        };
        let priority = weighted(
            &mut self.rng,
            &[
                (TicketPriority::Low, 20),
                (TicketPriority::Normal, 60),
                (TicketPriority::High, 15),
                (TicketPriority::Urgent, 5),
            ],
        );
        let channel = weighted(
            &mut self.rng,
            &[
                (TicketChannel::Email, 45),
                (TicketChannel::Chat, 30),
                (TicketChannel::Web, 12),
                (TicketChannel::Phone, 8),
                (TicketChannel::Social, 5),
            ],
        );

        self.message(
            id,
            AuthorKind::Customer,
            None,
            format!("Hi, {subject} Thanks, {first_name}"),
            created_at,
        );
        let mut last = created_at;
        let mut first_reply_at = None;
        if status != S::New {
            // Reply times: most within the hour, a long tail over two days.
            let delay = match self.rng.random_range(0..100) {
                0..40 => self.rng.random_range(5 * MINUTE..HOUR),
                40..75 => self.rng.random_range(HOUR..8 * HOUR),
                _ => self.rng.random_range(8 * HOUR..48 * HOUR),
            };
            last = self.after_by(last, delay);
            first_reply_at = Some(last);
            self.agent_message(id, last);
            for _ in 0..self.rng.random_range(0..=2) {
                last = self.after(last, HOUR..20 * HOUR);
                let body = pick(&mut self.rng, catalog::CUSTOMER_FOLLOW_UPS);
                self.message(id, AuthorKind::Customer, None, (*body).to_owned(), last);
                last = self.after(last, 10 * MINUTE..8 * HOUR);
                self.agent_message(id, last);
            }
        }
        let solved_at =
            matches!(status, S::Solved | S::Closed).then(|| self.after(last, 10 * MINUTE..DAY));
        let (mut score, mut comment, mut rated_at) = (None, None, None);
        if let Some(solved) = solved_at
            && self.rng.random_bool(0.4)
        {
            let s = weighted(
                &mut self.rng,
                &[(1i32, 5), (2, 5), (3, 10), (4, 30), (5, 50)],
            );
            score = Some(s);
            if self.rng.random_bool(0.5) {
                comment = catalog::CSAT_COMMENTS
                    .iter()
                    .find(|(rating, _)| *rating == s)
                    .map(|(_, text)| *text);
            }
            rated_at = Some(self.after(solved, HOUR..2 * DAY));
        }
        // Unhappy or urgent customers sometimes get goodwill points.
        if let Some(solved) = solved_at
            && (score.is_some_and(|s| s <= 2) || priority == TicketPriority::Urgent)
            && self.rng.random_bool(0.5)
        {
            ledger.push(LedgerEntry {
                at: solved,
                kind: LoyaltyTransactionKind::Adjust,
                points: GOODWILL_POINTS,
                state: LoyaltyTransactionState::Available,
                order_id: None,
                key: format!("goodwill:ticket:{id}"),
                description: format!("Goodwill for ticket #{id}"),
                available_at: Some(solved),
            });
        }
        self.out.tickets.push(TicketRow {
            id,
            customer_id: self.id,
            subject,
            status,
            priority,
            channel,
            created_at,
            updated_at: rated_at.or(solved_at).unwrap_or(last),
            first_reply_at,
            solved_at,
            satisfaction_score: score,
            satisfaction_comment: comment,
            satisfaction_at: rated_at,
        });
    }

    fn agent_message(&mut self, ticket_id: i64, at: i64) {
        let agent = *pick(&mut self.rng, catalog::AGENT_NAMES);
        let body = pick(&mut self.rng, catalog::AGENT_REPLIES);
        self.message(
            ticket_id,
            AuthorKind::Agent,
            Some(agent),
            (*body).to_owned(),
            at,
        );
    }

    fn message(
        &mut self,
        ticket_id: i64,
        kind: AuthorKind,
        author: Option<&'static str>,
        body: String,
        at: i64,
    ) {
        self.out.messages.push(TicketMessageRow {
            id: take(&mut self.ids.message),
            ticket_id,
            customer_id: self.id,
            author_kind: kind,
            author_name: author,
            body,
            created_at: at,
        });
    }

    /// Some kept purchases get a verified review; a few customers review a
    /// product they never bought (unverified). One review per sku.
    fn reviews(&mut self, orders: &[PlacedOrder]) {
        // BTreeMap: iteration order, and so RNG use, is deterministic.
        let mut bought: BTreeMap<&'static str, &PlacedOrder> = BTreeMap::new();
        for order in orders.iter().filter(|o| o.is_kept_purchase()) {
            for product in &order.products {
                bought.entry(product.sku).or_insert(order);
            }
        }
        for (sku, order) in &bought {
            if self.rng.random_bool(0.18) {
                let at = self.after(order.placed_at, 5 * DAY..40 * DAY);
                self.review(sku, Some(order.id), at);
            }
        }
        if self.rng.random_bool(0.04) {
            let category = pick(&mut self.rng, catalog::CATEGORIES);
            let product = pick(&mut self.rng, category);
            if !bought.contains_key(product.sku) {
                let at = between(&mut self.rng, self.created_at, self.world.today - 1);
                self.review(product.sku, None, at);
            }
        }
    }

    fn review(&mut self, sku: &'static str, order_id: Option<i64>, at: i64) {
        let rating = weighted(
            &mut self.rng,
            &[(1i32, 6), (2, 6), (3, 12), (4, 30), (5, 46)],
        );
        let texts: Vec<_> = catalog::REVIEW_TEXTS
            .iter()
            .filter(|(r, _, _)| *r == rating)
            .collect();
        let (title, body) = if texts.is_empty() {
            ("Review", "")
        } else {
            let (_, title, body) = *pick(&mut self.rng, &texts);
            (*title, *body)
        };
        let status = if self.world.today - at < 3 * DAY {
            ReviewStatus::Pending
        } else {
            weighted(
                &mut self.rng,
                &[
                    (ReviewStatus::Published, 92),
                    (ReviewStatus::Pending, 5),
                    (ReviewStatus::Rejected, 3),
                ],
            )
        };
        let updated_at = if status == ReviewStatus::Pending {
            at
        } else {
            self.after(at, HOUR..2 * DAY)
        };
        self.out.reviews.push(ReviewRow {
            id: take(&mut self.ids.review),
            customer_id: self.id,
            product_sku: sku,
            order_id,
            rating,
            title,
            body,
            status,
            verified_purchase: order_id.is_some(),
            created_at: at,
            updated_at,
        });
    }

    /// About a third of customers answered the survey, some more than once.
    fn nps(&mut self) {
        let first = self.created_at + 7 * DAY;
        if first >= self.world.today || !self.rng.random_bool(0.35) {
            return;
        }
        let answers = weighted(&mut self.rng, &[(1usize, 70), (2, 20), (3, 10)]);
        for _ in 0..answers {
            let score: i32 = match self.rng.random_range(0..100) {
                0..20 => self.rng.random_range(0..=6),
                20..48 => self.rng.random_range(7..=8),
                _ => self.rng.random_range(9..=10),
            };
            let comment = self
                .rng
                .random_bool(0.4)
                .then(|| {
                    catalog::NPS_COMMENTS
                        .iter()
                        .min_by_key(|(s, _)| (s - score).abs())
                        .map(|(_, text)| *text)
                })
                .flatten();
            let channel = weighted(
                &mut self.rng,
                &[
                    (NpsChannel::Email, 50),
                    (NpsChannel::Web, 20),
                    (NpsChannel::App, 20),
                    (NpsChannel::Sms, 10),
                ],
            );
            let at = between(&mut self.rng, first, self.world.today - 1);
            self.out.nps.push(NpsRow {
                id: take(&mut self.ids.nps),
                customer_id: self.id,
                score,
                comment,
                channel,
                created_at: at,
            });
        }
    }

    /// A fifth of customers signed up through an earlier customer's code.
    /// The referral is REWARDED once the referee's first purchase is past the
    /// return window (both sides get points), CONVERTED while it is inside,
    /// SIGNED_UP without a purchase.
    fn referred_by(&mut self, email: &str, orders: &[PlacedOrder], ledger: &mut Vec<LedgerEntry>) {
        if self.index == 0 || !self.rng.random_bool(0.2) {
            return;
        }
        let world = self.world;
        let back = self.rng.random_range(1..=self.index.min(3_000));
        let referrer_index = self.index - back;
        let referrer_id = world.customer_id(referrer_index);
        let referrer_joined = world.customer_created_at(referrer_index);
        let invited_at = (self.created_at - self.rng.random_range(HOUR..14 * DAY))
            .max(referrer_joined)
            .min(self.created_at);
        let id = take(&mut self.ids.referral);
        let first_purchase = orders
            .iter()
            .find(|o| !matches!(o.status, OrderStatus::Cancelled | OrderStatus::Pending));
        let converted_at = first_purchase.map(|o| o.placed_at);
        let rewarded_at = converted_at
            .map(|t| t + PENDING_WINDOW)
            .filter(|t| *t < world.today);
        let status = match (converted_at, rewarded_at) {
            (_, Some(_)) => ReferralStatus::Rewarded,
            (Some(_), None) => ReferralStatus::Converted,
            (None, _) => ReferralStatus::SignedUp,
        };
        let (referrer_points, referee_points) = if rewarded_at.is_some() {
            (REFERRER_REWARD, REFEREE_REWARD)
        } else {
            (0, 0)
        };
        self.out.referrals.push(ReferralRow {
            id,
            customer_id: referrer_id,
            referee_email: email.to_owned(),
            referee_customer_id: Some(self.id),
            code: referral_code(referrer_id),
            status,
            referrer_reward_points: referrer_points,
            referee_reward_points: referee_points,
            invited_at,
            signed_up_at: Some(self.created_at),
            converted_at,
            rewarded_at,
            updated_at: rewarded_at.or(converted_at).unwrap_or(self.created_at),
        });
        if let Some(at) = rewarded_at {
            // The referrer's bonus is written here, with the referral; an
            // extra credit can never overdraw the referrer's account.
            self.out.ledger.push(LedgerRow {
                id: take(&mut self.ids.ledger),
                customer_id: referrer_id,
                kind: LoyaltyTransactionKind::ReferralBonus,
                points: REFERRER_REWARD,
                state: LoyaltyTransactionState::Available,
                order_id: None,
                idempotency_key: format!("referral:{id}:referrer"),
                description: format!("Referral bonus: {email} made a first purchase"),
                available_at: Some(at),
                created_at: at,
            });
            ledger.push(LedgerEntry {
                at,
                kind: LoyaltyTransactionKind::ReferralBonus,
                points: REFEREE_REWARD,
                state: LoyaltyTransactionState::Available,
                order_id: None,
                key: format!("referral:{id}:referee"),
                description: "Welcome bonus for joining through a referral".to_owned(),
                available_at: Some(at),
            });
        }
    }

    /// Invitations to friends who never signed up.
    fn invitations(&mut self) {
        if !self.rng.random_bool(0.08) {
            return;
        }
        for k in 0..self.rng.random_range(1..=3) {
            let at = between(&mut self.rng, self.created_at, self.world.today - 1);
            self.out.referrals.push(ReferralRow {
                id: take(&mut self.ids.referral),
                customer_id: self.id,
                referee_email: format!("friend{k}.of.{}@example.org", self.id),
                referee_customer_id: None,
                code: referral_code(self.id),
                status: ReferralStatus::Invited,
                referrer_reward_points: 0,
                referee_reward_points: 0,
                invited_at: at,
                signed_up_at: None,
                converted_at: None,
                rewarded_at: None,
                updated_at: at,
            });
        }
    }

    /// EARN rows for purchases (PENDING inside the return window, CANCELLED
    /// for refunded orders), then redemptions that only spend points that
    /// were available at the time, then ids in time order.
    fn ledger(&mut self, orders: &[PlacedOrder], mut entries: Vec<LedgerEntry>) {
        let today = self.world.today;
        for order in orders {
            let kept = order.is_kept_purchase();
            if !kept && order.status != OrderStatus::Refunded {
                continue;
            }
            let points = if kept {
                (order.total - order.refunded) / MINOR_PER_POINT
            } else {
                order.total / MINOR_PER_POINT
            };
            if points <= 0 {
                continue;
            }
            let available_at = order.placed_at + PENDING_WINDOW;
            let state = if !kept {
                LoyaltyTransactionState::Cancelled
            } else if available_at > today {
                LoyaltyTransactionState::Pending
            } else {
                LoyaltyTransactionState::Available
            };
            entries.push(LedgerEntry {
                at: order.placed_at,
                kind: LoyaltyTransactionKind::Earn,
                points,
                state,
                order_id: Some(order.id),
                key: format!("earn:order:{}", order.id),
                description: format!("Points for order {}", order.number),
                available_at: kept.then_some(available_at),
            });
        }

        // Credits that are spendable at a given instant.
        let credits: Vec<(i64, i64)> = entries
            .iter()
            .filter(|e| e.state == LoyaltyTransactionState::Available && e.points > 0)
            .map(|e| (e.available_at.unwrap_or(e.at), e.points))
            .collect();
        let mut spent = 0;
        let mut redemption = 0;
        for order in orders.iter().filter(|o| o.counts_for_spend()) {
            let at = order.placed_at;
            let balance: i64 = credits
                .iter()
                .filter(|(t, _)| *t <= at)
                .map(|(_, p)| p)
                .sum::<i64>()
                - spent;
            if balance < REDEMPTIONS[0] || !self.rng.random_bool(0.4) {
                continue;
            }
            let affordable = REDEMPTIONS.iter().filter(|p| **p <= balance).count();
            let points = REDEMPTIONS[self.rng.random_range(0..affordable)];
            spent += points;
            redemption += 1;
            entries.push(LedgerEntry {
                at,
                kind: LoyaltyTransactionKind::Redeem,
                points: -points,
                state: LoyaltyTransactionState::Available,
                order_id: None,
                key: format!("redeem:{redemption}"),
                description: format!(
                    "Redeemed {points} points for a {} reward voucher",
                    points / MINOR_PER_POINT
                ),
                available_at: Some(at),
            });
        }

        entries.sort_by_key(|e| e.at);
        for entry in entries {
            self.out.ledger.push(LedgerRow {
                id: take(&mut self.ids.ledger),
                customer_id: self.id,
                kind: entry.kind,
                points: entry.points,
                state: entry.state,
                order_id: entry.order_id,
                idempotency_key: entry.key,
                description: entry.description,
                available_at: entry.available_at,
                created_at: entry.at,
            });
        }
    }
}
