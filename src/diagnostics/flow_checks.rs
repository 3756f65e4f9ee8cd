//! The record of the checks a stage with a flow prior gets: the flow's fit to
//! its source chain, the lost-mode detectors, and for a defensive mixture the
//! importance weights' summary.

use serde::{Deserialize, Serialize};

use super::flow_fit::FlowFit;
use super::lost_mode::LostMode;

/// A defensive mixture's chain and its importance weights
/// `w = (1-ε)·q / ((1-ε)·q + ε·base)`, which turn it into the pure flow-prior posterior.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DefensiveWeights {
    /// ε of the mixture.
    pub epsilon: f64,
    /// Posterior share of the base component, `1 − mean(w)` over the kept draws.
    pub base_share: f64,
    /// Effective sample size of the weights, as a fraction of the kept draws.
    pub ess_fraction: f64,
}

/// The checks of a stage whose prior is a flow.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FlowChecks {
    /// The flow's fit to the chain it was trained on.
    pub flow_fit: Option<FlowFit>,
    /// The lost-mode detectors.
    pub lost_mode: Option<LostMode>,
    /// The importance weights of a defensive mixture.
    pub defensive: Option<DefensiveWeights>,
    /// Why a check could not run, one line each.
    #[serde(default)]
    pub skipped: Vec<String>,
}
