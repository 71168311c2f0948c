//! A customer's product reviews: verified ones for kept purchases, a few
//! unverified, and their moderation status.

use std::collections::BTreeMap;

use c360_entity::enums::ReviewStatus;
use rand::Rng;

use super::{CustomerGen, DAY, HOUR, PlacedOrder, between, pick, take, weighted};
use crate::seed::catalog;
use crate::seed::rows::ReviewRow;

impl CustomerGen<'_> {
    /// Some kept purchases get a verified review; a few customers review a
    /// product they never bought (unverified). One review per sku.
    pub(super) fn reviews(&mut self, orders: &[PlacedOrder]) {
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
}
