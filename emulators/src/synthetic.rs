//! A synthetic model with known truth for tests, examples and benchmarks:
//! 6 parameters, 24 smooth nonlinear outputs (a "spectrum" over `t ∈ [0, 1]`),
//! and Latin-hypercube designs in its prior box.
//!
//! # Reference
//! M. D. McKay, R. J. Beckman and W. J. Conover, *A comparison of three methods
//! for selecting values of input variables in the analysis of output from a
//! computer code*, Technometrics 21, 239 (1979) (Latin hypercube sampling).

use ndarray::Array2;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Parameter names of [`model`].
pub const PARAMS: [&str; 6] = ["amp", "decay", "freq", "phase", "curv", "width"];
/// Prior box of [`model`].
pub const BOUNDS: [(f64, f64); 6] = [(0.5, 2.0), (0.2, 3.0), (0.5, 2.0), (0.0, 1.5), (-1.0, 1.0), (0.1, 0.5)];
/// Number of outputs of [`model`].
pub const OUTPUTS: usize = 24;

/// The model: output `j` at `t_j = j / (OUTPUTS − 1)`.
pub fn model(th: &[f64]) -> Vec<f64> {
    (0..OUTPUTS)
        .map(|j| {
            let t = j as f64 / (OUTPUTS - 1) as f64;
            let bump = (-(t - 0.3 - 0.4 * th[3] / 1.5).powi(2) / (2.0 * th[5] * th[5])).exp();
            th[0] * (-th[1] * t).exp() + 0.5 * (std::f64::consts::PI * th[2] * t + th[3]).sin() + th[4] * t * t + 0.8 * th[0] * bump
        })
        .collect()
}

/// `n` Latin-hypercube points in `bounds` (one random point per stratum per parameter).
pub fn latin_hypercube(n: usize, bounds: &[(f64, f64)], seed: u64) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Array2::zeros((n, bounds.len()));
    for (d, (lo, hi)) in bounds.iter().enumerate() {
        let mut strata: Vec<usize> = (0..n).collect();
        strata.shuffle(&mut rng);
        for (i, s) in strata.into_iter().enumerate() {
            x[(i, d)] = lo + (hi - lo) * (s as f64 + rng.random::<f64>()) / n as f64;
        }
    }
    x
}

/// Runs [`model`] at every row of `x`.
pub fn run(x: &Array2<f64>) -> Array2<f64> {
    let mut y = Array2::zeros((x.nrows(), OUTPUTS));
    for (i, row) in x.rows().into_iter().enumerate() {
        let v = model(&row.to_vec());
        y.row_mut(i).assign(&ndarray::Array1::from(v));
    }
    y
}
