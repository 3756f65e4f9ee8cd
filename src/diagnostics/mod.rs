//! MCMC convergence diagnostics for the chains of ensemble samplers.
//!
//! Chains are `steps × walkers × dim` arrays, as [`Chain::draws`](crate::chain::Chain::draws)
//! and emcee's `get_chain()` hold them.
//!
//! - [`autocorr_function`](crate::diagnostics::autocorr_function): normalized autocorrelation function of a series, by FFT.
//! - [`integrated_time`](crate::diagnostics::integrated_time): integrated autocorrelation time `τ` per parameter, emcee's
//!   estimator (walker-averaged ACF, Sokal's self-consistent window), with a flag for
//!   chains shorter than `tol · τ`.
//! - [`effective_sample_size`](crate::diagnostics::effective_sample_size): `steps · walkers / τ`.
//! - [`mcse_mean`](crate::diagnostics::mcse_mean): Monte Carlo standard error of the posterior mean, `sd / √ESS`.
//! - [`split_rhat`](crate::diagnostics::split_rhat): split R̂ over contiguous groups of walkers.
//! - [`KlSummary`](crate::diagnostics::KlSummary), [`kl_1d`](crate::diagnostics::kl_1d), [`kl_2d`](crate::diagnostics::kl_2d),
//!   [`moment_errors`](crate::diagnostics::moment_errors): how close two sample sets are (flow prior vs chain,
//!   sequential vs joint posterior), histogram-based, importance weights honoured (the `_weighted` forms).
//! - [`paper_kl`](crate::diagnostics::paper_kl): the same comparison as Roch & Shen compute it (75 bins over
//!   the prior box, `⟨D_KL⟩`), and [`floor`](crate::diagnostics::floor): the two-sample floor either metric is read against.
//! - [`Diagnostics`](crate::diagnostics::Diagnostics): all of the above at once, `τ` computed a single time.
//! - [`stranded_walkers`](crate::diagnostics::stranded_walkers): walkers stuck far below the
//!   others in log posterior at any time of a run; [`warnings`](crate::diagnostics::warnings)
//!   turns the diagnostics into the sentences every output carries.
//! - [`mode_loss`](crate::diagnostics::mode_loss): whether a posterior lies where the flow
//!   prior it was sampled under has mass; [`lost_mode`](crate::diagnostics::lost_mode): whether the
//!   flow lost a region the joint posterior has, seen from the new data's side;
//!   [`flow_fit`](crate::diagnostics::flow_fit): how well a flow reproduces its source chain.
//!
//! None of these panics on degenerate chains (no steps, one step, no walkers, constant or
//! non-finite draws): what cannot be computed is NaN, as each function documents.
//!
//! # Reference
//! - A. D. Sokal (1997), *Monte Carlo methods in statistical mechanics: foundations and new
//!   algorithms*, in Functional Integration (Cargèse 1996), NATO ASI Series B 361, 131–192
//!   (lecture notes).
//! - J. Goodman & J. Weare (2010), *Ensemble samplers with affine invariance*, Comm. App.
//!   Math. Comp. Sci. 5(1), 65–80.
//! - D. Foreman-Mackey, D. W. Hogg, D. Lang & J. Goodman (2013), *emcee: the MCMC hammer*,
//!   PASP 125(925), 306–312.
//! - A. Vehtari, A. Gelman, D. Simpson, B. Carpenter & P.-C. Bürkner (2021),
//!   *Rank-normalization, folding, and localization: an improved R̂ for assessing convergence
//!   of MCMC*, Bayesian Analysis 16(2), 667–718.

mod autocorr;
mod divergence;
mod ess;
pub mod floor;
mod flow_checks;
mod flow_fit;
mod lost_mode;
mod mode_loss;
mod paper_kl;
mod rhat;
mod stranded;
#[cfg(test)]
pub(crate) mod testing;
mod weighted;

use ndarray::ArrayView3;
use serde::Serialize;

pub use autocorr::{autocorr_function, integrated_time, AutocorrTime, DEFAULT_C, DEFAULT_TOL};
pub use divergence::{
    kl_1d, kl_1d_weighted, kl_2d, kl_2d_weighted, moment_errors, moment_errors_weighted, KlSummary, MomentErrors, DEFAULT_BINS_1D, DEFAULT_BINS_2D,
};
pub use ess::{effective_sample_size, mcse_mean};
pub use flow_checks::{DefensiveWeights, FlowChecks};
pub use flow_fit::{flow_fit, FitReference, FlowFit};
pub use lost_mode::{ess_fraction, lost_mode, LogDensityFn, LostMode, LostModeInputs};
pub use mode_loss::{mode_loss, ModeLoss};
pub use paper_kl::{paper_box, paper_kl, PaperKl, PAPER_BINS, PAPER_EPSILON};
pub use rhat::split_rhat;
pub use stranded::{stranded_cut, stranded_walkers, Stranded};
pub use weighted::WeightedDraws;

/// What the diagnostics of a run found worth a warning, one sentence each:
/// stranded walkers (`relocate_hint` says what to do about them), a chain
/// shorter than 50 autocorrelation times, failed evaluations.
pub fn warnings(diag: &Diagnostics, stranded: &Stranded, walkers: usize, failed: u64, evaluations: u64, relocate_hint: &str) -> Vec<String> {
    let mut out = Vec::new();
    if !stranded.walkers.is_empty() {
        out.push(format!(
            "{} of {walkers} walkers were stranded far below the others in log posterior during the kept iterations ({:.1}% of the draws): a minor mode they cannot leave, or too short a burn-in, biases the chain; {relocate_hint}",
            stranded.walkers.len(),
            100.0 * stranded.fraction
        ));
    }
    if diag.autocorr.too_short {
        let tau = diag.autocorr.tau.iter().copied().filter(|t| t.is_finite()).fold(0.0, f64::max);
        out.push(format!(
            "the chain is shorter than 50 autocorrelation times (largest tau ~ {tau:.1} iterations, {} kept): run longer before trusting tau, ESS and the posterior summaries",
            diag.autocorr.n_steps
        ));
    }
    if failed > 0 {
        out.push(format!("{failed} of {evaluations} likelihood evaluations failed (the model could not evaluate the point) and were rejected"));
    }
    out
}

/// The convergence diagnostics of a chain, per parameter.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Diagnostics {
    /// Integrated autocorrelation times ([`integrated_time`] with `c = 5`, `tol = 50`).
    pub autocorr: AutocorrTime,
    /// Effective sample sizes ([`effective_sample_size`]).
    pub ess: Vec<f64>,
    /// Split R̂ ([`split_rhat`]).
    pub rhat: Vec<f64>,
    /// Monte Carlo standard errors of the means ([`mcse_mean`]).
    pub mcse_mean: Vec<f64>,
}

impl Diagnostics {
    /// Computes every diagnostic of `chain` (`steps × walkers × dim`), R̂ over `groups`
    /// groups of walkers. The autocorrelation times are computed once and shared by the ESS
    /// and the MCSE; the results equal those of the separate functions.
    pub fn compute(chain: ArrayView3<'_, f64>, groups: usize) -> Diagnostics {
        let (steps, walkers, _) = chain.dim();
        let autocorr = integrated_time(chain, DEFAULT_C, DEFAULT_TOL);
        let ess = ess::ess_from_tau(steps * walkers, &autocorr.tau);
        let mcse_mean = ess::mcse_from_ess(chain, &ess);
        Diagnostics { autocorr, ess, rhat: split_rhat(chain, groups), mcse_mean }
    }

    /// Largest R̂ over the parameters; NaN if any is NaN (or there are no parameters).
    pub fn max_rhat(&self) -> f64 {
        if self.rhat.is_empty() || self.rhat.iter().any(|r| r.is_nan()) {
            return f64::NAN;
        }
        self.rhat.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    }

    /// Smallest effective sample size over the parameters; NaN if any is NaN (or there are
    /// no parameters).
    pub fn min_ess(&self) -> f64 {
        if self.ess.is_empty() || self.ess.iter().any(|e| e.is_nan()) {
            return f64::NAN;
        }
        self.ess.iter().copied().fold(f64::INFINITY, f64::min)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};

    #[test]
    fn bundle_matches_separate_functions() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let chain = Array3::from_shape_simple_fn((400, 6, 2), || StandardNormal.sample(&mut rng));
        let d = Diagnostics::compute(chain.view(), 3);
        assert_eq!(d.autocorr, integrated_time(chain.view(), DEFAULT_C, DEFAULT_TOL));
        assert_eq!(d.ess, effective_sample_size(chain.view()));
        assert_eq!(d.rhat, split_rhat(chain.view(), 3));
        assert_eq!(d.mcse_mean, mcse_mean(chain.view()));
        assert!(d.max_rhat() < 1.1 && d.min_ess() > 0.0);
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["autocorr"]["n_steps"], 400);
    }

    #[test]
    fn degenerate_inputs() {
        for shape in [(0, 0, 0), (0, 4, 2), (1, 4, 2), (10, 0, 2), (10, 4, 0), (1, 1, 1)] {
            let d = Diagnostics::compute(Array3::<f64>::zeros(shape).view(), 4);
            assert_eq!(d.ess.len(), shape.2);
            assert_eq!(d.rhat.len(), shape.2);
            assert_eq!(d.mcse_mean.len(), shape.2);
            assert!(d.max_rhat().is_nan());
            // NaN serializes as null rather than failing.
            assert!(serde_json::to_string(&d).is_ok());
        }
    }
}
