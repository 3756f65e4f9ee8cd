//! The Metropolis-within-Gibbs sweep of TSFB on plain f64 functions.
//!
//! One sweep: the conjugate coordinate (if any) drawn exactly; each
//! sample-based block proposed from its pool (independence proposal, the
//! pool's own density cancels, leaving the analytic part of the target);
//! every other coordinate by a Gaussian random walk whose scale adapts
//! during burn-in (towards an acceptance of 0.44) and is frozen after.

use ndarray::{Array2, ArrayView2};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// A block of coordinates whose values are proposed from a pool of draws.
#[derive(Debug, Clone)]
pub struct PoolBlock<'a> {
    /// The coordinates (columns of the composite) of the pool's columns.
    pub coords: Vec<usize>,
    /// The draws, one per row.
    pub draws: ArrayView2<'a, f64>,
}

/// The exact Gibbs draw of a population mean `γ` given `θ_1..θ_k` when the
/// only terms on `γ` are `∏ N(θ_i | γ, τ²)` and a normal or flat prior.
#[derive(Debug, Clone, PartialEq)]
pub struct Conjugate {
    /// The coordinate of `γ`.
    pub gamma: usize,
    /// The coordinates of `θ_1..θ_k`.
    pub thetas: Vec<usize>,
    /// The population sd `τ`.
    pub tau: f64,
    /// `γ`'s prior `N(mean, sd²)`; `None`: flat.
    pub prior: Option<(f64, f64)>,
}

impl Conjugate {
    /// Mean and sd of `γ | θ`.
    pub fn posterior(&self, x: &[f64]) -> (f64, f64) {
        let k = self.thetas.len() as f64;
        let sum: f64 = self.thetas.iter().map(|&i| x[i]).sum();
        let t2 = self.tau * self.tau;
        match self.prior {
            None => (sum / k, (t2 / k).sqrt()),
            Some((m0, s0)) => {
                let prec = k / t2 + 1.0 / (s0 * s0);
                ((sum / t2 + m0 / (s0 * s0)) / prec, prec.recip().sqrt())
            }
        }
    }
}

/// What one run of the sweep produced.
#[derive(Debug, Clone)]
pub struct SweepOutput {
    /// The draws after burn-in, one row per sweep.
    pub draws: Array2<f64>,
    /// Acceptance after burn-in: one per pool block, then one per
    /// random-walk coordinate (in the order of `walk`).
    pub acceptance: Vec<f64>,
    /// The random-walk scales after burn-in (in the order of `walk`).
    pub scales: Vec<f64>,
}

/// Runs `iterations` sweeps, keeps the last `iterations - burn`.
///
/// `log_h` is the analytic part of the target (analytic terms minus the
/// divided-out densities); `start` the first point (its pool coordinates are
/// replaced by each pool's first draw); `walk` the coordinates moved by the
/// random walk. Points where `log_h` is not finite are never accepted, except
/// out of a current point that is not finite itself.
///
/// # Panics
/// If `burn >= iterations` or a pool is empty.
#[allow(clippy::too_many_arguments)]
pub fn sweep(
    log_h: &dyn Fn(&[f64]) -> f64,
    start: &[f64],
    blocks: &[PoolBlock<'_>],
    conjugate: Option<&Conjugate>,
    walk: &[usize],
    iterations: usize,
    burn: usize,
    seed: u64,
) -> SweepOutput {
    assert!(burn < iterations, "burn-in {burn} must be below the iterations {iterations}");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = start.to_vec();
    for b in blocks {
        assert!(b.draws.nrows() > 0, "an empty pool");
        for (j, &c) in b.coords.iter().enumerate() {
            x[c] = b.draws[[0, j]];
        }
    }
    if let Some(c) = conjugate {
        x[c.gamma] = c.posterior(&x).0;
    }
    let mut cur = log_h(&x);
    let mut scales = vec![1.0f64; walk.len()];
    let (nb, nw) = (blocks.len(), walk.len());
    let mut accepted = vec![0u64; nb + nw];
    let keep = iterations - burn;
    let mut draws = Array2::zeros((keep, x.len()));
    let mut prop = x.clone();
    for it in 0..iterations {
        let counting = it >= burn;
        if let Some(c) = conjugate {
            let (m, s) = c.posterior(&x);
            let z: f64 = StandardNormal.sample(&mut rng);
            x[c.gamma] = m + s * z;
            cur = log_h(&x);
        }
        for (bi, b) in blocks.iter().enumerate() {
            let r = rng.random_range(0..b.draws.nrows());
            prop.copy_from_slice(&x);
            for (j, &c) in b.coords.iter().enumerate() {
                prop[c] = b.draws[[r, j]];
            }
            let new = log_h(&prop);
            if accept(new, cur, &mut rng) {
                std::mem::swap(&mut x, &mut prop);
                cur = new;
                accepted[bi] += u64::from(counting);
            }
        }
        for (wi, &c) in walk.iter().enumerate() {
            prop.copy_from_slice(&x);
            let z: f64 = StandardNormal.sample(&mut rng);
            prop[c] = x[c] + scales[wi] * z;
            let new = log_h(&prop);
            let ok = accept(new, cur, &mut rng);
            if ok {
                std::mem::swap(&mut x, &mut prop);
                cur = new;
                accepted[nb + wi] += u64::from(counting);
            }
            if !counting {
                // Robbins-Monro on the log scale towards 0.44, fading with time.
                let step = 1.0 / ((it + 1) as f64).sqrt();
                scales[wi] *= (step * (f64::from(u8::from(ok)) - 0.44)).exp();
            }
        }
        if counting {
            draws.row_mut(it - burn).assign(&ndarray::ArrayView1::from(&x));
        }
    }
    let acceptance = accepted.iter().map(|a| *a as f64 / keep as f64).collect();
    SweepOutput { draws, acceptance, scales }
}

fn accept(new: f64, cur: f64, rng: &mut ChaCha8Rng) -> bool {
    if !new.is_finite() {
        return false;
    }
    if !cur.is_finite() {
        return true;
    }
    let u: f64 = rng.random();
    u.ln() < new - cur
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A normal with an independence proposal from a pool of the same normal
    /// accepts everything; a random walk samples a normal's moments.
    #[test]
    fn pool_of_the_target_is_always_accepted_and_the_walk_finds_the_moments() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let pool = Array2::from_shape_fn((5000, 1), |_| StandardNormal.sample(&mut rng));
        let blocks = [PoolBlock { coords: vec![0], draws: pool.view() }];
        // x_0: the pool's density, so log_h carries nothing of it; x_1 ~ N(3, 2²).
        let log_h = |x: &[f64]| -0.5 * ((x[1] - 3.0) / 2.0).powi(2);
        let out = sweep(&log_h, &[0.0, 0.0], &blocks, None, &[1], 40_000, 4000, 1);
        assert_eq!(out.acceptance[0], 1.0);
        let col = out.draws.column(1);
        let m = col.mean().unwrap();
        let sd = col.std(1.0);
        // The walk's draws are correlated: a loose check of 0.1 sd.
        assert!((m - 3.0).abs() < 0.2 && (sd - 2.0).abs() < 0.2, "{m} {sd}");
        assert!(out.acceptance[1] > 0.3 && out.acceptance[1] < 0.6, "{:?}", out.acceptance);
        let again = sweep(&log_h, &[0.0, 0.0], &blocks, None, &[1], 40_000, 4000, 1);
        assert_eq!(out.draws, again.draws);
    }

    #[test]
    fn conjugate_gamma_with_normal_prior() {
        let c = Conjugate { gamma: 2, thetas: vec![0, 1], tau: 1.0, prior: Some((9.0, 0.5)) };
        // Precision 2 + 4 = 6; mean (θ sum + 9·4)/6.
        let (m, s) = c.posterior(&[1.0, 2.0, 0.0]);
        assert!((m - (3.0 + 36.0) / 6.0).abs() < 1e-15);
        assert!((s - (1.0f64 / 6.0).sqrt()).abs() < 1e-15);
    }
}
