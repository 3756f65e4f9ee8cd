//! What every summary of a run reports, computed once from its [`Outcome`]:
//! posterior means and sds after burn-in, the convergence diagnostics, the
//! stranded walkers and the warnings.

use ndarray::{s, Array1, Axis};

use super::job::Outcome;
use crate::diagnostics::{self, Diagnostics, Stranded};

/// The diagnostics of a run's kept draws.
#[derive(Debug, Clone)]
pub struct Diagnosis {
    /// Rows in the chain (resumed ones included).
    pub iterations: usize,
    /// Posterior mean per parameter (weighted, for a weighted sampler).
    pub mean: Vec<f64>,
    /// Posterior sd per parameter.
    pub sd: Vec<f64>,
    /// Integrated autocorrelation time per parameter (NaN for a weighted sampler's one row).
    pub tau: Vec<f64>,
    /// The chain is shorter than 50 autocorrelation times.
    pub tau_too_short: bool,
    /// Effective sample size per parameter (Kish's for weighted draws).
    pub ess: Vec<f64>,
    /// Split R-hat per parameter (NaN for weighted draws).
    pub rhat: Vec<f64>,
    /// Monte Carlo standard error of each mean.
    pub mcse: Vec<f64>,
    /// Walkers stranded in a minor mode during the kept rows.
    pub stranded: Stranded,
    /// Accepted proposals per walker, as a fraction of the rows.
    pub acceptance: Array1<f64>,
    /// One sentence per problem found.
    pub warnings: Vec<String>,
}

impl Outcome {
    /// Diagnoses the rows after the burn-in; `sampler_dim` is the number of
    /// sampler coordinates (for the stranded-walker cut), `relocate_hint`
    /// says what to do about stranded walkers.
    pub fn diagnose(&self, sampler_dim: usize, relocate_hint: &str) -> Diagnosis {
        let rows = self.draws.len_of(Axis(0));
        let d = self.draws.len_of(Axis(2));
        let burn = self.burn.min(rows);
        let acceptance = self.accepted.mapv(|x| x / rows.max(1) as f64);
        if let Some(w) = &self.weights {
            let last = self.draws.slice(s![rows.saturating_sub(1), .., ..]);
            let total: f64 = w.sum();
            let kish = total * total / w.iter().map(|v| v * v).sum::<f64>();
            let mean: Vec<f64> = (0..d).map(|j| last.column(j).iter().zip(w).map(|(x, w)| x * w).sum::<f64>() / total).collect();
            let sd: Vec<f64> =
                (0..d).map(|j| (last.column(j).iter().zip(w).map(|(x, w)| w * (x - mean[j]).powi(2)).sum::<f64>() / total).sqrt()).collect();
            let mut warnings = Vec::new();
            if self.failed_evaluations > 0 {
                warnings.push(format!(
                    "{} of {} likelihood evaluations failed (the model could not evaluate the point) and were rejected",
                    self.failed_evaluations, self.evaluations
                ));
            }
            return Diagnosis {
                iterations: rows,
                mcse: sd.iter().map(|s| s / kish.sqrt()).collect(),
                mean,
                sd,
                tau: vec![f64::NAN; d],
                tau_too_short: false,
                ess: vec![kish; d],
                rhat: vec![f64::NAN; d],
                stranded: Stranded::default(),
                acceptance,
                warnings,
            };
        }
        let kept = self.draws.slice(s![burn.., .., ..]);
        let diag = Diagnostics::compute(kept, 4);
        let n = kept.len_of(Axis(0)) * kept.len_of(Axis(1));
        let flat = kept.to_shape((n, d)).map(|v| v.to_owned()).unwrap_or_else(|_| ndarray::Array2::zeros((0, d)));
        let stranded = diagnostics::stranded_walkers(self.log_prob.slice(s![burn.., ..]), sampler_dim);
        let warnings = diagnostics::warnings(&diag, &stranded, self.draws_per_row, self.failed_evaluations, self.evaluations, relocate_hint);
        Diagnosis {
            iterations: rows,
            mean: (0..d).map(|j| flat.column(j).mean().unwrap_or(f64::NAN)).collect(),
            sd: (0..d).map(|j| flat.column(j).std(0.0)).collect(),
            tau: diag.autocorr.tau.clone(),
            tau_too_short: diag.autocorr.too_short,
            ess: diag.ess,
            rhat: diag.rhat,
            mcse: diag.mcse_mean,
            stranded,
            acceptance,
            warnings,
        }
    }

    /// The last step's field `name`, if it reported one.
    pub fn field(&self, name: &str) -> Option<f64> {
        self.fields.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }
}
