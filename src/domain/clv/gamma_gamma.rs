//! The Gamma-Gamma model of spend per order (Fader, Hardie & Lee, "RFM and
//! CLV: Using Iso-Value Curves for Customer Base Analysis", JMR 2005; Fader
//! & Hardie, "The Gamma-Gamma Model of Monetary Value", 2013).
//!
//! Each order of a customer is worth z ~ Gamma(p, ν) (shape p, rate ν), and
//! across customers ν ~ Gamma(q, γ) (shape q, rate γ); so a customer's
//! mean spend is p/ν, and over the base E[p/ν] = pγ/(q−1). A customer is
//! summarised by `x` repeat orders and their mean value `z̄`; spend is
//! assumed independent of how often the customer buys.

use super::Fit;
use super::optimize::{self, Options};
use super::special::ln_gamma;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GammaGamma {
    pub p: f64,
    pub q: f64,
    /// Rate of the Gamma distribution of ν, in the currency unit of the data.
    pub gamma: f64,
}

impl GammaGamma {
    /// One customer's log-likelihood of `x` orders averaging `mean` (> 0),
    /// eq. 1 of the 2013 note in logs: `ln Γ(px+q) − ln Γ(px) − ln Γ(q) +
    /// q ln γ + (px−1) ln z̄ + px ln x − (px+q) ln(γ + x z̄)`.
    pub fn log_likelihood(&self, x: u32, mean: f64) -> f64 {
        let GammaGamma { p, q, gamma } = *self;
        let x = f64::from(x);
        ln_gamma(p * x + q) - ln_gamma(p * x) - ln_gamma(q)
            + q * gamma.ln()
            + (p * x - 1.0) * mean.ln()
            + p * x * x.ln()
            - (p * x + q) * (gamma + x * mean).ln()
    }

    /// E[Z | x, z̄] = p(γ + x z̄)/(px + q − 1), the customer's expected spend
    /// per order: the base's mean pγ/(q−1) and the customer's own z̄,
    /// weighted by how many orders the customer has shown. None without a
    /// repeat order (nothing of the customer's own to weigh) or when
    /// q ≤ 1 (the base's mean spend is then infinite).
    pub fn expected_spend(&self, x: u32, mean: f64) -> Option<f64> {
        if x == 0 || self.q <= 1.0 || !mean.is_finite() || mean < 0.0 {
            return None;
        }
        let x = f64::from(x);
        Some(self.p * (self.gamma + x * mean) / (self.p * x + self.q - 1.0))
    }

    fn from_logs(v: &[f64]) -> GammaGamma {
        GammaGamma {
            p: v[0].exp(),
            q: v[1].exp(),
            gamma: v[2].exp(),
        }
    }
}

/// Repeat customers prepared for fitting: sorted by `x`, with the sums that
/// do not depend on the parameters taken once.
#[derive(Debug, Clone)]
pub struct Data {
    /// `(x, z̄)`, sorted by `x`.
    records: Vec<(u32, f64)>,
    sum_ln_mean: f64,
    sum_x_ln_mean: f64,
    sum_x_ln_x: f64,
    sum_mean: f64,
}

impl Data {
    /// Keeps the customers with at least one repeat order and a positive
    /// mean (the density is zero at z̄ = 0); refuses a non-finite mean.
    pub fn new(customers: impl IntoIterator<Item = (u32, f64)>) -> Result<Data, String> {
        let mut records = Vec::new();
        for (x, mean) in customers {
            if !mean.is_finite() {
                return Err(format!("x = {x}: mean spend {mean} is not a number"));
            }
            if x > 0 && mean > 0.0 {
                records.push((x, mean));
            }
        }
        records.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        let fx = |x: u32| f64::from(x);
        Ok(Data {
            sum_ln_mean: records.iter().map(|(_, m)| m.ln()).sum(),
            sum_x_ln_mean: records.iter().map(|(x, m)| fx(*x) * m.ln()).sum(),
            sum_x_ln_x: records.iter().map(|(x, _)| fx(*x) * fx(*x).ln()).sum(),
            sum_mean: records.iter().map(|(_, m)| m).sum(),
            records,
        })
    }

    pub fn customers(&self) -> u64 {
        self.records.len() as u64
    }

    /// The summed log-likelihood under `m`: the terms in z̄ and x alone are
    /// the sums kept, the ln Γ terms are taken once per value of x, and
    /// each customer costs one logarithm.
    pub fn log_likelihood(&self, m: &GammaGamma) -> f64 {
        let GammaGamma { p, q, gamma } = *m;
        let n = self.records.len() as f64;
        let mut total = n * (q * gamma.ln() - ln_gamma(q)) + p * self.sum_x_ln_mean
            - self.sum_ln_mean
            + p * self.sum_x_ln_x;
        let mut current: Option<(u32, f64)> = None;
        for &(x, mean) in &self.records {
            let per_x = match current {
                Some((cx, v)) if cx == x => v,
                _ => {
                    let px = p * f64::from(x);
                    let v = ln_gamma(px + q) - ln_gamma(px);
                    current = Some((x, v));
                    v
                }
            };
            let fx = f64::from(x);
            total += per_x - (p * fx + q) * (gamma + fx * mean).ln();
        }
        total
    }
}

/// Maximum likelihood over `data`, searching the logarithms of the
/// parameters. Starts at p = 1, q = 2 and γ the mean of z̄, where the base's
/// mean spend pγ/(q−1) equals the observed mean.
pub fn fit(data: &Data) -> Fit<GammaGamma> {
    let n = data.records.len().max(1) as f64;
    let mean = if data.sum_mean > 0.0 {
        data.sum_mean / n
    } else {
        1.0
    };
    let start = [0.0, 2.0f64.ln(), mean.ln()];
    let objective = |v: &[f64]| -data.log_likelihood(&GammaGamma::from_logs(v)) / n;
    let found = optimize::minimize(objective, &start, &Options::default());
    Fit {
        params: GammaGamma::from_logs(&found.x),
        log_likelihood: -found.value * n,
        converged: found.converged,
        evaluations: found.evaluations,
        customers: data.customers(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CDNOW estimates of the 2013 note (dollars).
    const CDNOW: GammaGamma = GammaGamma {
        p: 6.248_802,
        q: 3.744_588,
        gamma: 15.447_748,
    };

    #[test]
    fn expected_spend_weighs_the_base_and_the_customer() {
        // reference.py: customers 1 (x = 2, z̄ = 22.35) and 244 (5, 194.86).
        let got = CDNOW.expected_spend(2, 22.35).unwrap_or(f64::NAN);
        assert!((got - 24.658_616).abs() < 1e-5, "{got}");
        let got = CDNOW.expected_spend(5, 194.86).unwrap_or(f64::NAN);
        assert!((got - 181.965_073).abs() < 1e-5, "{got}");
        // Between the base's mean and the customer's own.
        let base = CDNOW.p * CDNOW.gamma / (CDNOW.q - 1.0);
        let own = 80.0;
        let got = CDNOW.expected_spend(3, own).unwrap_or(f64::NAN);
        assert!(got > base && got < own, "{base} < {got} < {own}");
        assert_eq!(CDNOW.expected_spend(0, 30.0), None);
        assert_eq!(GammaGamma { q: 0.9, ..CDNOW }.expected_spend(3, 30.0), None);
    }

    #[test]
    fn the_shortcut_likelihood_equals_the_sum_of_customers() {
        let customers = [(1, 10.0), (3, 25.5), (3, 12.0), (7, 60.0), (2, 0.0)];
        let data = Data::new(customers).unwrap_or_else(|e| panic!("{e}"));
        // The zero mean is left out of the fit.
        assert_eq!(data.customers(), 4);
        let direct: f64 = customers
            .iter()
            .filter(|(_, m)| *m > 0.0)
            .map(|(x, m)| CDNOW.log_likelihood(*x, *m))
            .sum();
        let shortcut = data.log_likelihood(&CDNOW);
        assert!((direct - shortcut).abs() < 1e-10, "{direct} vs {shortcut}");
    }
}

#[cfg(test)]
mod cdnow {
    use super::*;

    const SPEND: &str = include_str!(
        "../../../tests/api/fixtures/cdnow/cdnow_customers_summary_with_transactions.csv"
    );

    #[test]
    fn cdnow_fit_matches_the_maximum_likelihood() {
        let data = Data::new(SPEND.lines().skip(1).map(|line| {
            let v: Vec<f64> = line
                .split(',')
                .map(|f| f.trim().parse().unwrap_or(f64::NAN))
                .collect();
            (v[1] as u32, v[4])
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(data.customers(), 946);
        let fit = fit(&data);
        eprintln!("{fit:?}");
        assert!(fit.converged);
        // reference.py's fit: 6.248803, 3.744588, 15.447746; −4055.9232.
        let p = fit.params;
        for (got, want) in [(p.p, 6.248_803), (p.q, 3.744_588), (p.gamma, 15.447_746)] {
            assert!((got / want - 1.0).abs() < 1e-5, "{got} vs {want}");
        }
        assert!(
            (fit.log_likelihood + 4_055.923_2).abs() < 1e-3,
            "{}",
            fit.log_likelihood
        );
    }
}
