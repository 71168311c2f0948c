//! A customer's orders and their lines: when (a buy-till-you-die process),
//! for how much (a Gamma-Gamma spend process), what basket makes that
//! amount, and where each order stands today.
//!
//! Timing follows BG/NBD with [`crate::seed::PURCHASES`] (days): a tenth of
//! customers never order; the others place a first order at sign-up (half
//! of them, as checkout creates the account) or after an exponential wait
//! of [`FIRST_ORDER_WAIT_DAYS`] on average. From then on each buys as a
//! Poisson process of rate λ ~ Gamma(r, α) and, after each repeat order,
//! stops for good with probability p ~ Beta(a, b), both drawn once per
//! customer. Every order of the process counts (it is never cancelled):
//! cancellations are extra orders on top, an attempt cancelled shortly
//! before one in [`CANCELLED_ATTEMPTS`], so the counted orders follow the
//! model exactly and `c360 insights refresh` can recover its parameters.
//!
//! Value follows Gamma-Gamma with [`crate::seed::SPEND`] (major units of
//! the base currency): each customer's ν ~ Gamma(q, γ), each order's total
//! ~ Gamma(p, ν). The basket is built to that total: products (the
//! customer's favourite category first) until the untaxed amount is
//! reached, the last chosen to overshoot as little as the catalogue allows;
//! the overshoot is the order's discount and the country's tax is added on
//! the rest, so the total is the drawn amount to the minor unit. Refunds
//! are applied on top, as before: they change what is kept, not what was
//! spent.

use c360_entity::enums::{OrderChannel, OrderStatus};
use rand::Rng;

use super::draw::{beta, exponential, gamma};
use super::{CustomerGen, DAY, HOUR, MINUTE, PlacedOrder, pick, take, weighted};
use crate::seed::catalog::{self, Country, Product};
use crate::seed::rows::{OrderLineRow, OrderRow};
use crate::seed::{PURCHASES, SPEND};

/// Share of customers who never order.
const NEVER_ORDER: f64 = 0.10;
/// Share of buyers whose first order creates the account.
const FIRST_ORDER_AT_SIGN_UP: f64 = 0.5;
/// Mean wait, in days, from sign-up to the first order for the others.
const FIRST_ORDER_WAIT_DAYS: f64 = 45.0;
/// Chance that an order is preceded by an attempt the customer cancelled.
const CANCELLED_ATTEMPTS: f64 = 0.05;

/// A basket: products and quantities.
type Lines = Vec<(&'static Product, i32)>;

impl CustomerGen<'_> {
    /// The instants of the customer's counted orders, ascending, before today.
    fn purchase_times(&mut self) -> Vec<i64> {
        if self.rng.random_bool(NEVER_ORDER) {
            return Vec::new();
        }
        let first = if self.rng.random_bool(FIRST_ORDER_AT_SIGN_UP) {
            self.created_at + self.rng.random_range(0..2 * HOUR)
        } else {
            let wait = exponential(&mut self.rng, 1.0 / FIRST_ORDER_WAIT_DAYS);
            self.created_at.saturating_add((wait * DAY as f64) as i64)
        };
        if first >= self.world.today {
            return Vec::new();
        }
        let rate = gamma(&mut self.rng, PURCHASES.r, PURCHASES.alpha);
        let dropout = beta(&mut self.rng, PURCHASES.a, PURCHASES.b);
        let mut times = vec![first];
        let mut t = first as f64;
        loop {
            t += exponential(&mut self.rng, rate) * DAY as f64;
            if t >= self.world.today as f64 {
                break;
            }
            times.push(t as i64);
            if self.rng.random_bool(dropout) {
                break;
            }
        }
        times
    }

    pub(super) fn orders(&mut self, country: &Country) -> Vec<PlacedOrder> {
        let times = self.purchase_times();
        let nu = gamma(&mut self.rng, SPEND.q, SPEND.gamma);
        let favourite = self.rng.random_range(0..catalog::CATEGORIES.len());
        let scale =
            10f64.powi(crate::domain::money::minor_digits(&self.world.rules.base_currency) as i32);
        let mut placed: Vec<PlacedOrder> = Vec::with_capacity(times.len() + times.len() / 10);
        for placed_at in times {
            if self.rng.random_bool(CANCELLED_ATTEMPTS) {
                // After the previous order, so the list stays in time order.
                let previous = placed.last().map_or(self.created_at, |o| o.placed_at);
                let earlier = (placed_at - self.rng.random_range(10 * MINUTE..6 * HOUR))
                    .max(previous)
                    .min(placed_at);
                let lines = self.random_basket(favourite);
                let subtotal = subtotal(&lines);
                let discount = self.promotion(subtotal);
                placed.push(self.order(country, lines, discount, earlier, true));
            }
            let spend = ((gamma(&mut self.rng, SPEND.p, nu) * scale).round() as i64).max(1);
            // The untaxed amount whose taxed total is `spend`, to the minor unit.
            let untaxed = ((spend * 10_000 + (10_000 + country.tax_bp) / 2)
                / (10_000 + country.tax_bp))
                .max(1);
            let lines = self.basket_for(favourite, untaxed);
            let discount = subtotal(&lines) - untaxed;
            placed.push(self.order(country, lines, discount, placed_at, false));
        }
        placed
    }

    /// Products until `untaxed` is reached: while more than the dearest
    /// product is left, any product (the favourite category more often than
    /// not); then one of those priced at least what is left, within 10.00 of
    /// the cheapest such, so the overshoot stays small.
    fn basket_for(&mut self, favourite: usize, untaxed: i64) -> Lines {
        let mut lines: Lines = Vec::new();
        let mut subtotal = 0;
        while subtotal < untaxed {
            let left = untaxed - subtotal;
            let product = if left > MAX_PRICE {
                self.any_product(favourite)
            } else {
                let cheapest = catalog::CATEGORIES
                    .iter()
                    .flat_map(|c| c.iter())
                    .filter(|p| p.price >= left)
                    .map(|p| p.price)
                    .min()
                    .unwrap_or(MAX_PRICE);
                let close: Vec<&'static Product> = catalog::CATEGORIES
                    .iter()
                    .flat_map(|c| c.iter())
                    .filter(|p| p.price >= left && p.price <= cheapest + 1_000)
                    .collect();
                *pick(&mut self.rng, &close)
            };
            add(&mut lines, product);
            subtotal += product.price;
        }
        lines
    }

    fn any_product(&mut self, favourite: usize) -> &'static Product {
        let category = if self.rng.random_bool(0.55) {
            favourite
        } else {
            self.rng.random_range(0..catalog::CATEGORIES.len())
        };
        pick(&mut self.rng, catalog::CATEGORIES[category])
    }

    /// A basket of one to four distinct products, quantities 1-3: what a
    /// cancelled attempt held.
    fn random_basket(&mut self, favourite: usize) -> Lines {
        let size = weighted(&mut self.rng, &[(1usize, 50), (2, 30), (3, 14), (4, 6)]);
        let mut lines: Lines = Vec::with_capacity(size);
        // A few retries suffice to find distinct products in a 38-item catalogue.
        for _ in 0..size * 4 {
            if lines.len() == size {
                break;
            }
            let product = self.any_product(favourite);
            if !lines.iter().any(|(p, _)| p.sku == product.sku) {
                let quantity = weighted(&mut self.rng, &[(1i32, 75), (2, 20), (3, 5)]);
                lines.push((product, quantity));
            }
        }
        lines
    }

    /// The promotions a cancelled attempt may have carried.
    fn promotion(&mut self, subtotal: i64) -> i64 {
        let roll: f64 = self.rng.random();
        if roll < 0.12 {
            subtotal / 10
        } else if roll < 0.17 {
            subtotal / 5
        } else if roll < 0.20 {
            (subtotal / 2).min(1_000)
        } else {
            0
        }
    }

    fn order(
        &mut self,
        country: &Country,
        lines: Lines,
        discount: i64,
        placed_at: i64,
        cancelled: bool,
    ) -> PlacedOrder {
        let id = take(&mut self.ids.order);
        let subtotal = subtotal(&lines);
        let mut products = Vec::with_capacity(lines.len());
        for (product, quantity) in lines {
            products.push(product);
            self.out.lines.push(OrderLineRow {
                id: take(&mut self.ids.line),
                order_id: id,
                customer_id: self.id,
                sku: product.sku,
                product_name: product.name,
                quantity,
                unit_price: product.price,
                category: product.category,
            });
        }
        let tax = (subtotal - discount) * country.tax_bp / 10_000;
        let total = subtotal - discount + tax;

        let age = self.world.today - placed_at;
        let roll: f64 = self.rng.random();
        let (status, refunded) = if cancelled {
            (OrderStatus::Cancelled, 0)
        } else if roll < 0.03 && age > 3 * DAY {
            (OrderStatus::Refunded, total)
        } else if roll < 0.06 && age > 3 * DAY {
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
            currency: self.world.rules.base_currency.clone(),
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
}

/// The dearest product of the catalogue.
const MAX_PRICE: i64 = {
    let mut max = 0;
    let mut c = 0;
    while c < catalog::CATEGORIES.len() {
        let mut i = 0;
        while i < catalog::CATEGORIES[c].len() {
            if catalog::CATEGORIES[c][i].price > max {
                max = catalog::CATEGORIES[c][i].price;
            }
            i += 1;
        }
        c += 1;
    }
    max
};

fn subtotal(lines: &Lines) -> i64 {
    lines.iter().map(|(p, q)| p.price * i64::from(*q)).sum()
}

/// One more of `product`: a new line, or a unit more on its line.
fn add(lines: &mut Lines, product: &'static Product) {
    match lines.iter_mut().find(|(p, _)| p.sku == product.sku) {
        Some((_, quantity)) => *quantity += 1,
        None => lines.push((product, 1)),
    }
}
