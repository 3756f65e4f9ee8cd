//! The comparison of two posterior samples (`seqcal compare` and every
//! `[[compare]]` pair of a pipeline): seqcal's average 1-D and 2-D KL in both
//! directions and the paper's `⟨D_KL⟩` (each beside its two-sample floor),
//! per-parameter shifts of mean (in sd and in Monte Carlo standard errors) and
//! sd, the covariance error, and a one-line verdict. Importance weights of
//! either sample are honoured throughout.

use ndarray::{Array2, ArrayView3};
use serde::Serialize;

use crate::diagnostics::floor::{halves, HALF_TO_FULL};
use crate::diagnostics::{effective_sample_size, paper_box, paper_kl, KlSummary, PaperKl, WeightedDraws, PAPER_BINS, PAPER_EPSILON};

pub use super::verdict::{Metric, ParamDiff, KL2_SAME, KL_SAME, MCSE_SAME, MEAN_RESOLVED, MEAN_SAME};

/// One sample to compare: a label, its draws (iteration-major rows of
/// `walkers` walkers, as a chain's flat draws) and their weights.
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    /// Label (a file or a stage).
    pub label: &'a str,
    /// Draws and weights.
    pub draws: WeightedDraws<'a>,
    /// Walkers the rows interleave (1 for independent draws).
    pub walkers: usize,
}

/// seqcal's own metric (50 bins per parameter, 20 × 20 per pair, a 0.5
/// pseudo-count per bin), in both directions, with its floor.
#[derive(Debug, Clone, Serialize)]
pub struct SeqcalKl {
    /// Average over parameters of KL(B ‖ A) of the 1-D marginals, B as reference.
    pub mean_kl_1d_ab: f64,
    /// Average of KL(A ‖ B), A as reference.
    pub mean_kl_1d_ba: f64,
    /// Average over parameter pairs of the 2-D KL(B ‖ A); absent with one parameter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_kl_2d_ab: Option<f64>,
    /// Average over parameter pairs of the 2-D KL(A ‖ B); absent with one parameter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_kl_2d_ba: Option<f64>,
    /// The two-sample floor of the 1-D average (both directions averaged).
    pub floor_kl_1d: f64,
    /// The two-sample floor of the 2-D average; absent with one parameter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub floor_kl_2d: Option<f64>,
}

/// The paper's metric, KL(B ‖ A) over the prior box, with its floor.
#[derive(Debug, Clone, Serialize)]
pub struct PaperComparison {
    /// Bins per parameter (and per axis of a pair).
    pub bins: usize,
    /// Added to every density bin.
    pub epsilon: f64,
    /// The box the histograms span, one `[lo, hi]` per parameter.
    #[serde(rename = "box")]
    pub bx: Vec<(f64, f64)>,
    /// `bounds` when every side of the box is a prior bound, else `draws`
    /// (the range of both samples where a parameter has no finite bound).
    pub box_from: String,
    /// The metric.
    #[serde(flatten)]
    pub kl: PaperKl,
    /// The same metric between two independent samples of B's size.
    pub floor: PaperKl,
}

/// The comparison of sample A with the reference sample B.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Label of A (a file or a stage).
    pub a: String,
    /// Label of B, the reference.
    pub b: String,
    /// Draws of A compared.
    pub draws_a: usize,
    /// Draws of B compared.
    pub draws_b: usize,
    /// Whether A's draws are weighted.
    pub weighted_a: bool,
    /// Whether B's draws are weighted.
    pub weighted_b: bool,
    /// Which metrics this comparison shows.
    pub metric: Metric,
    /// seqcal's metric (absent when only the paper's is asked for).
    #[serde(flatten)]
    pub seqcal: Option<SeqcalKl>,
    /// The paper's metric (absent when only seqcal's is asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paper: Option<PaperComparison>,
    /// ‖C_a - C_b‖_F / ‖C_b‖_F (weighted covariances).
    pub cov_frobenius_rel: f64,
    /// Per-parameter differences.
    pub params: Vec<ParamDiff>,
    /// `consistent: ...` or `differ: ...`.
    pub verdict: String,
}

/// A difference `d` relative to a scale `s`: 0 when there is no difference,
/// even on a zero scale (a constant parameter compared with itself).
fn relative(d: f64, s: f64) -> f64 {
    if d == 0.0 {
        0.0
    } else {
        d / s
    }
}

/// `a / b`, 1 when they are equal (two zero spreads are the same spread).
fn ratio(a: f64, b: f64) -> f64 {
    if a == b {
        1.0
    } else {
        a / b
    }
}

/// Effective sample size of each parameter's mean: the chain's (from the
/// autocorrelation time, when its rows are whole iterations of its walkers),
/// times Kish's efficiency of the weights, never above Kish's ESS; Kish's
/// ESS alone where the autocorrelation time is undefined.
pub fn effective_sizes(s: &Side<'_>) -> Vec<f64> {
    let (n, d) = s.draws.x.dim();
    let kish = s.draws.kish_ess();
    let w = s.walkers.max(1);
    let chain_ess: Vec<f64> = match s.draws.x.to_owned().into_shape_with_order((n / w, w, d)) {
        Ok(c) if n % w == 0 && n / w >= 2 => effective_sample_size(ArrayView3::from(&c)),
        _ => vec![f64::NAN; d],
    };
    chain_ess.into_iter().map(|e| if e.is_finite() && e > 0.0 { (e * kish / n as f64).min(kish) } else { kish }).collect()
}

fn avg(a: f64, b: f64) -> f64 {
    0.5 * (a + b)
}

fn avg_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(avg(a?, b?))
}

impl Comparison {
    /// Compares sample `a` with the reference sample `b`; both hold the
    /// parameters `names` in the same order, whose prior box is `bounds`
    /// (`±∞` where unknown). `metric` says which metrics the result shows; the
    /// verdict reads seqcal's metric and the mean shifts whatever it shows.
    pub fn compute<'a>(a: Side<'a>, b: Side<'a>, names: &[String], bounds: &[(f64, f64)], metric: Metric) -> Comparison {
        let (xa, xb) = (a.draws, b.draws);
        // B is the reference in the "ab" direction (KL(B ‖ A) with B's binning), A in "ba".
        let ab = KlSummary::compute_weighted(xb, xa);
        let ba = KlSummary::compute_weighted(xa, xb);
        let ((h1, w1), (h2, w2)) = halves(xb, b.walkers);
        let (h1, h2) = (WeightedDraws::with_weights(h1.view(), w1.as_deref()), WeightedDraws::with_weights(h2.view(), w2.as_deref()));
        let seqcal = metric.seqcal().then(|| {
            let (f12, f21) = (KlSummary::compute_weighted(h1, h2), KlSummary::compute_weighted(h2, h1));
            SeqcalKl {
                mean_kl_1d_ab: ab.mean_kl_1d,
                mean_kl_1d_ba: ba.mean_kl_1d,
                mean_kl_2d_ab: ab.pairs_mean(),
                mean_kl_2d_ba: ba.pairs_mean(),
                floor_kl_1d: HALF_TO_FULL * avg(f12.mean_kl_1d, f21.mean_kl_1d),
                floor_kl_2d: avg_opt(f12.pairs_mean(), f21.pairs_mean()).map(|v| HALF_TO_FULL * v),
            }
        });
        let paper = metric.paper().then(|| {
            let (bx, from_bounds) = paper_box(bounds, &[xa, xb]);
            PaperComparison {
                bins: PAPER_BINS,
                epsilon: PAPER_EPSILON,
                kl: paper_kl(xb, xa, &bx),
                floor: paper_kl(h1, h2, &bx).scaled(HALF_TO_FULL),
                box_from: if from_bounds { "bounds" } else { "draws" }.into(),
                bx,
            }
        });
        let (ca, cb) = (xa.cov(), xb.cov());
        let (ma, mb) = (xa.mean(), xb.mean());
        let (ea, eb) = (effective_sizes(&a), effective_sizes(&b));
        let fro = |m: &Array2<f64>| m.iter().map(|v| v * v).sum::<f64>().sqrt();
        let params: Vec<ParamDiff> = names
            .iter()
            .enumerate()
            .map(|(j, n)| {
                let (sa, sb) = (ca[[j, j]].sqrt(), cb[[j, j]].sqrt());
                let mcse = (sa * sa / ea[j] + sb * sb / eb[j]).sqrt();
                ParamDiff {
                    name: n.clone(),
                    mean_a: ma[j],
                    mean_b: mb[j],
                    mean_diff_in_sd: relative(ma[j] - mb[j], sb),
                    mean_diff_in_mcse: relative(ma[j] - mb[j], mcse),
                    sd_ratio: ratio(sa, sb),
                    kl_1d_ab: metric.seqcal().then(|| ab.kl_1d[j]),
                    kl_1d_ba: metric.seqcal().then(|| ba.kl_1d[j]),
                    paper_kl_1d: paper.as_ref().map(|p| p.kl.kl_1d[j]),
                }
            })
            .collect();
        let verdict = super::verdict::verdict(&params, avg(ab.mean_kl_1d, ba.mean_kl_1d), avg_opt(ab.pairs_mean(), ba.pairs_mean()));
        Comparison {
            a: a.label.into(),
            b: b.label.into(),
            draws_a: xa.len(),
            draws_b: xb.len(),
            weighted_a: xa.w.is_some(),
            weighted_b: xb.w.is_some(),
            metric,
            seqcal,
            paper,
            cov_frobenius_rel: relative(fro(&(&ca - &cb)), fro(&cb)),
            params,
            verdict,
        }
    }

    /// seqcal's average 1-D KL over both directions (NaN when not computed).
    pub fn mean_kl_1d(&self) -> f64 {
        self.seqcal.as_ref().map_or(f64::NAN, |s| avg(s.mean_kl_1d_ab, s.mean_kl_1d_ba))
    }

    /// seqcal's average 2-D KL over both directions; `None` with one parameter or when not computed.
    pub fn mean_kl_2d(&self) -> Option<f64> {
        self.seqcal.as_ref().and_then(|s| avg_opt(s.mean_kl_2d_ab, s.mean_kl_2d_ba))
    }

    /// Whether the verdict is `consistent`.
    pub fn consistent(&self) -> bool {
        self.verdict.starts_with("consistent")
    }
}

#[cfg(test)]
#[path = "compare_tests.rs"]
mod tests;
