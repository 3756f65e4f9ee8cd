//! Lost-mode detectors that look from the new data's side, and do not depend
//! on where the stage's own sampler went.
//!
//! A stage `prior = flow trained on stage S`, data `N`, targets
//! `q(θ)·L_N(θ)`. Its exact counterpart is the joint posterior
//! `j(θ) ∝ π₀(θ)·L_S(θ)·L_N(θ)`, where `π₀ · L_S` is stage S's (unnormalized)
//! posterior, the density the flow `q` was trained to reproduce. Both can be
//! evaluated at any point, so seqcal looks at points the stage's sampler may
//! never reach:
//!
//! - **the joint's high-density region, found from both sides**: draws of the
//!   source stage S and draws that see the new data (the new data's own
//!   single-stage posterior when the pipeline has that stage, else draws of
//!   the base prior), each evaluated under `j`; the draws within
//!   `d/2 + 4` nats of the best value of `j` found form the joint's high-density
//!   region;
//! - **the flow's deficit there**: `δ(θ) = c − (log q(θ) − log π₀(θ) − log L_S(θ))`,
//!   where `c` is the median of `log q − log π₀ − log L_S` over S's draws (the
//!   flow's normalization). `δ` is about 0 where the flow reproduces S's
//!   posterior; `δ > ln 100` means the flow is more than 100 times below it.
//!   When more than [`LOST_ABOVE`] of the region has such a deficit, the flow
//!   **lost a mode** that the joint posterior has: the stage's posterior
//!   cannot reproduce the joint's, whatever its sampler does;
//! - **the effective sample size of the flow's own draws reweighted by the
//!   new likelihood** (`L_N`), as a fraction of the draws: small when the new
//!   data favour the prior's tail (tension between the data sets, or a lost
//!   mode); alone it cannot tell the two apart, so it is reported, not warned on.

use ndarray::{concatenate, s, Array2, ArrayView2, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use seqcal_api::Prior;
use serde::{Deserialize, Serialize};

/// Draws per side evaluated (thinned evenly).
const PER_SIDE: usize = 5_000;
/// Flow draws reweighted by the new likelihood.
const ESS_DRAWS: usize = 4_000;
/// `δ` (nats) above which the flow counts as having lost the region: a factor 100.
pub const DEFICIT_NATS: f64 = 4.605_170_185_988_091;
/// Share of the joint's high-density region with a deficit above which the detector fires.
pub const LOST_ABOVE: f64 = 0.2;

/// An unnormalized log density over rows of draws (non-finite values mean zero density).
pub type LogDensityFn<'a> = &'a dyn Fn(ArrayView2<'_, f64>) -> Vec<f64>;

/// What the detectors look at.
pub struct LostModeInputs<'a> {
    /// The flow prior of the stage.
    pub flow: &'a dyn Prior,
    /// Where it was trained (`stage S`).
    pub label: &'a str,
    /// Draws of the source stage (after burn-in).
    pub source: ArrayView2<'a, f64>,
    /// Draws that see the new data.
    pub new_side: ArrayView2<'a, f64>,
    /// What `new_side` is, for the messages (`stage B (data B alone)`).
    pub new_side_label: &'a str,
    /// `log π₀ + log L_S`: the source stage's unnormalized log posterior.
    pub log_source: LogDensityFn<'a>,
    /// `log L_N`: the new data's log likelihood.
    pub log_new: LogDensityFn<'a>,
    /// Seed of the flow's draws.
    pub seed: u64,
}

impl std::fmt::Debug for LostModeInputs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LostModeInputs")
            .field("flow", &self.flow)
            .field("label", &self.label)
            .field("source", &self.source.dim())
            .field("new_side", &self.new_side.dim())
            .field("new_side_label", &self.new_side_label)
            .finish_non_exhaustive()
    }
}

/// What the lost-mode detectors found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LostMode {
    /// The draws that see the new data (`stage B (data B alone)`, `base prior`).
    pub new_side: String,
    /// Draws of the joint's high-density region found (from both sides).
    pub region_draws: usize,
    /// Of those, how many came from the new data's side.
    pub region_from_new_side: usize,
    /// Share of the region where the flow is more than 100 times below the
    /// source posterior (`δ > ln 100`).
    pub lost_fraction: f64,
    /// Median deficit `δ` over the region, nats.
    pub median_deficit: f64,
    /// Share above which the detector fires.
    pub lost_above: f64,
    /// Effective sample size of the flow's draws reweighted by the new
    /// likelihood, as a fraction of the draws.
    pub flow_ess_fraction: f64,
    /// Whether the detector fired.
    pub lost: bool,
    /// The warning, when it fired.
    pub warning: Option<String>,
}

fn finite_or_neg_inf(v: Vec<f64>) -> Vec<f64> {
    v.into_iter().map(|x| if x.is_nan() { f64::NEG_INFINITY } else { x }).collect()
}

fn thin(x: ArrayView2<'_, f64>, n: usize) -> Array2<f64> {
    let step = x.nrows().div_ceil(n.max(1)).max(1);
    x.slice(s![..;step, ..]).to_owned()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Effective sample size of log weights `lw`, as a fraction of their count.
pub fn ess_fraction(lw: &[f64]) -> f64 {
    let m = lw.iter().copied().filter(|v| v.is_finite()).fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() || lw.is_empty() {
        return 0.0;
    }
    let (s1, s2) = lw.iter().filter(|v| v.is_finite()).fold((0.0, 0.0), |(a, b), v| {
        let w = (v - m).exp();
        (a + w, b + w * w)
    });
    s1 * s1 / s2 / lw.len() as f64
}

/// Runs the detectors.
pub fn lost_mode(inp: &LostModeInputs<'_>) -> LostMode {
    let d = inp.flow.dim();
    let src = thin(inp.source, PER_SIDE);
    let new = thin(inp.new_side, PER_SIDE);
    let pooled = concatenate(Axis(0), &[src.view(), new.view()]).unwrap_or_else(|_| src.clone());
    let ls = finite_or_neg_inf((inp.log_source)(pooled.view()));
    let ln = finite_or_neg_inf((inp.log_new)(pooled.view()));
    let mut lq = vec![0.0; pooled.nrows()];
    inp.flow.log_prob_batch(pooled.view(), &mut lq);
    // The flow's normalization against the source's unnormalized posterior, on the source's draws.
    let c = median((0..src.nrows()).map(|i| lq[i] - ls[i]).collect());
    let lj: Vec<f64> = ls.iter().zip(&ln).map(|(a, b)| a + b).collect();
    let best = lj.iter().copied().filter(|v| v.is_finite()).fold(f64::NEG_INFINITY, f64::max);
    let level = best - (d as f64 / 2.0 + 4.0);
    let region: Vec<usize> = (0..pooled.nrows()).filter(|&i| lj[i].is_finite() && lj[i] >= level).collect();
    let deficit: Vec<f64> = region
        .iter()
        .map(|&i| {
            let r = lq[i] - ls[i];
            if r.is_finite() {
                c - r
            } else {
                f64::INFINITY
            }
        })
        .collect();
    let n_lost = deficit.iter().filter(|&&v| v.is_nan() || v > DEFICIT_NATS).count();
    let lost_fraction = if region.is_empty() { 0.0 } else { n_lost as f64 / region.len() as f64 };
    let median_deficit = {
        let mut v = deficit.clone();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let region_from_new_side = region.iter().filter(|&&i| i >= src.nrows()).count();
    // Flow draws reweighted by the new likelihood.
    let mut rng = ChaCha8Rng::seed_from_u64(inp.seed ^ 0x6c6f_7374);
    let own = inp.flow.sample(&mut rng, ESS_DRAWS);
    let flow_ess_fraction = ess_fraction(&finite_or_neg_inf((inp.log_new)(own.view())));
    let lost = c.is_finite() && n_lost >= 5 && lost_fraction > LOST_ABOVE;
    let warning = lost.then(|| {
        format!(
            "lost mode: {:.0}% of the joint posterior's high-density region ({} draws, {} of them from {}, evaluated under prior x both data sets' likelihoods) lies where the flow prior from {} is more than 100 times below that stage's posterior density, prior x likelihood (median deficit {:.1} nats): the region is missing from the draws the flow was trained on or from the flow itself, so this stage cannot reproduce the joint posterior whatever its sampler does; run the data sets in the other order, or jointly",
            100.0 * lost_fraction,
            region.len(),
            region_from_new_side,
            inp.new_side_label,
            inp.label,
            median_deficit
        )
    });
    LostMode {
        new_side: inp.new_side_label.to_string(),
        region_draws: region.len(),
        region_from_new_side,
        lost_fraction,
        median_deficit,
        lost_above: LOST_ABOVE,
        flow_ess_fraction,
        lost,
        warning,
    }
}

#[cfg(test)]
mod tests;
