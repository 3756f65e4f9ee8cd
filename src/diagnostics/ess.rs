//! Effective sample size and Monte Carlo standard error of the mean.
//!
//! A chain of `steps × walkers` correlated draws carries about as much
//! information on a parameter's mean as `ESS = steps · walkers / τ`
//! independent draws, `τ` being the integrated autocorrelation time
//! ([`integrated_time`]). The Monte Carlo standard error of the chain's mean
//! is then `sd / √ESS`.
//!
//! # Reference
//! - A. D. Sokal (1997), *Monte Carlo methods in statistical mechanics:
//!   foundations and new algorithms*, in Functional Integration (Cargèse
//!   1996), NATO ASI Series B 361, 131–192 (lecture notes).
//! - J. Goodman & J. Weare (2010), *Ensemble samplers with affine
//!   invariance*, Comm. App. Math. Comp. Sci. 5(1), 65–80.
//! - D. Foreman-Mackey, D. W. Hogg, D. Lang & J. Goodman (2013), *emcee: the
//!   MCMC hammer*, PASP 125(925), 306–312.

use ndarray::{ArrayView3, Axis};

use super::autocorr::{integrated_time, DEFAULT_C, DEFAULT_TOL};

/// Effective sample size per parameter: `steps · walkers / τ`.
///
/// `τ` comes from [`integrated_time`] with `c = 5`. The ESS is not capped:
/// anti-correlated chains can exceed the number of draws. It is NaN where `τ`
/// is NaN (no steps, no walkers, a non-finite draw) or not positive. A
/// parameter constant in every walker has `τ = 1`, hence an ESS equal to the
/// number of draws.
pub fn effective_sample_size(chain: ArrayView3<'_, f64>) -> Vec<f64> {
    let (steps, walkers, _) = chain.dim();
    ess_from_tau(steps * walkers, &integrated_time(chain, DEFAULT_C, DEFAULT_TOL).tau)
}

/// `draws / τ` for each `τ`, NaN where `τ` is not positive.
pub(crate) fn ess_from_tau(draws: usize, tau: &[f64]) -> Vec<f64> {
    tau.iter().map(|&t| if t > 0.0 { draws as f64 / t } else { f64::NAN }).collect()
}

/// Monte Carlo standard error of each parameter's mean: `sd / √ESS`.
///
/// `sd` is the sample standard deviation of all the draws of the parameter
/// (walkers pooled, `n − 1` denominator) and the ESS is
/// [`effective_sample_size`]'s. NaN where either is undefined (fewer than two
/// draws, a non-finite draw); 0 for a constant parameter (its mean is exact).
pub fn mcse_mean(chain: ArrayView3<'_, f64>) -> Vec<f64> {
    mcse_from_ess(chain, &effective_sample_size(chain))
}

/// `sd / √ess` per parameter, `sd` over all the draws of the parameter.
pub(crate) fn mcse_from_ess(chain: ArrayView3<'_, f64>, ess: &[f64]) -> Vec<f64> {
    let (steps, walkers, _) = chain.dim();
    let n = (steps * walkers) as f64;
    let (_, ss) = moments(chain);
    // n < 2 leaves the sample variance undefined: 0/0 or x/-1 would not do, hence the explicit NaN.
    ss.iter().zip(ess).map(|(&ss, &e)| if n >= 2.0 { (ss / (n - 1.0)).sqrt() / e.sqrt() } else { f64::NAN }).collect()
}

/// Mean and sum of squared deviations of each parameter over all the draws of `block`
/// (`steps × walkers × dim`), in two passes (NaN means when the block is empty). The first pass sums
/// differences to the first draw, so that a constant parameter has exactly its value as mean and 0 as
/// sum of squares, whatever the rounding of its value.
pub(super) fn moments(block: ArrayView3<'_, f64>) -> (Vec<f64>, Vec<f64>) {
    let (steps, walkers, dim) = block.dim();
    let n = (steps * walkers) as f64;
    let first: Vec<f64> = (0..dim).map(|p| block.get((0, 0, p)).copied().unwrap_or(0.0)).collect();
    let mut mean = vec![0.0; dim];
    for_each_draw(block, |p, v| mean[p] += v - first[p]);
    mean.iter_mut().zip(&first).for_each(|(m, x0)| *m = x0 + *m / n);
    let mut ss = vec![0.0; dim];
    for_each_draw(block, |p, v| ss[p] += (v - mean[p]) * (v - mean[p]));
    (mean, ss)
}

/// Calls `f(p, v)` for every draw `v` of parameter `p` in `block`, reading each step's `walkers × dim`
/// slab as one slice when it is contiguous (the layout of a chain).
fn for_each_draw(block: ArrayView3<'_, f64>, mut f: impl FnMut(usize, f64)) {
    let dim = block.len_of(Axis(2));
    if dim == 0 {
        return;
    }
    for slab in block.outer_iter() {
        match slab.as_slice() {
            Some(draws) => draws.chunks_exact(dim).for_each(|lane| lane.iter().enumerate().for_each(|(p, &v)| f(p, v))),
            None => slab.rows().into_iter().for_each(|lane| lane.iter().enumerate().for_each(|(p, &v)| f(p, v))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::testing::normal_chain;
    use ndarray::Array3;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};

    #[test]
    fn iid_draws_have_full_ess() {
        // For white noise the window stops at m ≈ 5, so τ̂ = 1 + 2 Σ_{k≤5} r̂_k
        // where each r̂_k, averaged over 32 walkers of 5000 steps, has sd
        // 1/√160 000 = 0.0025: sd(τ̂) ≈ 2·√5·0.0025 ≈ 0.011, and the
        // mean-removal bias is -1/5000 per lag. 15% is over 10 sd.
        let (steps, walkers) = (5000, 32);
        let n = (steps * walkers) as f64;
        let chain = normal_chain((steps, walkers, 3), 2024);
        let ess = effective_sample_size(chain.view());
        assert_eq!(ess.len(), 3);
        for &e in &ess {
            assert!((e - n).abs() / n < 0.15, "ess {e} vs {n}");
        }
        // mcse ≈ 1/√n: the ESS error above (≈1%) halves under the square
        // root, and the sample sd of 160 000 draws is within 0.5% of 1.
        for &m in &mcse_mean(chain.view()) {
            let expected = 1.0 / n.sqrt();
            assert!((m - expected).abs() / expected < 0.15, "mcse {m} vs {expected}");
        }
    }

    #[test]
    fn ar1_mcse_accounts_for_correlation() {
        // x_t = a x_{t-1} + z_t with a = 0.9: sd = 1/√(1 − a²), τ = 19, so the
        // mcse of the mean is sd·√(τ / N). τ̂ is within ≈5% (relative sd 4%,
        // see the autocorr tests) and enters under a square root: 10%.
        let (steps, walkers, a) = (8000, 32, 0.9);
        let mut rng = ChaCha8Rng::seed_from_u64(17);
        let mut chain = Array3::zeros((steps, walkers, 1));
        for k in 0..walkers {
            let mut v: f64 = StandardNormal.sample(&mut rng);
            v /= (1.0f64 - a * a).sqrt();
            for t in 0..steps {
                let z: f64 = StandardNormal.sample(&mut rng);
                v = a * v + z;
                chain[[t, k, 0]] = v;
            }
        }
        let n = (steps * walkers) as f64;
        let expected = (19.0 / n).sqrt() / (1.0f64 - a * a).sqrt();
        let m = mcse_mean(chain.view())[0];
        assert!((m - expected).abs() / expected < 0.1, "mcse {m} vs {expected}");
        let ess = effective_sample_size(chain.view())[0];
        assert!((ess - n / 19.0).abs() / (n / 19.0) < 0.2, "ess {ess}");
    }

    #[test]
    fn degenerate_inputs() {
        for shape in [(0, 4, 2), (10, 0, 2)] {
            let chain = Array3::<f64>::zeros(shape);
            assert!(effective_sample_size(chain.view()).iter().all(|e| e.is_nan()));
            assert!(mcse_mean(chain.view()).iter().all(|e| e.is_nan()));
        }
        assert!(effective_sample_size(Array3::<f64>::zeros((10, 4, 0)).view()).is_empty());
        // One draw: ESS 1, no sd.
        let one = Array3::from_elem((1, 1, 2), 3.0);
        assert_eq!(effective_sample_size(one.view()), vec![1.0, 1.0]);
        assert!(mcse_mean(one.view()).iter().all(|e| e.is_nan()));
        // A constant parameter: the mean is exact.
        let constant = Array3::from_elem((50, 4, 1), 0.1);
        assert_eq!(effective_sample_size(constant.view()), vec![200.0]);
        assert_eq!(mcse_mean(constant.view()), vec![0.0]);
        // A non-positive τ gives NaN, not a negative ESS.
        assert!(ess_from_tau(100, &[-1.0, 0.0, 2.0])[..2].iter().all(|e| e.is_nan()));
    }
}
