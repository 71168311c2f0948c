//! Draws from the continuous distributions of the purchase and spend
//! processes, on the customer's own stream. Written out rather than taken
//! from `rand_distr` so the seeded data cannot change with a dependency's
//! choice of algorithm.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// A uniform draw in `(0, 1]`, safe to take the logarithm of.
fn open_unit(rng: &mut ChaCha8Rng) -> f64 {
    1.0 - rng.random::<f64>()
}

/// N(0, 1) by Box–Muller (one of the pair; the draw count stays fixed).
fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    let (u, v) = (open_unit(rng), rng.random::<f64>());
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

/// Exponential with rate `rate` (mean `1/rate`); +∞ for a zero rate.
pub fn exponential(rng: &mut ChaCha8Rng, rate: f64) -> f64 {
    -open_unit(rng).ln() / rate
}

/// Gamma with shape `shape` and rate `rate` (mean `shape/rate`):
/// Marsaglia & Tsang (2000), with `Gamma(k) = Gamma(k+1)·U^(1/k)` below
/// shape 1.
pub fn gamma(rng: &mut ChaCha8Rng, shape: f64, rate: f64) -> f64 {
    if shape < 1.0 {
        let boost = open_unit(rng).powf(1.0 / shape);
        return gamma(rng, shape + 1.0, rate) * boost;
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = standard_normal(rng);
        let v = (1.0 + c * x).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u = open_unit(rng);
        if u < 1.0 - 0.0331 * x.powi(4) || u.ln() < 0.5 * x * x + d * (1.0 - v + v.ln()) {
            return d * v / rate;
        }
    }
}

/// Beta(a, b) as `X/(X+Y)` with X ~ Gamma(a), Y ~ Gamma(b).
pub fn beta(rng: &mut ChaCha8Rng, a: f64, b: f64) -> f64 {
    let x = gamma(rng, a, 1.0);
    let y = gamma(rng, b, 1.0);
    x / (x + y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn moments(mut draw: impl FnMut(&mut ChaCha8Rng) -> f64) -> (f64, f64) {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| draw(&mut rng)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        (mean, var)
    }

    fn near(got: f64, want: f64, rel: f64) {
        assert!((got / want - 1.0).abs() < rel, "{got} vs {want}");
    }

    #[test]
    fn draws_have_their_distributions_moments() {
        // Gamma(k, rate β): mean k/β, variance k/β². Shapes on both sides of 1.
        for (k, rate) in [(0.5, 16.0), (4.0, 35.0), (6.0, 0.1)] {
            let (mean, var) = moments(|r| gamma(r, k, rate));
            near(mean, k / rate, 0.01);
            near(var, k / (rate * rate), 0.03);
        }
        // Beta(a, b): mean a/(a+b), variance ab/((a+b)²(a+b+1)).
        let (a, b) = (0.8, 4.5);
        let (mean, var) = moments(|r| beta(r, a, b));
        near(mean, a / (a + b), 0.01);
        near(var, a * b / ((a + b).powi(2) * (a + b + 1.0)), 0.03);
        let (mean, var) = moments(|r| exponential(r, 0.25));
        near(mean, 4.0, 0.01);
        near(var, 16.0, 0.03);
    }
}
