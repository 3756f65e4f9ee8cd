//! The paper's comparison metric, computed as its authors compute it, so that a
//! number seqcal reports can be read against the paper's tables.
//!
//! **Binning.** Each parameter's prior box `[lo, hi]` is split into
//! [`PAPER_BINS`] = 75 equal bins, and each pair of parameters into 75 × 75.
//! Draws outside the box are left out of the histogram (as `numpy.histogram`
//! with a `range` leaves them out), and each histogram is normalized over the
//! draws inside it.
//!
//! **Empty bins.** The histograms are densities (`count / (n · bin width)`, or
//! `/ (n · bin area)` for pairs); [`PAPER_EPSILON`] = 1e-10 is added to every
//! bin of both densities, both are normalized to sum to one, and
//! `KL(reference ‖ approximation) = Σ p log(p / q)`. This is what the code
//! published with the paper does (`density=True`, `epsilon=1e-10`, then
//! `scipy.stats.entropy`). A bin the reference fills and the approximation
//! leaves empty therefore costs about `p · log(p / 1e-10·width)`, some 20 `p`
//! nats: missing mass is punished hard, unlike seqcal's own metric, whose 0.5
//! pseudo-count per bin caps that penalty ([`super::divergence`]).
//!
//! **Average.** `⟨D_KL⟩ = (mean 1-D KL + mean 2-D KL) / 2`. With a single
//! parameter there is no pair: the 2-D mean is absent and `⟨D_KL⟩` is the 1-D
//! mean (the paper's code would average an empty list to 0 and halve it).
//!
//! **Weights.** A weighted draw counts in proportion to its weight (as
//! `numpy.histogram(..., weights=w)`).
//!
//! **The box.** The prior box where the parameter has finite bounds; where it
//! does not (an emcee-written chain without bounds), the range of the draws of
//! both samples ([`paper_box`]), so that no draw is left out.
//!
//! The estimate depends on the sample sizes: read it against its floor, the same
//! metric between two independent samples of the reference's size
//! ([`super::floor`]).
//!
//! # Reference
//! H. Roch & C. Shen, *Learning informed prior distributions with normalizing
//! flows for Bayesian analysis* (2025), arXiv:2509.14911, and its published
//! code (`compute_1d_kl`, `compute_2d_kl_lower`).

use serde::Serialize;

use super::divergence::mean;
use super::weighted::WeightedDraws;

/// Bins per parameter (and per axis of a pair).
pub const PAPER_BINS: usize = 75;
/// Added to every bin of both density histograms before normalizing.
pub const PAPER_EPSILON: f64 = 1e-10;

/// The paper's metric between a reference and an approximation.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PaperKl {
    /// KL of each parameter's marginal.
    pub kl_1d: Vec<f64>,
    /// Mean of [`kl_1d`](Self::kl_1d).
    pub mean_kl_1d: f64,
    /// Mean KL over the pairs; absent with a single parameter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_kl_2d: Option<f64>,
    /// `⟨D_KL⟩ = (mean 1-D + mean 2-D) / 2`, the 1-D mean alone without pairs.
    pub d_kl: f64,
}

impl PaperKl {
    /// Every number multiplied by `f` (a floor measured at half the size, scaled to the full size).
    pub fn scaled(&self, f: f64) -> PaperKl {
        PaperKl {
            kl_1d: self.kl_1d.iter().map(|v| v * f).collect(),
            mean_kl_1d: self.mean_kl_1d * f,
            mean_kl_2d: self.mean_kl_2d.map(|v| v * f),
            d_kl: self.d_kl * f,
        }
    }
}

/// The box the paper's histograms span: `bounds` where finite, else the range
/// of the draws of every sample in `samples` (a constant parameter gets a unit
/// box around its value). The flag says whether every side came from `bounds`.
pub fn paper_box(bounds: &[(f64, f64)], samples: &[WeightedDraws<'_>]) -> (Vec<(f64, f64)>, bool) {
    let mut all_bounds = true;
    let b = bounds
        .iter()
        .enumerate()
        .map(|(j, &(lo, hi))| {
            if lo.is_finite() && hi.is_finite() && hi > lo {
                return (lo, hi);
            }
            all_bounds = false;
            let (mut dlo, mut dhi) = (f64::INFINITY, f64::NEG_INFINITY);
            for s in samples {
                for &v in s.x.column(j) {
                    if v.is_finite() {
                        (dlo, dhi) = (dlo.min(v), dhi.max(v));
                    }
                }
            }
            let lo = if lo.is_finite() { lo } else { dlo };
            let hi = if hi.is_finite() { hi } else { dhi };
            if hi > lo {
                (lo, hi)
            } else if lo.is_finite() {
                (lo - 0.5, lo + 0.5)
            } else {
                (0.0, 1.0)
            }
        })
        .collect();
    (b, all_bounds)
}

/// Bin of `v` in `bins` equal bins over `[lo, hi]`, the upper edge in the last
/// bin; `None` outside (numpy's convention).
fn bin(v: f64, (lo, hi): (f64, f64), bins: usize) -> Option<usize> {
    if !(v >= lo && v <= hi) {
        return None;
    }
    let k = ((v - lo) / (hi - lo) * bins as f64).floor() as usize;
    Some(k.min(bins - 1))
}

/// `Σ p log(p / q)` of two weighted histograms over bins of equal size `cell`,
/// each turned into a density, `ε` added, and normalized.
fn kl_hist(p: &[f64], q: &[f64], cell: f64) -> f64 {
    let density = |h: &[f64]| -> Vec<f64> {
        let n: f64 = h.iter().sum();
        // No draw inside the box: an all-zero density (numpy would give NaN; ε alone remains).
        h.iter().map(|c| if n > 0.0 { c / (n * cell) } else { 0.0 } + PAPER_EPSILON).collect()
    };
    let (dp, dq) = (density(p), density(q));
    let (sp, sq) = (dp.iter().sum::<f64>(), dq.iter().sum::<f64>());
    dp.iter()
        .zip(&dq)
        .map(|(a, b)| {
            let (a, b) = (a / sp, b / sq);
            a * (a / b).ln()
        })
        .sum()
}

fn hist_1d(s: &WeightedDraws<'_>, j: usize, b: (f64, f64)) -> Vec<f64> {
    let mut h = vec![0.0; PAPER_BINS];
    for (i, &v) in s.x.column(j).iter().enumerate() {
        if let Some(k) = bin(v, b, PAPER_BINS) {
            h[k] += s.weight(i);
        }
    }
    h
}

fn hist_2d(s: &WeightedDraws<'_>, (i, j): (usize, usize), bi: (f64, f64), bj: (f64, f64)) -> Vec<f64> {
    let mut h = vec![0.0; PAPER_BINS * PAPER_BINS];
    for (k, r) in s.x.rows().into_iter().enumerate() {
        if let (Some(a), Some(b)) = (bin(r[i], bi, PAPER_BINS), bin(r[j], bj, PAPER_BINS)) {
            h[a * PAPER_BINS + b] += s.weight(k);
        }
    }
    h
}

/// The paper's `KL(reference ‖ approx)` of every marginal and pair over the box
/// `bx` (one `(lo, hi)` per parameter, finite, as [`paper_box`] gives).
///
/// NaN everywhere if the two samples hold different numbers of parameters.
pub fn paper_kl(reference: WeightedDraws<'_>, approx: WeightedDraws<'_>, bx: &[(f64, f64)]) -> PaperKl {
    let d = reference.x.ncols();
    if approx.x.ncols() != d || bx.len() != d {
        let nan = f64::NAN;
        return PaperKl { kl_1d: vec![nan; d], mean_kl_1d: nan, mean_kl_2d: (d > 1).then_some(nan), d_kl: nan };
    }
    let width = |j: usize| (bx[j].1 - bx[j].0) / PAPER_BINS as f64;
    let kl_1d: Vec<f64> = (0..d).map(|j| kl_hist(&hist_1d(&reference, j, bx[j]), &hist_1d(&approx, j, bx[j]), width(j))).collect();
    let mut kl_2d = Vec::new();
    for i in 0..d {
        for j in i + 1..d {
            let (p, q) = (hist_2d(&reference, (i, j), bx[i], bx[j]), hist_2d(&approx, (i, j), bx[i], bx[j]));
            kl_2d.push(kl_hist(&p, &q, width(i) * width(j)));
        }
    }
    let mean_kl_1d = mean(&kl_1d).unwrap_or(f64::NAN);
    let mean_kl_2d = mean(&kl_2d);
    PaperKl { d_kl: mean_kl_2d.map_or(mean_kl_1d, |m2| 0.5 * (mean_kl_1d + m2)), kl_1d, mean_kl_1d, mean_kl_2d }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};

    fn normal(n: usize, d: usize, shift: f64, seed: u64) -> Array2<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Array2::from_shape_fn((n, d), |_| shift + Distribution::<f64>::sample(&StandardNormal, &mut rng))
    }

    #[test]
    fn numbers_of_a_hand_made_histogram() {
        // Box [0, 3], 75 bins of width 0.04: the reference fills bins 0 and 25 equally, the
        // approximation only bin 0. Densities 12.5 and 12.5 vs 25 and 0; with ε the KL is
        // 0.5 log(0.5 / (25/(25 + 75ε))) + 0.5 log(0.5 / (ε/(25 + 75ε))) ≈ -0.5 log 2 + 0.5 log(12.5e10).
        let p = Array2::from_shape_vec((2, 1), vec![0.01, 1.01]).unwrap();
        let q = Array2::from_shape_vec((2, 1), vec![0.02, 0.03]).unwrap();
        let k = paper_kl(WeightedDraws::new(p.view()), WeightedDraws::new(q.view()), &[(0.0, 3.0)]);
        let s = 25.0 + 75.0 * PAPER_EPSILON;
        let sp = 25.0 + 75.0 * PAPER_EPSILON;
        let want = (12.5 + PAPER_EPSILON) / sp * (((12.5 + PAPER_EPSILON) / sp) / ((25.0 + PAPER_EPSILON) / s)).ln()
            + (12.5 + PAPER_EPSILON) / sp * (((12.5 + PAPER_EPSILON) / sp) / (PAPER_EPSILON / s)).ln()
            + 73.0 * (PAPER_EPSILON / sp) * ((PAPER_EPSILON / sp) / (PAPER_EPSILON / s)).ln();
        assert!((k.kl_1d[0] - want).abs() < 1e-9, "{} vs {want}", k.kl_1d[0]);
        assert!(k.kl_1d[0] > 11.0);
        assert_eq!(k.mean_kl_2d, None);
        assert_eq!(k.d_kl, k.mean_kl_1d);
    }

    #[test]
    fn draws_outside_the_box_are_left_out_and_weights_count() {
        let p = Array2::from_shape_vec((2, 1), vec![0.5, 1.5]).unwrap();
        // The approximation's draw at 7 lies outside [0, 2]: only the draw at 0.5 counts.
        let q = Array2::from_shape_vec((2, 1), vec![0.5, 7.0]).unwrap();
        let bx = [(0.0, 2.0)];
        let outside = paper_kl(WeightedDraws::new(p.view()), WeightedDraws::new(q.view()), &bx);
        let only = Array2::from_shape_vec((1, 1), vec![0.5]).unwrap();
        let alone = paper_kl(WeightedDraws::new(p.view()), WeightedDraws::new(only.view()), &bx);
        assert_eq!(outside.kl_1d, alone.kl_1d);
        // Weighting the reference's draw at 1.5 to zero makes it equal to the approximation.
        let w = [1.0, 0.0];
        let same = paper_kl(WeightedDraws::with_weights(p.view(), Some(&w)), WeightedDraws::new(only.view()), &bx);
        assert!(same.kl_1d[0].abs() < 1e-12, "{:?}", same.kl_1d);
    }

    #[test]
    fn a_shift_gives_the_gaussian_kl_of_the_marginals() {
        // KL(N(0,1) ‖ N(0.5,1)) = 0.125 per marginal. 200 000 draws in bins of 0.16 sd: the
        // histogram noise and the binning move it by < 0.01.
        let (a, b) = (normal(200_000, 3, 0.0, 1), normal(200_000, 3, 0.5, 2));
        let k = paper_kl(WeightedDraws::new(a.view()), WeightedDraws::new(b.view()), &[(-6.0, 6.0); 3]);
        assert!((k.mean_kl_1d - 0.125).abs() < 0.01, "{k:?}");
        assert!((k.d_kl - 0.5 * (k.mean_kl_1d + k.mean_kl_2d.unwrap())).abs() < 1e-15);
    }

    #[test]
    fn mass_the_approximation_misses_costs_what_epsilon_says() {
        // Reference uniform on [0, 1]², approximation uniform on [0, 1] x [0, 0.8] (the top 15
        // of 75 rows of bins empty). Densities 1 against 1.25 on 80% of the bins and 1 against
        // ε on 20%: KL = 0.8 ln(1 / 1.25) + 0.2 ln(1 / ε) = 4.427, for the pair and for the
        // marginal of y; 0 for the marginal of x. 200 draws a bin: noise about 0.003.
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let n = 1_125_000;
        let p = Array2::from_shape_simple_fn((n, 2), || rand::RngExt::random::<f64>(&mut rng));
        let mut q = Array2::from_shape_simple_fn((n, 2), || rand::RngExt::random::<f64>(&mut rng));
        q.column_mut(1).mapv_inplace(|v| 0.8 * v);
        let k = paper_kl(WeightedDraws::new(p.view()), WeightedDraws::new(q.view()), &[(0.0, 1.0); 2]);
        let want = 0.8 * (1.0f64 / 1.25).ln() + 0.2 * (1.0 / PAPER_EPSILON).ln();
        assert!(k.kl_1d[0] < 0.005 && (k.kl_1d[1] - want).abs() < 0.02, "{k:?} vs {want}");
        assert!((k.mean_kl_2d.unwrap() - want).abs() < 0.02, "{k:?} vs {want}");
    }

    #[test]
    fn the_box_comes_from_bounds_or_from_both_samples() {
        let a = Array2::from_shape_vec((2, 2), vec![0.0, 1.0, 2.0, 3.0]).unwrap();
        let b = Array2::from_shape_vec((2, 2), vec![-1.0, 1.0, 1.0, 5.0]).unwrap();
        let s = [WeightedDraws::new(a.view()), WeightedDraws::new(b.view())];
        let (bx, from_bounds) = paper_box(&[(0.0, 10.0), (f64::NEG_INFINITY, f64::INFINITY)], &s);
        assert_eq!(bx, vec![(0.0, 10.0), (1.0, 5.0)]);
        assert!(!from_bounds);
        assert!(paper_box(&[(0.0, 1.0), (2.0, 3.0)], &s).1);
    }
}
