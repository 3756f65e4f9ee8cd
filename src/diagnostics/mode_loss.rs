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
    /// What the warning is, once the lost-mode check has looked
    /// ([`classify`](ModeLoss::classify)): `"lost mode"` or `"tension"`.
    #[serde(default)]
    pub case: Option<String>,
    /// The warning, when the check fails.
    pub warning: Option<String>,
}

/// The cause the warning names before the lost-mode check has looked.
const UNKNOWN_CAUSE: &str = ": the earlier stage may have missed a mode the data favour";

impl ModeLoss {
    /// Names the case of a warning by what the lost-mode check found
    /// (`lost`: whether it fired; `None`: it could not run). Draws of the
    /// posterior where the flow is small mean either that the flow lost a
    /// region the joint posterior has (a lost mode), or that the new data
    /// favour the prior's tail while the flow is faithful there (tension
    /// between the data sets: the exact earlier posterior as the prior gives
    /// the same fraction).
    pub fn classify(&mut self, lost: Option<bool>) {
        let Some(w) = self.warning.as_mut() else { return };
        let (case, cause) = match lost {
            Some(true) => ("lost mode", ": the lost-mode check finds that the flow lost a region the joint posterior has (see its warning)"),
            Some(false) => (
                "tension",
                ": tension, the new data favour the prior's tail; the lost-mode check finds the flow faithful to the posterior it was trained on where the joint posterior lies, so the data sets disagree rather than the flow having lost a mode (check their consistency before combining them)",
            ),
            None => return,
        };
        *w = w.replacen(UNKNOWN_CAUSE, cause, 1);
        self.case = Some(case.to_string());
    }
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
            "{:.1}% of the posterior lies where the flow prior from {label} is below its own 1% density quantile{UNKNOWN_CAUSE}{}",
            100.0 * fraction,
            if parameters.is_empty() { String::new() } else { format!("; parameters: {}", parameters.join(", ")) }
        ) + &defensive_epsilon.map_or(String::new(), |e| {
            format!(
                " (the prior is a defensive mixture with ε = {e}: its base component carries posterior mass where the flow is small, most visibly in parameters the new data do not constrain; compare with the same stage without the mixture)"
            )
        })
    });
    ModeLoss { quantile: QUANTILE, fraction, warn_above: WARN_ABOVE, parameters, defensive_epsilon, case: None, warning }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prior::Normal;

    /// Posterior draws 3 sd into the prior's tail: the check warns, and the
    /// lost-mode check's answer names the case.
    fn in_the_tail() -> ModeLoss {
        let prior = Normal::new(vec!["a".into()], vec![0.0], vec![1.0]).unwrap();
        let post = Array2::from_shape_fn((1000, 1), |(i, _)| 3.0 + (i as f64 / 1000.0 - 0.5) * 0.4);
        mode_loss(&prior, "stage S", &["a".to_string()], &post, 1, None)
    }

    #[test]
    fn a_warning_is_named_tension_or_lost_mode_by_the_lost_mode_check() {
        let m = in_the_tail();
        assert!(m.fraction > 0.9 && m.case.is_none(), "{m:?}");
        assert!(m.warning.as_deref().unwrap().contains("may have missed a mode"), "{m:?}");

        let mut t = m.clone();
        t.classify(Some(false));
        assert_eq!(t.case.as_deref(), Some("tension"));
        let w = t.warning.unwrap();
        assert!(w.contains("tension, the new data favour the prior's tail") && !w.contains("may have missed"), "{w}");

        let mut l = m.clone();
        l.classify(Some(true));
        assert_eq!(l.case.as_deref(), Some("lost mode"));
        assert!(l.warning.unwrap().contains("the flow lost a region the joint posterior has"));

        // The check could not run: the warning keeps both readings open.
        let mut u = m;
        u.classify(None);
        assert!(u.case.is_none() && u.warning.unwrap().contains("may have missed a mode"));
    }
}
