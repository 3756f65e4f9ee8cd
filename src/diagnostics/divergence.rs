//! Sample-based quality metrics between two sets of draws of the same
//! parameters: average KL divergence over 1-D marginals and over 2-D pairs
//! (histogram-based), and errors of the first two moments.
//!
//! **Binning.** For each parameter the range is `[min, max]` of the *reference*
//! draws, split into `bins` equal bins (default [`DEFAULT_BINS_1D`] = 50 for
//! marginals, [`DEFAULT_BINS_2D`] = 20 per axis for pairs). Draws of either set
//! outside the range are clipped into the first or last bin, so no mass is lost.
//!
//! **Smoothing.** Each bin gets a pseudo-count of 0.5 (Jeffreys / Krichevsky–Trofimov)
//! before normalizing, `p_k = (c_k + 0.5)/(n + 0.5 K)`, so the divergence stays finite
//! when the approximation leaves a bin empty. This is the convention of the normflows
//! peer script. The estimate is biased upwards by about `(K - 1)/(2n)` per set: compare it
//! with the **floor**, the same measure between two independent reference draws of
//! the same size ([`KlSummary`] carries both when asked).
//!
//! **Weights.** The `_weighted` forms read importance weights: a draw counts in
//! proportion to its weight, the counts scaled to add up to Kish's effective
//! sample size so that the pseudo-count weighs as much against weighted draws as
//! against that many unweighted ones; moments are weighted means and covariances.
//!
//! The paper's own convention (75 bins over the prior box, no pseudo-count) is
//! [`paper_kl`](super::paper_kl).
//!
//! # Reference
//! Roch & Shen, *Learning informed prior distributions with normalizing flows for
//! Bayesian analysis* (average 1-D and 2-D KL as the comparison of priors and posteriors).

use ndarray::ArrayView2;
use serde::Serialize;

use super::weighted::WeightedDraws;

/// Default bins per parameter for 1-D marginals.
pub const DEFAULT_BINS_1D: usize = 50;
/// Default bins per axis for 2-D pairs.
pub const DEFAULT_BINS_2D: usize = 20;

/// Pseudo-count added to every bin.
const PSEUDO: f64 = 0.5;

fn bin_of(v: f64, lo: f64, hi: f64, bins: usize) -> usize {
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) || v.is_nan() {
        return 0;
    }
    let k = ((v - lo) / (hi - lo) * bins as f64).floor();
    if k < 0.0 {
        0
    } else {
        (k as usize).min(bins - 1)
    }
}

fn range(col: impl Iterator<Item = f64>) -> (f64, f64) {
    col.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)))
}

/// `KL(reference ‖ approx)` of the 1-D marginal of each parameter (histogram estimate, see the module docs).
///
/// Returns one value per column; NaN where the two sets have different column counts.
pub fn kl_1d(reference: ArrayView2<'_, f64>, approx: ArrayView2<'_, f64>, bins: usize) -> Vec<f64> {
    kl_1d_weighted(WeightedDraws::new(reference), WeightedDraws::new(approx), bins)
}

/// Count of each draw in a histogram: its weight scaled so that the counts add
/// up to Kish's effective sample size (the number of draws when unweighted), so
/// that the pseudo-count weighs against the information the draws hold.
fn counts_scale(d: &WeightedDraws<'_>) -> f64 {
    match d.w {
        None => 1.0,
        Some(w) => {
            let total: f64 = w.iter().sum();
            if total > 0.0 {
                d.kish_ess() / total
            } else {
                0.0
            }
        }
    }
}

/// [`kl_1d`] of weighted draws: each draw counts in proportion to its weight.
pub fn kl_1d_weighted(reference: WeightedDraws<'_>, approx: WeightedDraws<'_>, bins: usize) -> Vec<f64> {
    let d = reference.x.ncols();
    if approx.x.ncols() != d || bins == 0 {
        return vec![f64::NAN; d];
    }
    let (sr, sa) = (counts_scale(&reference), counts_scale(&approx));
    (0..d)
        .map(|j| {
            let (lo, hi) = range(reference.x.column(j).iter().copied());
            let mut cp = vec![0.0; bins];
            let mut cq = vec![0.0; bins];
            reference.x.column(j).iter().enumerate().for_each(|(i, &v)| cp[bin_of(v, lo, hi, bins)] += sr * reference.weight(i));
            approx.x.column(j).iter().enumerate().for_each(|(i, &v)| cq[bin_of(v, lo, hi, bins)] += sa * approx.weight(i));
            seqcal_api::kl_counts(&cp, &cq, PSEUDO)
        })
        .collect()
}

/// `KL(reference ‖ approx)` of the 2-D marginal of every pair `(i, j)`, `i < j`, in that order.
pub fn kl_2d(reference: ArrayView2<'_, f64>, approx: ArrayView2<'_, f64>, bins: usize) -> Vec<((usize, usize), f64)> {
    kl_2d_weighted(WeightedDraws::new(reference), WeightedDraws::new(approx), bins)
}

/// [`kl_2d`] of weighted draws.
pub fn kl_2d_weighted(reference: WeightedDraws<'_>, approx: WeightedDraws<'_>, bins: usize) -> Vec<((usize, usize), f64)> {
    let d = reference.x.ncols();
    let mut out = Vec::new();
    if approx.x.ncols() != d || bins == 0 {
        return out;
    }
    let ranges: Vec<(f64, f64)> = (0..d).map(|j| range(reference.x.column(j).iter().copied())).collect();
    for i in 0..d {
        for j in i + 1..d {
            let count = |a: &WeightedDraws<'_>| {
                let scale = counts_scale(a);
                let mut c = vec![0.0; bins * bins];
                for (k, r) in a.x.rows().into_iter().enumerate() {
                    c[bin_of(r[i], ranges[i].0, ranges[i].1, bins) * bins + bin_of(r[j], ranges[j].0, ranges[j].1, bins)] += scale * a.weight(k);
                }
                c
            };
            out.push(((i, j), seqcal_api::kl_counts(&count(&reference), &count(&approx), PSEUDO)));
        }
    }
    out
}

/// Errors of the first two moments of `approx` against `reference`, per parameter.
#[derive(Debug, Clone, Serialize)]
pub struct MomentErrors {
    /// `|mean_approx - mean_ref| / sd_ref`.
    pub mean: Vec<f64>,
    /// `sd_approx / sd_ref - 1`.
    pub sd: Vec<f64>,
    /// Largest absolute difference of correlation coefficients over all pairs.
    pub max_corr: f64,
}

fn moments(a: WeightedDraws<'_>) -> (Vec<f64>, Vec<f64>, Vec<Vec<f64>>) {
    let cov = a.cov();
    let d = a.x.ncols();
    let sd: Vec<f64> = (0..d).map(|j| cov[[j, j]].sqrt()).collect();
    (a.mean(), sd, cov.outer_iter().map(|r| r.to_vec()).collect())
}

/// Mean, sd and correlation errors of `approx` against `reference`.
pub fn moment_errors(reference: ArrayView2<'_, f64>, approx: ArrayView2<'_, f64>) -> MomentErrors {
    moment_errors_weighted(WeightedDraws::new(reference), WeightedDraws::new(approx))
}

/// [`moment_errors`] of weighted draws (weighted means and covariances).
pub fn moment_errors_weighted(reference: WeightedDraws<'_>, approx: WeightedDraws<'_>) -> MomentErrors {
    let (mr, sr, cr) = moments(reference);
    let (ma, sa, ca) = moments(approx);
    let d = mr.len().min(ma.len());
    let mut max_corr: f64 = 0.0;
    for i in 0..d {
        for j in i + 1..d {
            let rr = cr[i][j] / (sr[i] * sr[j]);
            let ra = ca[i][j] / (sa[i] * sa[j]);
            max_corr = max_corr.max((rr - ra).abs());
        }
    }
    MomentErrors { mean: (0..d).map(|j| (ma[j] - mr[j]).abs() / sr[j]).collect(), sd: (0..d).map(|j| sa[j] / sr[j] - 1.0).collect(), max_corr }
}

/// Average 1-D and 2-D KL between two sample sets, with the moment errors.
#[derive(Debug, Clone, Serialize)]
pub struct KlSummary {
    /// KL of each 1-D marginal.
    pub kl_1d: Vec<f64>,
    /// Mean of [`kl_1d`](Self::kl_1d).
    pub mean_kl_1d: f64,
    /// Mean KL over all 2-D pairs (NaN for a single parameter: there is no pair;
    /// [`KlSummary::pairs_mean`] gives `None` instead).
    pub mean_kl_2d: f64,
    /// Moment errors.
    pub moments: MomentErrors,
}

impl KlSummary {
    /// All the metrics with the default binning.
    pub fn compute(reference: ArrayView2<'_, f64>, approx: ArrayView2<'_, f64>) -> Self {
        Self::compute_weighted(WeightedDraws::new(reference), WeightedDraws::new(approx))
    }

    /// All the metrics of weighted draws with the default binning.
    pub fn compute_weighted(reference: WeightedDraws<'_>, approx: WeightedDraws<'_>) -> Self {
        let k1 = kl_1d_weighted(reference, approx, DEFAULT_BINS_1D);
        let k2: Vec<f64> = kl_2d_weighted(reference, approx, DEFAULT_BINS_2D).into_iter().map(|(_, v)| v).collect();
        KlSummary {
            mean_kl_1d: mean(&k1).unwrap_or(f64::NAN),
            kl_1d: k1,
            mean_kl_2d: mean(&k2).unwrap_or(f64::NAN),
            moments: moment_errors_weighted(reference, approx),
        }
    }

    /// The mean 2-D KL, `None` for a single parameter (no pair) rather than NaN.
    pub fn pairs_mean(&self) -> Option<f64> {
        (self.kl_1d.len() > 1).then_some(self.mean_kl_2d)
    }
}

/// The mean of `v`, `None` when it is empty.
pub(crate) fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};

    fn normal(n: usize, shift: f64, seed: u64) -> Array2<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Array2::from_shape_fn((n, 3), |_| shift + Distribution::<f64>::sample(&StandardNormal, &mut rng))
    }

    #[test]
    fn kl_is_near_the_floor_for_the_same_law_and_matches_theory_for_a_shift() {
        let a = normal(50_000, 0.0, 1);
        let b = normal(50_000, 0.0, 2);
        let same = KlSummary::compute(a.view(), b.view());
        // Bias ~ (K-1)/(2n) per set: about 1e-3 for 50 bins and 50 000 draws.
        assert!(same.mean_kl_1d < 3e-3 && same.mean_kl_2d < 1e-2, "{same:?}");
        let c = normal(50_000, 0.5, 3);
        let shifted = KlSummary::compute(a.view(), c.view());
        // KL(N(0,1) ‖ N(0.5,1)) = 0.125 per marginal and 0.25 per pair (binning lowers it slightly).
        assert!((shifted.mean_kl_1d - 0.125).abs() < 0.015, "{}", shifted.mean_kl_1d);
        assert!((shifted.mean_kl_2d - 0.25).abs() < 0.03, "{}", shifted.mean_kl_2d);
        assert_eq!(KlSummary::compute(a.column(0).insert_axis(ndarray::Axis(1)), c.column(0).insert_axis(ndarray::Axis(1))).pairs_mean(), None);
        assert!(shifted.moments.mean.iter().all(|m| (m - 0.5).abs() < 0.03));
        assert!(same.moments.max_corr < 0.03 && same.moments.sd.iter().all(|s| s.abs() < 0.02));
    }

    #[test]
    fn mismatched_columns_give_nan_not_a_panic() {
        let a = normal(100, 0.0, 1);
        let b = Array2::<f64>::zeros((100, 2));
        assert!(kl_1d(a.view(), b.view(), 10).iter().all(|v| v.is_nan()));
        assert!(kl_2d(a.view(), b.view(), 10).is_empty());
    }
}
