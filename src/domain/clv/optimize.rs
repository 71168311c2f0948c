//! Nelder–Mead minimisation in a box, with restarts.
//!
//! The models are fitted over the logarithms of their parameters, so every
//! parameter stays positive and a step means a relative change. Nelder–Mead
//! needs no gradient and is deterministic (the same data and start give the
//! same answer to the bit). It can stall on a collapsed simplex, so the
//! search restarts from its best point with a fresh simplex until a restart
//! no longer improves the objective: the usual remedy (Lagarias et al.
//! 1998; Press et al., Numerical Recipes §10.5).

/// The box, the tolerances and the budget of a search.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Every coordinate is kept within `[lower, upper]`.
    pub lower: f64,
    pub upper: f64,
    /// Edge of the starting simplex, in the coordinates' units.
    pub step: f64,
    /// Converged when every vertex is within `x_tolerance` of the best in
    /// every coordinate and within `f_tolerance` of its value.
    pub x_tolerance: f64,
    pub f_tolerance: f64,
    /// Objective evaluations at most, over all restarts.
    pub max_evaluations: u32,
    /// Restarts at most after the first search.
    pub max_restarts: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            // e^±20: 2·10⁻⁹ to 5·10⁸, far beyond any parameter of these
            // models in days and major currency units; a fit that ends on
            // the edge has run off to a degenerate solution.
            lower: -20.0,
            upper: 20.0,
            step: 0.5,
            x_tolerance: 1e-8,
            f_tolerance: 1e-12,
            max_evaluations: 20_000,
            max_restarts: 8,
        }
    }
}

/// Where a search ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Minimum {
    pub x: Vec<f64>,
    pub value: f64,
    pub evaluations: u32,
    /// The simplex met the tolerances within the budget, at a finite value,
    /// with no coordinate on the box's edge.
    pub converged: bool,
}

/// Minimises `f` from `start`. A non-finite value counts as +∞, so the
/// simplex moves away from where the objective cannot be evaluated.
pub fn minimize(mut f: impl FnMut(&[f64]) -> f64, start: &[f64], options: &Options) -> Minimum {
    let clamp = |x: &mut [f64]| {
        for v in x.iter_mut() {
            *v = v.clamp(options.lower, options.upper);
        }
    };
    let evaluations = std::cell::Cell::new(0u32);
    let mut eval = |x: &[f64]| {
        evaluations.set(evaluations.get() + 1);
        let v = f(x);
        if v.is_finite() { v } else { f64::INFINITY }
    };
    let mut best = start.to_vec();
    clamp(&mut best);
    let mut best_value = eval(&best);
    let mut tolerances_met = false;
    for _ in 0..=options.max_restarts {
        let budget = options.max_evaluations.saturating_sub(evaluations.get());
        let (x, value, met) = search(&mut eval, &best, best_value, budget, options, &clamp);
        let improvement = best_value - value;
        let improved = value < best_value;
        if improved {
            best = x;
            best_value = value;
        }
        tolerances_met = met;
        // Stop once a fresh simplex around the best point finds nothing
        // better than the tolerance (or the budget is spent).
        if !met || !improved || improvement <= options.f_tolerance {
            break;
        }
    }
    let on_edge = best.iter().any(|v| {
        *v <= options.lower + options.x_tolerance || *v >= options.upper - options.x_tolerance
    });
    Minimum {
        converged: tolerances_met && best_value.is_finite() && !on_edge,
        x: best,
        value: best_value,
        evaluations: evaluations.get(),
    }
}

/// One Nelder–Mead search from `start` (value `start_value`) with the
/// standard coefficients (reflection 1, expansion 2, contraction ½,
/// shrink ½), within `budget` evaluations. Returns the best vertex, its
/// value and whether the tolerances were met.
fn search(
    eval: &mut impl FnMut(&[f64]) -> f64,
    start: &[f64],
    start_value: f64,
    budget: u32,
    options: &Options,
    clamp: &impl Fn(&mut [f64]),
) -> (Vec<f64>, f64, bool) {
    let n = start.len();
    let mut simplex: Vec<(Vec<f64>, f64)> = Vec::with_capacity(n + 1);
    simplex.push((start.to_vec(), start_value));
    for i in 0..n {
        let mut x = start.to_vec();
        // Step inwards when the outward step would leave the box.
        x[i] = if x[i] + options.step <= options.upper {
            x[i] + options.step
        } else {
            x[i] - options.step
        };
        clamp(&mut x);
        let v = eval(&x);
        simplex.push((x, v));
    }
    let mut used = n as u32 + 1;
    loop {
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        let (best, worst) = (&simplex[0], &simplex[n]);
        let spread_f = (worst.1 - best.1).abs();
        let spread_x = simplex
            .iter()
            .skip(1)
            .flat_map(|(x, _)| x.iter().zip(&best.0).map(|(a, b)| (a - b).abs()))
            .fold(0.0f64, f64::max);
        if spread_f <= options.f_tolerance && spread_x <= options.x_tolerance {
            return (simplex[0].0.clone(), simplex[0].1, true);
        }
        if used >= budget {
            return (simplex[0].0.clone(), simplex[0].1, false);
        }
        let mut centroid = vec![0.0; n];
        for (x, _) in simplex.iter().take(n) {
            for (c, v) in centroid.iter_mut().zip(x) {
                *c += v / n as f64;
            }
        }
        let towards = |coef: f64| {
            let mut x: Vec<f64> = centroid
                .iter()
                .zip(&simplex[n].0)
                .map(|(c, w)| c + coef * (c - w))
                .collect();
            clamp(&mut x);
            x
        };
        let reflected = towards(1.0);
        let fr = eval(&reflected);
        used += 1;
        if fr < simplex[0].1 {
            let expanded = towards(2.0);
            let fe = eval(&expanded);
            used += 1;
            simplex[n] = if fe < fr {
                (expanded, fe)
            } else {
                (reflected, fr)
            };
            continue;
        }
        if fr < simplex[n - 1].1 {
            simplex[n] = (reflected, fr);
            continue;
        }
        // Contract: outside when the reflection beat the worst, else inside.
        let (contracted, fc) = if fr < simplex[n].1 {
            let x = towards(0.5);
            let v = eval(&x);
            (x, v)
        } else {
            let x = towards(-0.5);
            let v = eval(&x);
            (x, v)
        };
        used += 1;
        if fc < simplex[n].1.min(fr) {
            simplex[n] = (contracted, fc);
            continue;
        }
        // Shrink every vertex halfway towards the best.
        let best = simplex[0].0.clone();
        for vertex in simplex.iter_mut().skip(1) {
            let mut x: Vec<f64> = vertex
                .0
                .iter()
                .zip(&best)
                .map(|(v, b)| b + 0.5 * (v - b))
                .collect();
            clamp(&mut x);
            let v = eval(&x);
            *vertex = (x, v);
        }
        used += n as u32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_minimum_of_a_curved_valley() {
        // Rosenbrock's function: a narrow curved valley, minimum 0 at (1, 1).
        let rosenbrock = |v: &[f64]| (1.0 - v[0]).powi(2) + 100.0 * (v[1] - v[0] * v[0]).powi(2);
        let found = minimize(rosenbrock, &[-1.2, 1.0], &Options::default());
        assert!(found.converged, "{found:?}");
        assert!(
            (found.x[0] - 1.0).abs() < 1e-6 && (found.x[1] - 1.0).abs() < 1e-6,
            "{found:?}"
        );
        // Deterministic: the same search gives the same bits.
        assert_eq!(
            found,
            minimize(rosenbrock, &[-1.2, 1.0], &Options::default())
        );
    }

    #[test]
    fn a_minimum_beyond_the_box_is_not_converged() {
        let found = minimize(|v: &[f64]| v[0], &[0.0], &Options::default());
        assert_eq!(found.x, vec![-20.0]);
        assert!(!found.converged);
    }

    #[test]
    fn the_budget_bounds_the_evaluations() {
        let options = Options {
            max_evaluations: 50,
            ..Options::default()
        };
        let rosenbrock = |v: &[f64]| (1.0 - v[0]).powi(2) + 100.0 * (v[1] - v[0] * v[0]).powi(2);
        let found = minimize(rosenbrock, &[-1.2, 1.0], &options);
        assert!(!found.converged);
        // A search may finish the step it is in (a shrink costs n).
        assert!(found.evaluations <= 50 + 2, "{}", found.evaluations);
    }

    #[test]
    fn non_finite_values_are_avoided() {
        let f = |v: &[f64]| {
            if v[0] < 0.5 {
                f64::NAN
            } else {
                (v[0] - 2.0).powi(2)
            }
        };
        let found = minimize(f, &[1.0], &Options::default());
        assert!(
            found.converged && (found.x[0] - 2.0).abs() < 1e-6,
            "{found:?}"
        );
    }
}
