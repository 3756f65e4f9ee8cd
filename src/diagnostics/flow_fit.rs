//! How well a flow prior fits the chain it was trained on: the KL of the
//! flow's own draws against draws of the source chain the flow was not
//! trained on, next to its floor.
//!
//! The reference draws are the training's held-out draws (the split the
//! trainer made, recorded by its seed and validation fraction): the flow never
//! saw them, so a flow that learned the training draws' noise does not look
//! better than it is. The **floor** is the KL between the held-out draws and
//! as many training draws: what two samples of the source posterior of that
//! size give by sampling noise alone (a lower bound: held-out rows are
//! neighbours of training rows in the chain, so the two share part of its
//! Monte Carlo noise). A flow trained without a held-out split is checked
//! against the second half of the source draws by iteration, with the first
//! half as the floor. The **fit** is the KL between the reference and as many
//! draws of the flow. A flow that smears or drops structure (too few couplings
//! on narrow modes) sits well above its floor; the stage warns when the excess
//! passes [`WARN_EXCESS_1D`].

use ndarray::{s, Array2, ArrayView2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use seqcal_api::Prior;
use serde::{Deserialize, Serialize};

use super::divergence::{kl_1d, kl_2d, DEFAULT_BINS_1D, DEFAULT_BINS_2D};

/// Most reference draws: enough for 50-bin histograms, cheap to draw from a flow.
const MAX_HALF: usize = 50_000;
/// Excess of the mean 1-D KL over its floor above which the fit is warned about.
pub const WARN_EXCESS_1D: f64 = 0.01;

/// The fit of a flow prior to its source chain.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FlowFit {
    /// Where the flow was trained (`stage A`, a chain file).
    pub source: String,
    /// Which draws the flow's are compared with (held-out draws, or the second half).
    #[serde(default)]
    pub reference: String,
    /// Draws per compared sample (the reference's, at most 50 000).
    pub draws: usize,
    /// Mean over parameters of KL(reference ‖ flow draws), 1-D marginals.
    pub kl_1d: f64,
    /// Mean over parameter pairs of the same, 2-D (absent with one parameter).
    pub kl_2d: Option<f64>,
    /// Mean 1-D KL between the reference and as many other source draws.
    pub floor_1d: f64,
    /// The same, 2-D (absent with one parameter).
    pub floor_2d: Option<f64>,
    /// `kl_1d − floor_1d` above which the fit is warned about.
    pub warn_excess_1d: f64,
    /// The warning, when the flow sits too far above its floor.
    pub warning: Option<String>,
}

/// The source draws a flow's fit is measured against.
#[derive(Debug, Clone)]
pub struct FitReference {
    /// Draws the flow was not trained on (`n × d`).
    pub reference: Array2<f64>,
    /// Other source draws, for the floor (`m × d`, any `m`).
    pub other: Array2<f64>,
    /// What the reference is, in words.
    pub what: String,
}

impl FitReference {
    /// The second half of `source` (iteration order) as the reference and the
    /// first as the floor's other sample: for a flow without held-out draws.
    pub fn halves(source: ArrayView2<'_, f64>) -> Self {
        let half = source.nrows() / 2;
        FitReference {
            reference: source.slice(s![half.., ..]).to_owned(),
            other: source.slice(s![..half, ..]).to_owned(),
            what: "the second half of the source draws (the flow was trained on all of them)".into(),
        }
    }
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

/// The fit of `flow` (trained on `label`) against `r`; `seed` seeds the
/// flow's draws.
pub fn flow_fit(flow: &dyn Prior, label: &str, r: &FitReference, seed: u64) -> FlowFit {
    let reference = thin(r.reference.view(), MAX_HALF);
    let other = thin(r.other.view(), reference.nrows());
    let n = reference.nrows().min(other.nrows());
    let (reference, other) = (reference.slice(s![..n, ..]), other.slice(s![..n, ..]));
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x666c_6f77);
    let own = flow.sample(&mut rng, n);
    let kl = mean(&kl_1d(reference, own.view(), DEFAULT_BINS_1D));
    let floor = mean(&kl_1d(reference, other, DEFAULT_BINS_1D));
    let (kl2, floor2) = (mean_2d(reference, own.view()), mean_2d(reference, other));
    let excess = kl - floor;
    let warning = (excess.is_nan() || excess > WARN_EXCESS_1D).then(|| {
        format!(
            "the flow prior does not reproduce {label}: mean 1-D KL of its draws against {label}'s it was not trained on is {kl:.4}, its floor (as many other draws of {label}) {floor:.4}; a smeared or truncated prior biases this stage (more layers or steps, or check the training loss)"
        )
    });
    FlowFit {
        source: label.to_string(),
        reference: r.what.clone(),
        draws: n,
        kl_1d: kl,
        kl_2d: kl2,
        floor_1d: floor,
        floor_2d: floor2,
        warn_excess_1d: WARN_EXCESS_1D,
        warning,
    }
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
        let halves = FitReference::halves(src.view());
        let fit = flow_fit(&good, "stage A", &halves, 3);
        assert!(fit.warning.is_none(), "{fit:?}");
        assert_eq!(fit.draws, 20_000);
        // A prior 1.5 times too wide: the smeared flow of a narrow posterior.
        let wide = Normal::new(names, vec![0.0, 0.0], vec![1.5, 1.5]).unwrap();
        let fit = flow_fit(&wide, "stage A", &halves, 3);
        assert!(fit.kl_1d - fit.floor_1d > WARN_EXCESS_1D, "{fit:?}");
        assert!(fit.warning.as_deref().unwrap().contains("does not reproduce stage A"));
        assert!(fit.kl_2d.unwrap() > fit.floor_2d.unwrap());
    }
}
