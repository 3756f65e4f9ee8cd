//! What a stage of a pipeline did: its `stage.json`, written when the stage
//! finishes and read back when its results are reused.

use serde::{Deserialize, Serialize};

use crate::diagnostics::{FlowChecks, ModeLoss};

/// What a stage did (its `stage.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageRecord {
    /// Stage name.
    pub name: String,
    /// Hash of its inputs and settings.
    pub hash: String,
    /// Data sets used.
    pub datasets: Vec<String>,
    /// The prior, described.
    pub prior: String,
    /// Walkers, iterations, burn-in, seed.
    pub walkers: usize,
    /// Iterations stored.
    pub steps: usize,
    /// Leading iterations dropped from summaries, comparisons and flow training.
    pub burn: usize,
    /// Seed of the sampler.
    pub seed: u64,
    /// Moves.
    pub moves: String,
    /// Seconds spent training flow priors.
    pub flow_seconds: f64,
    /// Seconds of sampling.
    pub sample_seconds: f64,
    /// Likelihood evaluations.
    pub evaluations: u64,
    /// Mean acceptance fraction.
    pub acceptance: f64,
    /// Posterior mean per parameter (after burn-in).
    pub mean: Vec<f64>,
    /// Posterior sd per parameter.
    pub sd: Vec<f64>,
    /// Integrated autocorrelation time per parameter.
    pub tau: Vec<f64>,
    /// Effective sample size per parameter.
    pub ess: Vec<f64>,
    /// Split R-hat per parameter.
    pub rhat: Vec<f64>,
    /// Walkers stranded in a minor mode at any time after burn-in.
    pub stranded_walkers: usize,
    /// The mode-loss check, for stages with a flow prior.
    pub mode_loss: Option<ModeLoss>,
    /// Log evidence of the stage (samplers that estimate it: SMC).
    #[serde(default)]
    pub log_z: Option<f64>,
    /// Its standard error.
    #[serde(default)]
    pub log_z_err: Option<f64>,
    /// The checks of a flow prior: its fit to its source chain, the
    /// lost-mode detectors, a defensive mixture's importance weights.
    #[serde(default)]
    pub flow_checks: Option<FlowChecks>,
    /// Everything the stage's diagnostics warn about (stranded walkers, a
    /// chain shorter than 50 autocorrelation times, failed evaluations, mode loss).
    #[serde(default)]
    pub warnings: Vec<String>,
}
