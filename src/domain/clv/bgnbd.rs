//! The BG/NBD model of repeat purchases and dropout (Fader, Hardie & Lee,
//! "Counting Your Customers the Easy Way", Marketing Science 24(2), 2005).
//!
//! While active, a customer buys at rate λ (a Poisson process); after each
//! repeat purchase they drop out for good with probability p. Across
//! customers λ ~ Gamma(r, α) (shape r, rate α) and p ~ Beta(a, b). A
//! customer is summarised by `x` repeat purchases, the time `t_x` from the
//! first purchase to the last, and the time `T` (here `age`) from the first
//! purchase to the end of observation, in one unit of time throughout
//! (days in the store, weeks in the CDNOW data).

use super::Fit;
use super::optimize::{self, Options};
use super::special::{hyp2f1_tail, ln_beta, ln_gamma, log_add_exp};

/// The four parameters: λ ~ Gamma(r, α), p ~ Beta(a, b).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BgNbd {
    pub r: f64,
    /// Rate of the Gamma distribution of λ, in the time unit of the data.
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

/// One customer: `x` repeat purchases, the last `t_x` after the first, and
/// `age` (the model's T) from the first purchase to now; `0 ≤ t_x ≤ age`,
/// `t_x = 0` when `x = 0`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    pub x: u32,
    pub t_x: f64,
    pub age: f64,
}

impl Observation {
    fn check(&self) -> Result<(), String> {
        let ok = self.t_x.is_finite()
            && self.age.is_finite()
            && self.t_x >= 0.0
            && self.t_x <= self.age
            && (self.x > 0 || self.t_x == 0.0);
        if ok {
            Ok(())
        } else {
            Err(format!(
                "x = {}, t_x = {}, T = {}: need 0 ≤ t_x ≤ T, and t_x = 0 when x = 0",
                self.x, self.t_x, self.age
            ))
        }
    }
}

/// Customers prepared for fitting: identical summaries merged into one
/// weighted record, times replaced by indexes into their distinct values,
/// so an evaluation of the likelihood takes one logarithm per distinct time
/// and one `ln(e^u + e^v)` per distinct repeat customer.
#[derive(Debug, Clone)]
pub struct Data {
    times: Vec<f64>,
    /// Sorted by `x`, so the terms that depend on `x` alone are computed
    /// once per value.
    records: Vec<Record>,
    customers: u64,
    repeat_purchases: f64,
    total_age: f64,
}

#[derive(Debug, Clone, Copy)]
struct Record {
    x: u32,
    t_x: u32,
    age: u32,
    weight: f64,
}

impl Data {
    /// Refuses an observation with `t_x` outside `[0, T]` (or non-zero
    /// without repeat purchases), naming it.
    pub fn new(observations: impl IntoIterator<Item = Observation>) -> Result<Data, String> {
        let mut all: Vec<Observation> = Vec::new();
        for o in observations {
            o.check()?;
            all.push(o);
        }
        let key = |o: &Observation| (o.x, o.t_x, o.age);
        all.sort_by(|p, q| {
            let (p, q) = (key(p), key(q));
            p.0.cmp(&q.0)
                .then(p.1.total_cmp(&q.1))
                .then(p.2.total_cmp(&q.2))
        });
        let mut times: Vec<f64> = all.iter().flat_map(|o| [o.t_x, o.age]).collect();
        times.sort_by(f64::total_cmp);
        times.dedup();
        let index = |t: f64| times.partition_point(|v| *v < t) as u32;
        let mut records: Vec<Record> = Vec::new();
        for o in &all {
            let (t_x, age) = (index(o.t_x), index(o.age));
            match records.last_mut() {
                Some(last) if last.x == o.x && last.t_x == t_x && last.age == age => {
                    last.weight += 1.0;
                }
                _ => records.push(Record {
                    x: o.x,
                    t_x,
                    age,
                    weight: 1.0,
                }),
            }
        }
        Ok(Data {
            customers: all.len() as u64,
            repeat_purchases: all.iter().map(|o| f64::from(o.x)).sum(),
            total_age: all.iter().map(|o| o.age).sum(),
            times,
            records,
        })
    }

    pub fn customers(&self) -> u64 {
        self.customers
    }

    /// The summed log-likelihood of every customer under `m`.
    pub fn log_likelihood(&self, m: &BgNbd) -> f64 {
        let BgNbd { r, alpha, a, b } = *m;
        let ln_at: Vec<f64> = self.times.iter().map(|t| (alpha + t).ln()).collect();
        let base = r * alpha.ln() - ln_gamma(r) - ln_beta(a, b);
        let mut total = 0.0;
        let mut current: Option<(u32, f64, f64)> = None;
        for rec in &self.records {
            let (common, dropout) = match current {
                Some((x, c, d)) if x == rec.x => (c, d),
                _ => {
                    let x = f64::from(rec.x);
                    let c = base + ln_gamma(r + x) + ln_beta(a, b + x);
                    let d = if rec.x > 0 {
                        a.ln() - (b + x - 1.0).ln()
                    } else {
                        f64::NEG_INFINITY
                    };
                    current = Some((rec.x, c, d));
                    (c, d)
                }
            };
            let rx = r + f64::from(rec.x);
            let alive = -rx * ln_at[rec.age as usize];
            let term = if rec.x == 0 {
                alive
            } else {
                log_add_exp(alive, dropout - rx * ln_at[rec.t_x as usize])
            };
            total += rec.weight * (common + term);
        }
        total
    }
}

impl BgNbd {
    /// One customer's log-likelihood (eq. 6 of the paper, in logs):
    /// `ln[ B(a,b+x)/B(a,b) · Γ(r+x)α^r/Γ(r) · ((α+T)^-(r+x) + δ_{x>0}·a/(b+x−1)·(α+t_x)^-(r+x)) ]`.
    pub fn log_likelihood(&self, o: &Observation) -> f64 {
        match Data::new([*o]) {
            Ok(data) => data.log_likelihood(self),
            Err(_) => f64::NAN,
        }
    }

    /// P(alive | x, t_x, T) = 1 / (1 + δ_{x>0} · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x)):
    /// 1 without repeat purchases (the model lets a customer drop out only
    /// after a repeat purchase).
    pub fn p_alive(&self, o: &Observation) -> f64 {
        if o.x == 0 {
            return 1.0;
        }
        let x = f64::from(o.x);
        let ln_odds = (self.a / (self.b + x - 1.0)).ln()
            + (self.r + x) * ((self.alpha + o.age).ln() - (self.alpha + o.t_x).ln());
        // 1/(1 + e^u) without overflow for large u.
        if ln_odds > 0.0 {
            let e = (-ln_odds).exp();
            e / (1.0 + e)
        } else {
            1.0 / (1.0 + ln_odds.exp())
        }
    }

    /// E[Y(t) | x, t_x, T]: expected repeat purchases in the next `t`
    /// (eq. 10 of the paper), = P(alive) × [`Self::expected_if_alive`].
    pub fn expected(&self, o: &Observation, t: f64) -> Option<f64> {
        Some(self.p_alive(o) * self.expected_if_alive(o, t)?)
    }

    /// Expected purchases in the next `t` of a customer known to be alive
    /// now: eq. 10 without its denominator,
    /// `(a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) · 2F1(r+x, b+x; a+b+x−1; z)]`,
    /// `z = t/(α+T+t)`.
    ///
    /// Evaluated as Fader and Hardie's Excel note cannot: the 2F1 of the
    /// paper grows like `(1−z)^-(r+x)` and overflows for heavy buyers,
    /// while the power in front vanishes. Euler's transformation gives
    /// `2F1(r+x, b+x; c; z) = (1−z)^(a−1−r−x) · 2F1(a+b−1−r, a−1; c; z)`, so
    /// the product is `(1−z)^(a−1) · F` with `F` a series of modest terms,
    /// and with `F = 1 + (a−1)·S` ([`hyp2f1_tail`]) the bracket over
    /// `(a−1)` is `−expm1((a−1)·ln(1−z) + ln1p((a−1)·S)) / (a−1)`, exact as
    /// `a` passes through 1 (its limit there is `−ln(1−z) − S`).
    pub fn expected_if_alive(&self, o: &Observation, t: f64) -> Option<f64> {
        if t <= 0.0 {
            return Some(0.0);
        }
        let BgNbd { r, alpha, a, b } = *self;
        let x = f64::from(o.x);
        let c = a + b + x - 1.0;
        let z = t / (alpha + o.age + t);
        let ln_1mz = -(t / (alpha + o.age)).ln_1p();
        let s = hyp2f1_tail(a + b - 1.0 - r, a - 1.0, c, z)?;
        let eps = a - 1.0;
        let bracket_over_eps = if eps == 0.0 {
            -(ln_1mz + s)
        } else {
            let f = eps * s;
            if f <= -1.0 {
                return None;
            }
            -(eps * ln_1mz + f.ln_1p()).exp_m1() / eps
        };
        let value = c * bracket_over_eps;
        value.is_finite().then_some(value.max(0.0))
    }

    /// The first whole time unit `d` in `1..=horizon` by which an alive
    /// customer is expected to have bought once (`expected_if_alive(d) ≥
    /// 1`), or None when that is beyond `horizon`: the expectation grows
    /// with `d`, so a bisection over whole units finds it.
    pub fn first_expected_purchase(&self, o: &Observation, horizon: u32) -> Option<u32> {
        let reaches = |d: u32| {
            self.expected_if_alive(o, f64::from(d))
                .is_some_and(|e| e >= 1.0)
        };
        if horizon == 0 || !reaches(horizon) {
            return None;
        }
        let (mut lo, mut hi) = (0u32, horizon);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if reaches(mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Some(hi)
    }

    fn from_logs(v: &[f64]) -> BgNbd {
        BgNbd {
            r: v[0].exp(),
            alpha: v[1].exp(),
            a: v[2].exp(),
            b: v[3].exp(),
        }
    }
}

/// Maximum likelihood over `data`, searching the logarithms of the
/// parameters (see `optimize`). Starts at r = a = b = 1 and α making the
/// mean rate r/α the observed repeat rate (total repeat purchases over
/// total time observed), so the search starts in the data's time scale.
pub fn fit(data: &Data) -> Fit<BgNbd> {
    let n = data.customers.max(1) as f64;
    let alpha0 = if data.repeat_purchases > 0.0 && data.total_age > 0.0 {
        data.total_age / data.repeat_purchases
    } else {
        1.0
    };
    let start = [0.0, alpha0.ln(), 0.0, 0.0];
    let objective = |v: &[f64]| -data.log_likelihood(&BgNbd::from_logs(v)) / n;
    let found = optimize::minimize(objective, &start, &Options::default());
    let params = BgNbd::from_logs(&found.x);
    Fit {
        params,
        log_likelihood: -found.value * n,
        converged: found.converged,
        evaluations: found.evaluations,
        customers: data.customers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CDNOW estimates of the paper (weeks).
    const CDNOW: BgNbd = BgNbd {
        r: 0.242_593,
        alpha: 4.413_532,
        a: 0.792_886,
        b: 2.425_752,
    };

    fn obs(x: u32, t_x: f64, age: f64) -> Observation {
        Observation { x, t_x, age }
    }

    fn close(actual: Option<f64>, expected: f64, rel: f64) {
        let actual = actual.unwrap_or(f64::NAN);
        let err = (actual - expected).abs() / expected.abs();
        assert!(err <= rel, "{actual} vs {expected}: {err:e}");
    }

    #[test]
    fn conditional_figures_match_an_independent_computation() {
        // The paper's formulas at the parameters above in mpmath (40 digits,
        // its own hyp2f1), 39 and 52 weeks ahead, for CDNOW customers 1, 3,
        // 142 and 157: x, t_x, T, P(alive), E[Y(39)], E[Y(52)].
        let cases = [
            (
                2,
                30.43,
                38.86,
                0.726_609_102_456_251,
                1.225_910_385_693_89,
                1.558_583_704_825_48,
            ),
            (
                0,
                0.0,
                38.86,
                1.0,
                0.194_780_912_293_561,
                0.251_665_794_228_873,
            ),
            (
                5,
                6.86,
                38.0,
                0.007_736_053_055_968_97,
                0.029_943_887_180_613_9,
                0.037_742_019_519_242_1,
            ),
            (
                29,
                37.71,
                38.0,
                0.969_133_592_309_722,
                20.053_665_164_267,
                25.061_422_251_306,
            ),
        ];
        for (x, t_x, age, alive, e39, e52) in cases {
            let o = obs(x, t_x, age);
            close(Some(CDNOW.p_alive(&o)), alive, 1e-12);
            close(CDNOW.expected(&o, 39.0), e39, 1e-12);
            close(CDNOW.expected(&o, 52.0), e52, 1e-12);
        }
    }

    #[test]
    fn heavy_buyers_do_not_overflow() {
        // x = 2,000: the paper's 2F1 is about 10^900 here. mpmath at 50
        // digits, from the paper's formula: P(alive) 0.998668055426702,
        // E[Y(52)] 1028.54416305260.
        let o = obs(2_000, 77.95, 78.0);
        close(Some(CDNOW.p_alive(&o)), 0.998_668_055_426_702, 1e-12);
        close(CDNOW.expected(&o, 52.0), 1_028.544_163_052_60, 1e-10);
    }

    #[test]
    fn the_expectation_is_continuous_through_a_equal_to_one() {
        let o = obs(3, 20.0, 40.0);
        let at = |a: f64| BgNbd { a, ..CDNOW }.expected(&o, 52.0).unwrap_or(f64::NAN);
        let (below, exact, above) = (at(1.0 - 1e-9), at(1.0), at(1.0 + 1e-9));
        assert!(exact.is_finite() && exact > 0.0);
        assert!((below - exact).abs() < 1e-7 && (above - exact).abs() < 1e-7);
    }

    #[test]
    fn expectations_grow_with_the_horizon_and_alive_customers_buy_more() {
        let o = obs(4, 10.0, 40.0);
        let mut last = 0.0;
        for t in [1.0, 13.0, 26.0, 39.0, 52.0, 104.0] {
            let e = CDNOW.expected(&o, t).unwrap_or(f64::NAN);
            assert!(e > last, "{t}: {e} after {last}");
            last = e;
            let alive = CDNOW.expected_if_alive(&o, t).unwrap_or(f64::NAN);
            assert!(alive >= e);
        }
        assert_eq!(CDNOW.expected(&o, 0.0), Some(0.0));
    }

    #[test]
    fn the_first_expected_purchase_is_where_one_purchase_is_reached() {
        let o = obs(2, 30.43, 38.86);
        let d = CDNOW.first_expected_purchase(&o, 520).unwrap_or(0);
        assert!(d > 1);
        let e = |t: u32| {
            CDNOW
                .expected_if_alive(&o, f64::from(t))
                .unwrap_or(f64::NAN)
        };
        assert!(e(d) >= 1.0 && e(d - 1) < 1.0, "{d}");
        // Out of reach within a short horizon.
        assert_eq!(CDNOW.first_expected_purchase(&o, 2), None);
    }

    #[test]
    fn identical_customers_are_merged_without_changing_the_likelihood() {
        let people = [obs(0, 0.0, 30.0), obs(2, 10.0, 30.0), obs(2, 10.0, 30.0)];
        let data = Data::new(people).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(data.records.len(), 2);
        let one_by_one: f64 = people.iter().map(|o| CDNOW.log_likelihood(o)).sum();
        let merged = data.log_likelihood(&CDNOW);
        assert!(
            (merged - one_by_one).abs() < 1e-12,
            "{merged} vs {one_by_one}"
        );
        assert!(Data::new([obs(1, 40.0, 30.0)]).is_err());
        assert!(Data::new([obs(0, 1.0, 30.0)]).is_err());
    }
}

#[cfg(test)]
mod cdnow {
    use super::*;

    const SUMMARY: &str =
        include_str!("../../../tests/api/fixtures/cdnow/cdnow_customers_summary.csv");

    #[test]
    fn cdnow_fit_matches_the_maximum_likelihood() {
        let data = Data::new(SUMMARY.lines().skip(1).map(|line| {
            let v: Vec<f64> = line
                .split(',')
                .map(|f| f.trim().parse().unwrap_or(f64::NAN))
                .collect();
            Observation {
                x: v[1] as u32,
                t_x: v[2],
                age: v[3],
            }
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let started = std::time::Instant::now();
        let fit = fit(&data);
        eprintln!("{fit:?} in {:?}", started.elapsed());
        assert!(fit.converged);
        // reference.py's fit (SciPy, this data): 0.242593, 4.413532,
        // 0.792886, 2.425754; log-likelihood −9582.4256.
        let p = fit.params;
        for (got, want) in [
            (p.r, 0.242_593),
            (p.alpha, 4.413_532),
            (p.a, 0.792_886),
            (p.b, 2.425_754),
        ] {
            assert!((got / want - 1.0).abs() < 1e-5, "{got} vs {want}");
        }
        assert!(
            (fit.log_likelihood + 9_582.425_6).abs() < 1e-3,
            "{}",
            fit.log_likelihood
        );
    }
}
