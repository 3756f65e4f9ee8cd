//! Split R-hat: the potential scale reduction factor of Gelman & Rubin, on
//! half-chains.
//!
//! The walkers of an ensemble sampler are not independent chains (each move
//! uses the positions of the others), so they are gathered into a few
//! contiguous groups, each group's walkers pooled into one chain with its
//! draws ordered by step. Every group chain is split into its first and
//! second half (by step), which also detects a drift within a group, and
//! the `m = 2·groups` half-chains of `n` draws give
//!
//! ```text
//! W = mean of the within-half-chain variances,   B/n = variance of the half-chain means,
//! R̂ = √( ((n − 1)/n · W + B/n) / W ).
//! ```
//!
//! R̂ near 1 (below 1.01 in Vehtari et al.'s recommendation) means the
//! half-chains agree; values above 1.1 mean they explore different regions
//! or have not forgotten their starting points. This is the basic split-R̂,
//! not the rank-normalized, folded variant.
//!
//! # Reference
//! - A. Gelman, J. B. Carlin, H. S. Stern, D. B. Dunson, A. Vehtari & D. B.
//!   Rubin (2013), *Bayesian Data Analysis*, 3rd ed., CRC Press, §11.4.
//! - A. Vehtari, A. Gelman, D. Simpson, B. Carpenter & P.-C. Bürkner (2021),
//!   *Rank-normalization, folding, and localization: an improved R̂ for
//!   assessing convergence of MCMC*, Bayesian Analysis 16(2), 667–718.

use ndarray::{s, ArrayView3, Axis};

use super::ess::moments;

/// Split R-hat per parameter.
///
/// `chain` is `steps × walkers × dim`. The walkers are divided into `groups`
/// contiguous groups (clamped to `1..=walkers`; when `groups` does not divide
/// the walkers, group sizes differ by one); each group is split into its
/// first `⌊steps/2⌋` and last `⌊steps/2⌋` steps (the middle step is dropped
/// when `steps` is odd). With groups of unequal sizes, `n` in the formula is
/// the mean half-chain length and `B/n` the sample variance of the
/// half-chain means.
///
/// The result is NaN for every parameter when there are fewer than 4 steps
/// or no walkers, and for a parameter whose within-half-chain variance `W`
/// is zero (e.g. constant in every walker) or not finite.
pub fn split_rhat(chain: ArrayView3<'_, f64>, groups: usize) -> Vec<f64> {
    let (steps, walkers, dim) = chain.dim();
    if steps < 4 || walkers == 0 {
        return vec![f64::NAN; dim];
    }
    let groups = groups.clamp(1, walkers);
    let half = steps / 2;
    let m = (2 * groups) as f64;
    // Sums over the half-chains of their variances (per parameter) and lengths; their means, for B.
    let (mut sum_var, mut sum_n) = (vec![0.0; dim], 0.0);
    let mut means = Vec::with_capacity(2 * groups);
    for g in 0..groups {
        let (w0, w1) = (g * walkers / groups, (g + 1) * walkers / groups);
        for block in [chain.slice(s![..half, w0..w1, ..]), chain.slice(s![steps - half.., w0..w1, ..])] {
            // n ≥ 2: half ≥ 2 steps and at least one walker per group.
            let n = (block.len_of(Axis(0)) * block.len_of(Axis(1))) as f64;
            let (mean, ss) = moments(block);
            sum_var.iter_mut().zip(&ss).for_each(|(v, s)| *v += s / (n - 1.0));
            sum_n += n;
            means.push(mean);
        }
    }
    let n = sum_n / m;
    (0..dim)
        .map(|p| {
            let within = sum_var[p] / m;
            let grand = means.iter().map(|mu| mu[p]).sum::<f64>() / m;
            let between_over_n = means.iter().map(|mu| (mu[p] - grand) * (mu[p] - grand)).sum::<f64>() / (m - 1.0);
            if within > 0.0 && within.is_finite() {
                (((n - 1.0) / n * within + between_over_n) / within).sqrt()
            } else {
                f64::NAN
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::testing::normal_chain;
    use ndarray::Array3;

    #[test]
    fn hand_computed_value() {
        // Halves [1, 2] and [3, 5]: W = (0.5 + 2)/2 = 1.25, n = 2,
        // B/n = var(1.5, 4) = 3.125, R̂² = (0.5·1.25 + 3.125)/1.25 = 3.
        let chain = Array3::from_shape_vec((4, 1, 1), vec![1.0, 2.0, 3.0, 5.0]).unwrap();
        let r = split_rhat(chain.view(), 1);
        assert!((r[0] - 3f64.sqrt()).abs() < 1e-12, "{r:?}");
        // An odd step count drops the middle step.
        let chain = Array3::from_shape_vec((5, 1, 1), vec![1.0, 2.0, 100.0, 3.0, 5.0]).unwrap();
        assert!((split_rhat(chain.view(), 1)[0] - 3f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn iid_walkers_give_one() {
        // m half-chains of n iid N(0,1) draws: R̂² − 1 = (B/n)/W − 1/n with
        // W ≈ 1 and B/n ~ χ²_{m−1}/((m−1)·n), so R̂ − 1 has sd about
        // √(2/(m−1))/(2n) ≤ 3·10⁻⁴ here (m ≥ 8, n ≥ 1000): 0.01 is over 30 sd.
        let chain = normal_chain((2000, 32, 3), 42);
        for groups in [4, 32, 1000] {
            for &r in &split_rhat(chain.view(), groups) {
                assert!((r - 1.0).abs() < 0.01, "groups {groups}: {r}");
            }
        }
        // Groups that do not divide the walkers.
        let chain = normal_chain((2001, 30, 2), 43);
        for &r in &split_rhat(chain.view(), 4) {
            assert!((r - 1.0).abs() < 0.01, "{r}");
        }
    }

    #[test]
    fn separated_walkers_are_detected() {
        // Half of the walkers shifted by 3 sd: with 4 groups the 8 half-chain
        // means are ≈ 0,0,0,0,3,3,3,3, B/n ≈ 2.57, W ≈ 1, R̂ ≈ 1.89.
        let mut chain = normal_chain((2000, 32, 2), 8);
        chain.slice_mut(s![.., 16.., 0]).mapv_inplace(|v| v + 3.0);
        let r = split_rhat(chain.view(), 4);
        assert!(r[0] > 1.1, "{r:?}");
        assert!((r[1] - 1.0).abs() < 0.01, "{r:?}");
        // The same with one group: the shift is hidden in W (the pooled
        // walkers mix both modes evenly), which is why groups matter.
        assert!(split_rhat(chain.view(), 1)[0] < 1.1);
    }

    #[test]
    fn drift_is_detected_by_splitting() {
        // A trend of 4 sd over the run: the halves differ by about 2 sd.
        let mut chain = normal_chain((1000, 8, 1), 9);
        for (t, mut row) in chain.outer_iter_mut().enumerate() {
            row.mapv_inplace(|v| v + 4.0 * t as f64 / 1000.0);
        }
        assert!(split_rhat(chain.view(), 1)[0] > 1.1);
    }

    #[test]
    fn degenerate_inputs() {
        for shape in [(0, 4, 2), (1, 4, 2), (3, 4, 2), (10, 0, 2)] {
            let r = split_rhat(Array3::<f64>::zeros(shape).view(), 2);
            assert_eq!(r.len(), 2);
            assert!(r.iter().all(|v| v.is_nan()), "{shape:?}");
        }
        assert!(split_rhat(Array3::<f64>::zeros((10, 4, 0)).view(), 2).is_empty());
        // Zero within variance; groups = 0 is clamped to 1.
        assert!(split_rhat(Array3::from_elem((10, 4, 1), 1.0).view(), 0)[0].is_nan());
        // Also for a value that rounds (0.1 summed 20 times is not 2).
        assert!(split_rhat(Array3::from_elem((10, 4, 1), 0.1).view(), 2)[0].is_nan());
        let mut chain = normal_chain((10, 4, 2), 1);
        chain[[2, 1, 0]] = f64::NAN;
        let r = split_rhat(chain.view(), 2);
        assert!(r[0].is_nan() && r[1].is_finite());
    }
}
