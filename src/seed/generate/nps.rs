//! A customer's NPS survey answers.

use c360_entity::enums::NpsChannel;
use rand::Rng;

use super::{CustomerGen, DAY, between, take, weighted};
use crate::domain::nps::Category;
use crate::seed::catalog;
use crate::seed::rows::NpsRow;

/// Percent of answers per category: an NPS of about +32, a healthy brand.
const SHARES: [(Category, u32); 3] = [
    (Category::Detractor, 20),
    (Category::Passive, 28),
    (Category::Promoter, 52),
];

impl CustomerGen<'_> {
    /// About a third of customers answered the survey, some more than once,
    /// no sooner than a week after signing up.
    pub(super) fn nps(&mut self) {
        let first = self.created_at + 7 * DAY;
        if first >= self.world.today || !self.rng.random_bool(0.35) {
            return;
        }
        let answers = weighted(&mut self.rng, &[(1usize, 70), (2, 20), (3, 10)]);
        for _ in 0..answers {
            let score = self.score();
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

    /// A category by its share, then a score within the category's range as
    /// `domain::nps` defines it, so the answers' mix is the NPS reported.
    fn score(&mut self) -> i32 {
        let mut roll = self.rng.random_range(0..100);
        let mut category = Category::Promoter;
        for (c, share) in SHARES {
            if roll < share {
                category = c;
                break;
            }
            roll -= share;
        }
        let (lo, hi) = category.range();
        self.rng.random_range(lo..=hi)
    }
}
