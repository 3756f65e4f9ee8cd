//! How well a flow prior fits the chain it was trained on: the KL of the
//! flow's own draws against the source chain's draws, next to its floor.
//!
//! The source draws (after burn-in, in iteration order) are split into two
//! halves by iteration. The **floor** is the KL between the two halves: what
//! two samples of the source posterior of that size give by sampling noise
//! alone. The **fit** is the KL between the second half and as many draws of
//! the flow. A flow that smears or drops structure (too few couplings on
//! narrow modes) sits well above its floor; the stage warns when the excess
//! passes [`WARN_EXCESS_1D`].

use ndarray::{s, Array2, ArrayView2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use seqcal_api::Prior;
use serde::{Deserialize, Serialize};

use super::divergence::{kl_1d, kl_2d, DEFAULT_BINS_1D, DEFAULT_BINS_2D};

/// Most draws per half: enough for 50-bin histograms, cheap to draw from a flow.
const MAX_HALF: usize = 50_000;
/// Excess of the mean 1-D KL over its floor above which the fit is warned about.
pub const WARN_EXCESS_1D: f64 = 0.01;

/// The fit of a flow prior to its source chain.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FlowFit {
    /// Where the flow was trained (`stage A`, a chain file).
    pub source: String,
    /// Draws per compared sample (half the source draws, at most 50 000).
    pub draws: usize,
    /// Mean over parameters of KL(source half ‖ flow draws), 1-D marginals.
    pub kl_1d: f64,
    /// Mean over parameter pairs of the same, 2-D (absent with one parameter).
    pub kl_2d: Option<f64>,
    /// Mean 1-D KL between the two halves of the source draws.
    pub floor_1d: f64,
    /// Mean 2-D KL between the two halves (absent with one parameter).
    pub floor_2d: Option<f64>,
    /// `kl_1d − floor_1d` above which the fit is warned about.
    pub warn_excess_1d: f64,
    /// The warning, when the flow sits too far above its floor.
    pub warning: Option<String>,
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn mean_2d(reference: ArrayView2<'_, f64>, approx: ArrayView2<'_, f64>) -> Option<f64> {
    let k: Vec<f64> = kl_2d(reference, approx, DEFAULT_BINS_2D).into_iter().map(|(_, v)| v).collect();
    (!k.is_empty()).then(|| mean(&k))
}

/// Every `step`-th row of `x`, the first `n` of them.
fn thin(x: ArrayView2<'_, f64>, n: usize) -> Array2<f64> {
    let step = x.nrows().div_ceil(n.max(1)).max(1);
    x.slice(s![..;step, ..]).to_owned()
}

/// The fit of `flow` (trained on `label`) to its source draws `source`
/// (`n × d`, iteration order); `seed` seeds the flow's draws.
pub fn flow_fit(flow: &dyn Prior, label: &str, source: ArrayView2<'_, f64>, seed: u64) -> FlowFit {
    let half = source.nrows() / 2;
    let first = thin(source.slice(s![..half, ..]), MAX_HALF);
    let second = thin(source.slice(s![half.., ..]), MAX_HALF);
    let n = first.nrows().min(second.nrows());
    let (first, second) = (first.slice(s![..n, ..]), second.slice(s![..n, ..]));
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x666c_6f77);
    let own = flow.sample(&mut rng, n);
    let kl = mean(&kl_1d(second, own.view(), DEFAULT_BINS_1D));
    let floor = mean(&kl_1d(second, first, DEFAULT_BINS_1D));
    let (kl2, floor2) = (mean_2d(second, own.view()), mean_2d(second, first));
    let excess = kl - floor;
    let warning = (excess.is_nan() || excess > WARN_EXCESS_1D).then(|| {
        format!(
            "the flow prior does not reproduce {label}: mean 1-D KL of its draws against {label}'s is {kl:.4}, its floor (two halves of {label}) {floor:.4}; a smeared or truncated prior biases this stage (more layers or steps, or check the training loss)"
        )
    });
    FlowFit { source: label.to_string(), draws: n, kl_1d: kl, kl_2d: kl2, floor_1d: floor, floor_2d: floor2, warn_excess_1d: WARN_EXCESS_1D, warning }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prior::Normal;
    use rand_distr::{Distribution, StandardNormal};

    fn draws(n: usize, sd: f64, seed: u64) -> Array2<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Array2::from_shape_simple_fn((n, 2), || {
            let z: f64 = StandardNormal.sample(&mut rng);
            sd * z
        })
    }

    #[test]
    fn a_faithful_prior_sits_at_its_floor_and_a_smeared_one_is_warned_about() {
        let names = vec!["a".to_string(), "b".to_string()];
        let src = draws(40_000, 1.0, 1);
        let good = Normal::new(names.clone(), vec![0.0, 0.0], vec![1.0, 1.0]).unwrap();
        let fit = flow_fit(&good, "stage A", src.view(), 3);
        assert!(fit.warning.is_none(), "{fit:?}");
        assert_eq!(fit.draws, 20_000);
        // A prior 1.5 times too wide: the smeared flow of a narrow posterior.
        let wide = Normal::new(names, vec![0.0, 0.0], vec![1.5, 1.5]).unwrap();
        let fit = flow_fit(&wide, "stage A", src.view(), 3);
        assert!(fit.kl_1d - fit.floor_1d > WARN_EXCESS_1D, "{fit:?}");
        assert!(fit.warning.as_deref().unwrap().contains("does not reproduce stage A"));
        assert!(fit.kl_2d.unwrap() > fit.floor_2d.unwrap());
    }
}
