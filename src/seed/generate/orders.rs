//! A customer's orders and their lines: how many, when, what basket, what
//! discount and tax, and where each order stands today.

use c360_entity::enums::{OrderChannel, OrderStatus};
use rand::Rng;

use super::{CustomerGen, DAY, MINUTE, PlacedOrder, between, pick, take, weighted};
use crate::seed::catalog::{self, Country, Product};
use crate::seed::rows::{OrderLineRow, OrderRow};

impl CustomerGen<'_> {
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

    pub(super) fn orders(&mut self, country: &Country) -> Vec<PlacedOrder> {
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
