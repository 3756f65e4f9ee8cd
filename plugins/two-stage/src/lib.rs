//! # seqcal-two-stage: two-stage normalizing-flow composite targets
//!
//! A posterior `π(y) ∝ F(h(y0), g1(y1), ..., gm(ym))` where `h` is known by
//! formula and each `gi` only through samples (another study's chain,
//! software whose likelihood cannot be evaluated, an earlier seqcal stage),
//! rebuilt in two stages (Darvishi et al., *Two-Stage Normalizing Flows*):
//!
//! - [`stage1`]: one forward-KL (maximum-likelihood) flow `ĝi` per
//!   sample-based component, trained by seqcal-flow's trainer on its draws,
//!   with a fit check (per-coordinate two-sample KS, average 1-D / 2-D KL).
//! - [`stage2`]: a flow `q` fitted by reverse KL to the unnormalized composite
//!   [`target::CompositeTarget`] with the stage-1 flows frozen; its ELBO
//!   trace, the importance-sampling ESS of `F/q` and an estimate of `log Z`.
//!
//! Every factor is a [`DiffLogDensity`] on candle tensors: the analytic
//! library in [`terms`] (normal, log-normal, uniform, flat, hierarchical
//! normal), any seqcal-flow flow or flow prior, or a user's own type.
//!
//! [`tsfb`] holds the two-stage fully Bayesian baseline (Metropolis-within-
//! Gibbs recycling the software draws) and [`examples`] the worked examples
//! with their exact answers.
#![warn(missing_docs)]

pub mod error;
pub mod examples;
pub mod plugin;
pub mod stage1;
pub mod stage2;
pub mod target;
pub mod terms;
pub mod tsfb;

pub use error::{Result, TwoStageError};
pub use plugin::{load_run, TwoStagePlugin, TwoStagePrior, STAGE2_DIR};
pub use seqcal_flow::density::DiffLogDensity;
pub use stage1::{fit_component, FitCheck, FittedComponent, SampleComponent};
pub use stage2::{fit_reverse, ReverseFlow, ReverseKlSettings, Stage2Result};
pub use target::{Combination, CompositeTarget, Factor, Role};
pub use terms::term_from_table;
