//! Proposals of the ensemble moves. Each returns the log of the proposal's
//! Metropolis-Hastings factor (0 for symmetric moves).

use ndarray::Array2;
use rand::{Rng, RngExt};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use super::hyperparams::MoveKind;

/// What a half-step shares between its walkers' proposals.
pub(super) struct Complement<'a> {
    /// All walker positions.
    pub x: &'a Array2<f64>,
    /// Indices of the complementary walkers.
    pub idx: &'a [usize],
    /// For the walk move: complementary positions minus their mean, divided by √(n - 1).
    pub centered: &'a Array2<f64>,
}

fn pick(rng: &mut ChaCha8Rng, n: usize) -> usize {
    rng.random_range(0..n)
}

/// `k` distinct indices into `0..n` (`k` ≤ 3), in random order.
fn pick_distinct<const K: usize>(rng: &mut ChaCha8Rng, n: usize) -> [usize; K] {
    let mut out = [0usize; K];
    for i in 0..K {
        loop {
            let c = pick(rng, n);
            if !out[..i].contains(&c) {
                out[i] = c;
                break;
            }
        }
    }
    out
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    StandardNormal.sample(rng)
}

/// Writes the proposal for the walker at `x` into `q`; returns the log MH factor.
/// Rows are contiguous slices (positions live in a standard-layout array).
pub(super) fn propose(kind: MoveKind, x: &[f64], c: &Complement<'_>, rng: &mut ChaCha8Rng, q: &mut [f64]) -> f64 {
    let d = x.len();
    let nc = c.idx.len();
    let row = |k: usize| c.x.row(c.idx[k]).to_slice().expect("walker positions are contiguous rows");
    match kind {
        MoveKind::Stretch { a } => {
            let u: f64 = rng.random();
            let z = ((a - 1.0) * u + 1.0).powi(2) / a;
            let cj = row(pick(rng, nc));
            for ((qi, &ci), &xi) in q.iter_mut().zip(cj).zip(x) {
                *qi = ci - z * (ci - xi);
            }
            (d as f64 - 1.0) * z.ln()
        }
        MoveKind::De { gamma0, sigma } => {
            let g0 = gamma0.unwrap_or(2.38 / (2.0 * d as f64).sqrt());
            let [i1, i2] = pick_distinct::<2>(rng, nc);
            let gamma = g0 * (1.0 + sigma * normal(rng));
            let (a, b) = (row(i1), row(i2));
            for i in 0..d {
                q[i] = x[i] + gamma * (a[i] - b[i]);
            }
            0.0
        }
        MoveKind::Snooker { gamma } => {
            let [iz, i1, i2] = pick_distinct::<3>(rng, nc);
            let (z, z1, z2) = (row(iz), row(i1), row(i2));
            let norm = (0..d).map(|i| (x[i] - z[i]).powi(2)).sum::<f64>().sqrt();
            if norm == 0.0 || !norm.is_finite() {
                q.copy_from_slice(x);
                return f64::NEG_INFINITY;
            }
            // Unit vector from z to x, and the projection of z1 - z2 on it.
            let proj: f64 = (0..d).map(|i| (x[i] - z[i]) / norm * (z1[i] - z2[i])).sum();
            for i in 0..d {
                q[i] = x[i] + gamma * proj * (x[i] - z[i]) / norm;
            }
            let new_norm = (0..d).map(|i| (q[i] - z[i]).powi(2)).sum::<f64>().sqrt();
            (d as f64 - 1.0) * (new_norm.ln() - norm.ln())
        }
        MoveKind::Walk => {
            q.copy_from_slice(x);
            for r in c.centered.rows() {
                let e = normal(rng);
                for (qi, ri) in q.iter_mut().zip(r.iter()) {
                    *qi += e * ri;
                }
            }
            0.0
        }
    }
}

/// The walk move's centered, scaled complement.
pub(super) fn centered(x: &Array2<f64>, idx: &[usize], out: &mut Array2<f64>) {
    let d = x.ncols();
    let n = idx.len();
    let mut mean = vec![0.0; d];
    for &k in idx {
        for (m, v) in mean.iter_mut().zip(x.row(k)) {
            *m += v / n as f64;
        }
    }
    let scale = 1.0 / ((n.max(2) - 1) as f64).sqrt();
    *out = Array2::from_shape_fn((n, d), |(r, i)| (x[[idx[r], i]] - mean[i]) * scale);
}

/// Draws `log u` for the acceptance test.
pub(super) fn log_uniform(rng: &mut dyn Rng) -> f64 {
    let u: f64 = rng.random();
    u.ln()
}
