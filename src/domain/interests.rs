//! Interests and recommendations: which categories and products a customer
//! buys most, recent purchases weighing more, and which products customers
//! who bought the same things also bought. Pure ranking over rows that
//! `read::interests` and `service::recommendations` read.
//!
//! Interests. A *purchase* is the lines of one sku in one order that counts
//! ([`PURCHASES_EXCLUDE`]: not cancelled, as for the metrics, nor fully
//! refunded; in the base currency). Its amount is `Σ quantity × unit price`
//! and its weight `amount × 2^(−age / half-life)`. A category's or a
//! product's share is its weight over the weight of all the customer's
//! purchases, uncategorised ones included, so shares never overstate.
//! Ages are counted back from the customer's latest purchase, not from now:
//! moving the reference multiplies every weight by the same factor, so the
//! shares and the ranking are those of any reference time (they change only
//! when purchases do), and the newest purchase weighs its amount, so a long
//! history never underflows to zero.
//!
//! Recommendations. Two skus are similar when the same customers buy both:
//! `similarity(a, b) = both / (buyers(a) + buyers(b) − both)` (Jaccard over
//! customers, 0 to 1). A candidate's score is the sum of its similarities
//! to every sku the customer bought; skus the customer bought are never
//! candidates; ties go to the smaller sku.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use c360_entity::enums::OrderStatus;
use chrono::{DateTime, TimeDelta, Utc};

use crate::error::{AppError, AppResult};

/// Orders whose lines are not purchases: cancelled ones, which no figure
/// counts (`domain::orders`), and fully refunded ones, whose goods came
/// back. A partial refund does not say which line it refunded, so its
/// order's lines count in full.
pub const PURCHASES_EXCLUDE: [OrderStatus; 2] = [super::orders::NOT_COUNTED, OrderStatus::Refunded];

/// Entries a list gives unless asked (`first`).
pub const DEFAULT_FIRST: i32 = 5;
/// The most entries a list gives.
pub const MAX_FIRST: i32 = 50;
/// Purchased products a recommendation names as its reasons.
pub const MAX_REASONS: usize = 3;

/// How many entries to give for `first`; BAD_USER_INPUT on `first` outside 1 to 50.
pub fn first(first: Option<i32>) -> AppResult<usize> {
    let n = first.unwrap_or(DEFAULT_FIRST);
    if !(1..=MAX_FIRST).contains(&n) {
        return Err(AppError::bad_input(
            "first",
            format!("first must be 1 to {MAX_FIRST}, not {n}"),
        ));
    }
    Ok(n as usize)
}

/// Exponential decay by a half-life: a purchase one half-life older than
/// another weighs half as much per unit of money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decay {
    half_life: TimeDelta,
}

impl Default for Decay {
    /// 180 days.
    fn default() -> Decay {
        Decay {
            half_life: TimeDelta::days(180),
        }
    }
}

impl Decay {
    /// None unless `half_life` is positive.
    pub fn new(half_life: TimeDelta) -> Option<Decay> {
        (half_life > TimeDelta::zero()).then_some(Decay { half_life })
    }

    pub fn half_life(&self) -> TimeDelta {
        self.half_life
    }

    /// `2^(−age / half-life)`: 1 at age 0, ½ one half-life later.
    pub fn factor(&self, age: TimeDelta) -> f64 {
        let halves = age.num_milliseconds() as f64 / self.half_life.num_milliseconds() as f64;
        (-halves).exp2()
    }
}

/// The lines of one sku in one counted order of a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchase {
    pub order_id: i64,
    pub placed_at: DateTime<Utc>,
    pub sku: String,
    pub product_name: String,
    pub category: Option<String>,
    /// `Σ quantity × unit price`, minor units of the base currency.
    pub amount: i64,
}

/// A category the customer buys.
#[derive(Debug, Clone, PartialEq)]
pub struct CategoryInterest {
    pub category: String,
    /// Of the customer's recency-weighted purchases, 0 to 1.
    pub share: f64,
    /// Orders with a purchase in the category.
    pub orders: i64,
    pub last_purchased_at: DateTime<Utc>,
}

/// A product the customer buys.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductInterest {
    pub sku: String,
    /// The name and category on the latest purchase.
    pub product_name: String,
    pub category: Option<String>,
    pub share: f64,
    pub orders: i64,
    pub last_purchased_at: DateTime<Utc>,
}

/// A customer's categories and products, highest share first (ties by name).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Interests {
    pub categories: Vec<CategoryInterest>,
    pub products: Vec<ProductInterest>,
}

impl Interests {
    /// The highest-interest category, None without a categorised purchase.
    pub fn top_category(&self) -> Option<&str> {
        self.categories.first().map(|c| c.category.as_str())
    }
}

#[derive(Default)]
struct Tally {
    weight: f64,
    orders: BTreeSet<i64>,
    last: Option<DateTime<Utc>>,
}

impl Tally {
    fn add(&mut self, p: &Purchase, weight: f64) {
        self.weight += weight;
        self.orders.insert(p.order_id);
        self.last = self.last.max(Some(p.placed_at));
    }
}

/// Ranks a customer's purchases. Weights are summed in the order given, so
/// callers pass the same rows in the same order (by placement, order, sku)
/// for the same figures.
pub fn rank(decay: Decay, purchases: &[Purchase]) -> Interests {
    let Some(latest) = purchases.iter().map(|p| p.placed_at).max() else {
        return Interests::default();
    };
    let mut total = 0.0;
    let mut categories: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut products: BTreeMap<&str, (Tally, &Purchase)> = BTreeMap::new();
    for p in purchases {
        let weight = p.amount as f64 * decay.factor(latest - p.placed_at);
        total += weight;
        if let Some(category) = &p.category {
            categories.entry(category).or_default().add(p, weight);
        }
        let (tally, shown) = products
            .entry(&p.sku)
            .or_insert_with(|| (Tally::default(), p));
        tally.add(p, weight);
        if (p.placed_at, p.order_id) > (shown.placed_at, shown.order_id) {
            *shown = p;
        }
    }
    let share = |w: f64| if total > 0.0 { w / total } else { 0.0 };
    let mut out = Interests {
        categories: categories
            .into_iter()
            .map(|(category, t)| CategoryInterest {
                category: category.to_owned(),
                share: share(t.weight),
                orders: t.orders.len() as i64,
                last_purchased_at: t.last.unwrap_or(latest),
            })
            .collect(),
        products: products
            .into_iter()
            .map(|(sku, (t, shown))| ProductInterest {
                sku: sku.to_owned(),
                product_name: shown.product_name.clone(),
                category: shown.category.clone(),
                share: share(t.weight),
                orders: t.orders.len() as i64,
                last_purchased_at: t.last.unwrap_or(latest),
            })
            .collect(),
    };
    // Stable sorts over name-ordered entries: equal shares stay by name.
    out.categories.sort_by(|a, b| b.share.total_cmp(&a.share));
    out.products.sort_by(|a, b| b.share.total_cmp(&a.share));
    out
}

/// A sku similar to one the customer bought (a row of the co-purchase table).
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbour {
    /// The sku the customer bought, and its name on the customer's lines.
    pub owned_sku: String,
    pub owned_name: String,
    pub sku: String,
    pub name: String,
    pub similarity: f64,
}

/// A purchased product that led to a recommendation.
#[derive(Debug, Clone, PartialEq)]
pub struct Reason {
    pub sku: String,
    pub product_name: String,
    /// Its similarity to the recommended product: its part of the score.
    pub similarity: f64,
}

/// A product to recommend.
#[derive(Debug, Clone, PartialEq)]
pub struct Recommendation {
    pub sku: String,
    pub product_name: String,
    /// Σ similarity to the customer's purchased skus.
    pub score: f64,
    /// The purchased products that contributed most, most first (ties by
    /// sku), at most [`MAX_REASONS`].
    pub because: Vec<Reason>,
}

/// Ranks candidates from the neighbours of every sku the customer bought,
/// in the order given (by owned sku, then sku). The co-purchase table holds
/// both orders of every pair, so a bought sku that is anyone's neighbour
/// is among the owned skus of the rows, and is left out.
pub fn recommend(neighbours: &[Neighbour]) -> Vec<Recommendation> {
    let owned: BTreeSet<&str> = neighbours.iter().map(|n| n.owned_sku.as_str()).collect();
    let mut by_sku: HashMap<&str, Recommendation> = HashMap::new();
    for n in neighbours
        .iter()
        .filter(|n| !owned.contains(n.sku.as_str()))
    {
        let r = by_sku.entry(&n.sku).or_insert_with(|| Recommendation {
            sku: n.sku.clone(),
            product_name: n.name.clone(),
            score: 0.0,
            because: Vec::new(),
        });
        r.score += n.similarity;
        r.because.push(Reason {
            sku: n.owned_sku.clone(),
            product_name: n.owned_name.clone(),
            similarity: n.similarity,
        });
    }
    let mut out: Vec<Recommendation> = by_sku.into_values().collect();
    for r in &mut out {
        r.because.sort_by(|a, b| {
            b.similarity
                .total_cmp(&a.similarity)
                .then_with(|| a.sku.cmp(&b.sku))
        });
        r.because.truncate(MAX_REASONS);
    }
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.sku.cmp(&b.sku)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(n: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::days(20_000 + n)
    }

    fn bought(order_id: i64, at: i64, sku: &str, category: Option<&str>, amount: i64) -> Purchase {
        Purchase {
            order_id,
            placed_at: day(at),
            sku: sku.to_owned(),
            product_name: format!("{sku} name"),
            category: category.map(str::to_owned),
            amount,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn a_half_life_halves_the_weight() {
        let d = Decay::default();
        assert_eq!(d.factor(TimeDelta::zero()), 1.0);
        assert!(close(d.factor(TimeDelta::days(180)), 0.5));
        assert!(close(d.factor(TimeDelta::days(360)), 0.25));
        assert!(close(d.factor(TimeDelta::days(90)), 0.5f64.sqrt()));
        assert_eq!(Decay::new(TimeDelta::zero()), None);
    }

    #[test]
    fn shares_weigh_recent_money_more() {
        // 100 of skincare today; 200 of makeup one half-life (180 days) ago,
        // worth 200 × ½ = 100; 100 uncategorised 360 days ago, worth 25.
        // Total 225: skincare and makeup 100/225 each, ties by name.
        let p = [
            bought(1, -360, "X-1", None, 100),
            bought(2, -180, "M-1", Some("makeup"), 200),
            bought(3, 0, "S-1", Some("skincare"), 60),
            bought(3, 0, "S-2", Some("skincare"), 40),
        ];
        let i = rank(Decay::default(), &p);
        let cats: Vec<(&str, f64, i64)> = i
            .categories
            .iter()
            .map(|c| (c.category.as_str(), c.share, c.orders))
            .collect();
        assert_eq!(cats.len(), 2);
        assert_eq!(cats[0].0, "makeup");
        assert!(close(cats[0].1, 100.0 / 225.0));
        assert_eq!(cats[1].0, "skincare");
        assert!(close(cats[1].1, 100.0 / 225.0));
        assert_eq!(cats[1].2, 1, "two skus of one order are one order");
        assert_eq!(i.top_category(), Some("makeup"));
        let skus: Vec<&str> = i.products.iter().map(|p| p.sku.as_str()).collect();
        assert_eq!(skus, ["M-1", "S-1", "S-2", "X-1"]);
        assert!(close(i.products[3].share, 25.0 / 225.0));
    }

    #[test]
    fn shares_do_not_depend_on_when_they_are_read() {
        let p = [
            bought(1, -100, "A", Some("hair"), 500),
            bought(2, -10, "B", Some("body"), 300),
        ];
        let moved: Vec<Purchase> = p
            .iter()
            .cloned()
            .map(|mut x| {
                x.placed_at += TimeDelta::days(3_000);
                x
            })
            .collect();
        assert_eq!(rank(Decay::default(), &p), {
            let mut r = rank(Decay::default(), &moved);
            for c in &mut r.categories {
                c.last_purchased_at -= TimeDelta::days(3_000);
            }
            for c in &mut r.products {
                c.last_purchased_at -= TimeDelta::days(3_000);
            }
            r
        });
    }

    #[test]
    fn a_product_shows_its_latest_name_and_counts_its_orders() {
        let mut old = bought(1, -5, "A", Some("hair"), 100);
        old.product_name = "Old name".into();
        let new = bought(2, -1, "A", Some("hair"), 100);
        let i = rank(Decay::default(), &[old, new]);
        assert_eq!(i.products[0].product_name, "A name");
        assert_eq!(i.products[0].orders, 2);
        assert_eq!(i.products[0].last_purchased_at, day(-1));
        assert!(close(i.products[0].share, 1.0));
    }

    #[test]
    fn nothing_bought_is_no_interest() {
        assert_eq!(rank(Decay::default(), &[]), Interests::default());
        let free = rank(Decay::default(), &[bought(1, 0, "A", Some("hair"), 0)]);
        assert_eq!(free.categories[0].share, 0.0);
    }

    fn n(owned: &str, sku: &str, similarity: f64) -> Neighbour {
        Neighbour {
            owned_sku: owned.into(),
            owned_name: format!("{owned} name"),
            sku: sku.into(),
            name: format!("{sku} name"),
            similarity,
        }
    }

    #[test]
    fn scores_add_up_and_owned_skus_are_left_out() {
        let rows = [
            n("A", "B", 0.5),
            n("A", "C", 0.25),
            n("A", "D", 0.5),
            n("B", "A", 0.5),
            n("B", "C", 0.5),
        ];
        // B is owned (it has rows of its own). C: 0.25 + 0.5; D: 0.5.
        let r = recommend(&rows);
        let got: Vec<(&str, f64)> = r.iter().map(|r| (r.sku.as_str(), r.score)).collect();
        assert_eq!(got, [("C", 0.75), ("D", 0.5)]);
        let because: Vec<&str> = r[0].because.iter().map(|b| b.sku.as_str()).collect();
        assert_eq!(because, ["B", "A"]);
        assert_eq!(r[0].because[0].product_name, "B name");
    }

    #[test]
    fn ties_go_to_the_smaller_sku() {
        let r = recommend(&[n("A", "Z", 0.5), n("A", "Y", 0.5)]);
        let got: Vec<&str> = r.iter().map(|r| r.sku.as_str()).collect();
        assert_eq!(got, ["Y", "Z"]);
        assert!(recommend(&[]).is_empty());
    }

    #[test]
    fn first_is_bounded() {
        assert_eq!(first(None).ok(), Some(5));
        assert_eq!(first(Some(50)).ok(), Some(50));
        assert!(first(Some(0)).is_err());
        assert!(first(Some(51)).is_err());
    }
}
