//! The mode-loss check of a stage whose prior is (or contains) a flow
//! trained on an earlier stage's chain: does the new posterior lie where
//! the flow has mass?
//!
//! The fraction of the posterior draws where the flow's density is below its
//! own 1% quantile is about 1% or less when the posterior lies where the
//! prior has mass, and much more when the data favour a region the earlier
//! stage missed (a mode it lost).

use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use seqcal_api::Prior;
use serde::{Deserialize, Serialize};

/// Quantile of the flow's own log density used as the threshold.
const QUANTILE: f64 = 0.01;
/// Fraction of the posterior below the threshold above which the check warns.
const WARN_ABOVE: f64 = 0.05;
/// Draws of the flow used for its quantiles.
const OWN_DRAWS: usize = 20_000;

/// Mode-loss check of a stage whose prior is (or contains) a flow.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModeLoss {
    /// The quantile of the flow's own log density used as the threshold.
    pub quantile: f64,
    /// Fraction of the stage's posterior draws where the flow density is below it.
    pub fraction: f64,
    /// Fraction above which the check warns.
    pub warn_above: f64,
    /// Parameters whose posterior puts more than `warn_above` of its mass
    /// outside the flow's central 99% interval.
    pub parameters: Vec<String>,
    /// ε of the defensive mixture, when the stage's prior is one: its base
    /// component alone puts about ε·(its evidence ratio) of the posterior
    /// where the flow is small, so part of `fraction` is by design.
    #[serde(default)]
    pub defensive_epsilon: Option<f64>,
    /// The warning, when the check fails.
    pub warning: Option<String>,
}

/// Runs the check of the posterior draws `post` (`n × d`, parameters
/// `names`) against the flow prior `flow` trained on `label`; `seed` seeds
/// the flow's own draws.
pub fn mode_loss(flow: &dyn Prior, label: &str, names: &[String], post: &Array2<f64>, seed: u64, defensive_epsilon: Option<f64>) -> ModeLoss {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6d6f_6465);
    let own = flow.sample(&mut rng, OWN_DRAWS);
    let mut lp_own = vec![0.0; own.nrows()];
    flow.log_prob_batch(own.view(), &mut lp_own);
    lp_own.sort_by(f64::total_cmp);
    let threshold = lp_own[(QUANTILE * lp_own.len() as f64) as usize];
    let mut lp_post = vec![0.0; post.nrows()];
    flow.log_prob_batch(post.view(), &mut lp_post);
    let fraction = lp_post.iter().filter(|&&v| matches!(v.partial_cmp(&threshold), None | Some(std::cmp::Ordering::Less))).count() as f64
        / post.nrows().max(1) as f64;
    let mut parameters = Vec::new();
    for (j, name) in names.iter().enumerate() {
        let mut col = own.column(j).to_vec();
        col.sort_by(f64::total_cmp);
        let (lo, hi) = (col[(0.005 * col.len() as f64) as usize], col[((0.995 * col.len() as f64) as usize).min(col.len() - 1)]);
        let out = post.column(j).iter().filter(|&&v| v < lo || v > hi).count() as f64 / post.nrows().max(1) as f64;
        if out > WARN_ABOVE {
            parameters.push(format!("{name} ({:.0}% outside the prior's central 99%)", 100.0 * out));
        }
    }
    let warning = (fraction > WARN_ABOVE).then(|| {
        format!(
            "{:.1}% of the posterior lies where the flow prior from {label} is below its own 1% density quantile: the earlier stage may have missed a mode the data favour{}",
            100.0 * fraction,
            if parameters.is_empty() { String::new() } else { format!("; parameters: {}", parameters.join(", ")) }
        ) + &defensive_epsilon.map_or(String::new(), |e| {
            format!(
                " (the prior is a defensive mixture with ε = {e}: its base component carries posterior mass where the flow is small, most visibly in parameters the new data do not constrain; compare with the same stage without the mixture)"
            )
        })
    });
    ModeLoss { quantile: QUANTILE, fraction, warn_above: WARN_ABOVE, parameters, defensive_epsilon, warning }
}
