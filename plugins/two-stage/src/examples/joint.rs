//! A joint density rebuilt from two sample sets that share a coordinate.
//!
//! `f(x) ∝ exp(-x⁴)`; draws of `(x, y)` with `y | x ~ N(sin(2x)³, 0.1²)` and
//! of `(x, z)` with `z | x ~ N(5 sin(πx), 0.8²)`. With `y` and `z`
//! conditionally independent given `x`,
//! `π(x, y, z) = f(x, y) f(x, z) / f(x)`: two sample-based components and the
//! known `f(x)` divided out of one of them. The marginal of each coordinate
//! is a 1-D integral over `x`, computed here by quadrature.

use std::sync::Arc;

use candle_core::Tensor;
use ndarray::Array2;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::error::Result;
use crate::stage1::SampleComponent;
use crate::target::{Combination, CompositeTarget, Factor, Role};
use crate::DiffLogDensity;

/// sd of `y | x`.
pub const SD_Y: f64 = 0.1;
/// sd of `z | x`.
pub const SD_Z: f64 = 0.8;
/// Names of the composite's coordinates.
pub const NAMES: [&str; 3] = ["x", "y", "z"];
/// Histogram range per coordinate for the KL against the truth; the true
/// mass outside is below 1e-9, and draws outside fall in the end bins.
pub const RANGES: [(f64, f64); 3] = [(-2.2, 2.2), (-1.7, 1.7), (-9.5, 9.5)];
/// Bins per coordinate of that KL (seqcal's default for 1-D marginals).
pub const BINS: usize = 50;

const LN_2PI: f64 = 1.8378770664093453;

/// `log Z` of `f(x) = exp(-x⁴) / Z`: `Z = 2 Γ(5/4)`.
pub fn log_norm_const() -> f64 {
    (2.0 * statrs::function::gamma::gamma(1.25)).ln()
}

/// The normalized `log f(x)`.
pub fn log_f(x: f64) -> f64 {
    -x.powi(4) - log_norm_const()
}

/// Mean of `y | x`.
pub fn mean_y(x: f64) -> f64 {
    (2.0 * x).sin().powi(3)
}

/// Mean of `z | x`.
pub fn mean_z(x: f64) -> f64 {
    5.0 * (std::f64::consts::PI * x).sin()
}

fn norm_pdf(v: f64, m: f64, s: f64) -> f64 {
    (-0.5 * ((v - m) / s).powi(2) - s.ln() - 0.5 * LN_2PI).exp()
}

/// The exact `log π(x, y, z)` (normalized).
pub fn log_density(p: &[f64]) -> f64 {
    let (x, y, z) = (p[0], p[1], p[2]);
    log_f(x) + norm_pdf(y, mean_y(x), SD_Y).ln() + norm_pdf(z, mean_z(x), SD_Z).ln()
}

/// `f(x)^power` for the normalized `f(x) = exp(-x⁴)/Z`: a user term through
/// the differentiable contract. With `power = -1` it divides `f(x)` out of
/// the composite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuarticPower {
    /// The exponent of `f`.
    pub power: f64,
}

impl DiffLogDensity for QuarticPower {
    fn dim(&self) -> usize {
        1
    }

    fn log_density(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let v = ((x.sqr()?.sqr()?.sum(1)? * -self.power)? - self.power * log_norm_const())?;
        Ok(v)
    }

    fn describe(&self) -> String {
        format!("(exp(-x^4)/Z)^{}", self.power)
    }
}

/// The composite `g_xy(x, y) g_xz(x, z) / f(x)` with `components` standing
/// for `g_xy` and `g_xz` (their stage-1 flows).
///
/// # Errors
/// As [`CompositeTarget::new`].
pub fn target(components: [Arc<dyn DiffLogDensity>; 2]) -> Result<CompositeTarget> {
    let [gxy, gxz] = components;
    let factors = vec![
        Factor { label: "xy".into(), coords: vec![0, 1], density: gxy, role: Role::Sample { component: 0 } },
        Factor { label: "xz".into(), coords: vec![0, 2], density: gxz, role: Role::Sample { component: 1 } },
        Factor { label: "1/f(x)".into(), coords: vec![0], density: Arc::new(QuarticPower { power: -1.0 }), role: Role::Analytic },
    ];
    CompositeTarget::new(NAMES.iter().map(|n| n.to_string()).collect(), factors, Combination::Product)
}

/// A draw of `x ~ f` by rejection from the uniform on `[-2.5, 2.5]`
/// (`exp(-2.5⁴) < 1e-16`).
fn draw_x(rng: &mut ChaCha8Rng) -> f64 {
    loop {
        let x: f64 = rng.random_range(-2.5..2.5);
        if rng.random::<f64>() < (-x.powi(4)).exp() {
            return x;
        }
    }
}

/// `n` exact draws of `(x, y, z)`.
pub fn exact_draws(n: usize, seed: u64) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Array2::zeros((n, 3));
    for mut r in out.rows_mut() {
        let x = draw_x(&mut rng);
        let (ey, ez): (f64, f64) = (StandardNormal.sample(&mut rng), StandardNormal.sample(&mut rng));
        r[0] = x;
        r[1] = mean_y(x) + SD_Y * ey;
        r[2] = mean_z(x) + SD_Z * ez;
    }
    out
}

/// The two pools: `xy` on `(x, y)` and `xz` on `(x, z)`, `n` draws each,
/// independent of each other.
pub fn pools(n: usize, seed: u64) -> Vec<SampleComponent> {
    let a = exact_draws(n, seed);
    let b = exact_draws(n, seed.wrapping_add(1));
    vec![
        SampleComponent {
            label: "xy".into(),
            names: vec!["x".into(), "y".into()],
            draws: a.select(ndarray::Axis(1), &[0, 1]),
            weights: None,
            bounds: None,
        },
        SampleComponent {
            label: "xz".into(),
            names: vec!["x".into(), "z".into()],
            draws: b.select(ndarray::Axis(1), &[0, 2]),
            weights: None,
            bounds: None,
        },
    ]
}

/// Quadrature nodes over `x` (composite Simpson on `[-3, 3]`) with the
/// weights `w_k f(x_k)`.
fn x_nodes() -> Vec<(f64, f64)> {
    let n = 6000; // even
    let (lo, hi) = (-3.0, 3.0);
    let h = (hi - lo) / n as f64;
    (0..=n)
        .map(|k| {
            let x = lo + h * k as f64;
            let c = if k == 0 || k == n {
                1.0
            } else if k % 2 == 1 {
                4.0
            } else {
                2.0
            };
            (x, c * h / 3.0 * log_f(x).exp())
        })
        .collect()
}

/// The exact marginal density of coordinate `k` (0 `x`, 1 `y`, 2 `z`) at
/// each of `v`, by quadrature over `x`.
///
/// # Panics
/// If `k > 2`.
pub fn marginal_density(k: usize, v: &[f64]) -> Vec<f64> {
    if k == 0 {
        return v.iter().map(|x| log_f(*x).exp()).collect();
    }
    let nodes = x_nodes();
    let (mean, sd): (fn(f64) -> f64, f64) = match k {
        1 => (mean_y, SD_Y),
        2 => (mean_z, SD_Z),
        _ => panic!("the joint example has 3 coordinates"),
    };
    v.iter().map(|&t| nodes.iter().map(|(x, w)| w * norm_pdf(t, mean(*x), sd)).sum()).collect()
}

/// Exact probability of each of the [`BINS`] bins of [`RANGES`]`[k]`
/// (Simpson within each bin; the end bins also hold the tails).
pub fn bin_probabilities(k: usize) -> Vec<f64> {
    let (lo, hi) = RANGES[k];
    let width = (hi - lo) / BINS as f64;
    let m = 16; // sub-intervals per bin, even
    let pts: Vec<f64> = (0..=BINS * m).map(|i| lo + width * i as f64 / m as f64).collect();
    let dens = marginal_density(k, &pts);
    let h = width / m as f64;
    let mut p: Vec<f64> = (0..BINS)
        .map(|b| {
            (0..=m)
                .map(|i| {
                    let c = if i == 0 || i == m {
                        1.0
                    } else if i % 2 == 1 {
                        4.0
                    } else {
                        2.0
                    };
                    c * dens[b * m + i]
                })
                .sum::<f64>()
                * h
                / 3.0
        })
        .collect();
    // What lies outside the range (below 1e-9) goes to the end bins.
    let total: f64 = p.iter().sum();
    let rest = (1.0 - total).max(0.0) / 2.0;
    p[0] += rest;
    p[BINS - 1] += rest;
    p
}

/// `KL(truth ‖ draws)` of coordinate `k`'s marginal over the [`BINS`] bins
/// of [`RANGES`]`[k]`, the draws' counts smoothed by 0.5 per bin (seqcal's
/// convention), the truth's bin probabilities exact.
pub fn kl_to_truth(k: usize, draws: &[f64]) -> f64 {
    let p = bin_probabilities(k);
    let (lo, hi) = RANGES[k];
    let mut c = vec![0.0; BINS];
    for v in draws {
        let b = ((v - lo) / (hi - lo) * BINS as f64).floor();
        c[if b.is_nan() || b < 0.0 { 0 } else { (b as usize).min(BINS - 1) }] += 1.0;
    }
    let n = draws.len() as f64;
    p.iter()
        .zip(&c)
        .filter(|(pk, _)| **pk > 0.0)
        .map(|(pk, ck)| {
            let q = (ck + 0.5) / (n + 0.5 * BINS as f64);
            pk * (pk / q).ln()
        })
        .sum()
}

/// Average over `x`, `y`, `z` of [`kl_to_truth`] for draws with columns
/// `(x, y, z)`.
pub fn average_kl_to_truth(draws: ndarray::ArrayView2<'_, f64>) -> f64 {
    (0..3).map(|k| kl_to_truth(k, &draws.column(k).to_vec())).sum::<f64>() / 3.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marginals_integrate_to_one() {
        for k in 0..3 {
            let p = bin_probabilities(k);
            let s: f64 = p.iter().sum();
            assert!((s - 1.0).abs() < 1e-6, "coordinate {k}: {s}");
        }
    }

    #[test]
    fn exact_draws_are_near_the_truth_and_shifted_draws_are_not() {
        let d = exact_draws(100_000, 3);
        let kl = average_kl_to_truth(d.view());
        // The smoothing bias alone is about (K - 1)/(2n) = 2.5e-4.
        assert!(kl < 2e-3, "{kl}");
        let mut shifted = d.clone();
        shifted.column_mut(1).mapv_inplace(|v| v + 0.1);
        assert!(average_kl_to_truth(shifted.view()) > 0.01);
    }
}
